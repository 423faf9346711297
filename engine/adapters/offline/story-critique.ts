// The offline story critic: real checks of a story draft, weighted as in DOMAIN.md, with coded feedback.
import { readBrief, type Brief } from './brief.ts'
import { STAGES, stageProblems } from './frameworks.ts'
import { asObject, clip, countOf, emotionWords, isHex, mentions, str, visualTerms, wordCount, words } from './text.ts'

export interface Story {
  title: string
  product: string
  audience: string
  logline: string
  beats: Array<{ name: string; summary: string }>
  characters: Array<{ name: string; description: string }>
  setting: string
  visual_style: string
  palette: string[]
  emotional_arc: string
  call_to_action: string
  story: string
}

/** Criteria and weights (DOMAIN.md §3). The codes are what feedback names in brackets. */
const STORY_WEIGHTS = {
  prompt_alignment: 20,
  visual_detail: 25,
  narrative: 15,
  presence: 10,
  pacing: 10,
  emotion: 10,
  effectiveness: 5,
  production_readiness: 5,
} as const
export type StoryCode = keyof typeof STORY_WEIGHTS

export interface Criterion {
  score: number
  issues: string[]
  strength: string
}

const IMPERATIVES = [
  'try',
  'get',
  'order',
  'shop',
  'buy',
  'download',
  'visit',
  'book',
  'join',
  'start',
  'discover',
  'grab',
  'tap',
  'sign',
  'switch',
  'learn',
  'find',
  'see',
  'call',
  'claim',
  'meet',
  'taste',
  'feel',
  'bring',
  'make',
  'give',
  'pick',
  'subscribe',
  'reserve',
]

/** Words a story of this length should have: a floor so there is enough to shoot, a ceiling so it fits. */
function storyLengthBounds(durationS: number, beats: number): [number, number] {
  return [60 + 25 * beats + 2 * durationS, 260 + 90 * beats + 8 * durationS]
}

/** Reads a draft leniently: an object, JSON text, or `{ json }`/`{ text }` wrappers; missing fields read as empty. */
export function readStory(draft: unknown): Story | undefined {
  let obj = asObject(draft)
  if (obj && !Array.isArray(obj.beats)) obj = asObject(obj.json) ?? asObject(obj.text) ?? obj
  if (!obj || !Array.isArray(obj.beats)) return undefined
  const list = <T>(v: unknown, f: (x: Record<string, unknown>) => T): T[] => (Array.isArray(v) ? v.filter((x) => x && typeof x === 'object').map((x) => f(x as Record<string, unknown>)) : [])
  return {
    title: str(obj.title),
    product: str(obj.product),
    audience: str(obj.audience),
    logline: str(obj.logline),
    beats: list(obj.beats, (b) => ({ name: str(b.name), summary: str(b.summary) })),
    characters: list(obj.characters, (c) => ({ name: str(c.name), description: str(c.description) })),
    setting: str(obj.setting),
    visual_style: str(obj.visual_style),
    palette: Array.isArray(obj.palette) ? obj.palette.filter((p): p is string => typeof p === 'string') : [],
    emotional_arc: str(obj.emotional_arc),
    call_to_action: str(obj.call_to_action),
    story: str(obj.story),
  }
}

const listOf = (ns: number[]) => (ns.length === 1 ? `beat ${ns[0]}` : `beats ${ns.join(', ')}`)
const part = (have: number, want: number) => (want <= 0 ? 1 : Math.min(1, have / want))

/**
 * Lines or sentences that are a list of four or more single words, comma-separated (`**Brief focus:** sparkling,
 * lemon, soda, summer.`): keyword stuffing, not copy.
 */
export function keywordLists(text: string): string[] {
  return [...text.matchAll(/(?:\*\*[^*\n]{1,40}:\*\*\s*)?(?:[\p{L}\p{N}'’-]+,\s*){3,}[\p{L}\p{N}'’-]+\.?/gu)].map((m) => m[0])
}

/** Scores every criterion of a story against its brief. */
export function storyCriteria(s: Story, b: Brief): Record<StoryCode, Criterion> {
  const product = b.product
  const written = [s.title, s.logline, s.setting, s.visual_style, s.emotional_arc, s.call_to_action, s.story, ...s.beats.map((x) => x.summary), ...s.characters.map((c) => c.description)].join('\n')
  // a bare list of the brief's words is not copy: it neither counts towards the brief nor goes unnoticed
  const lists = keywordLists(written)
  const all = lists.reduce((text, l) => text.replaceAll(l, ' '), written)
  const n = b.sceneCount
  const out = {} as Record<StoryCode, Criterion>

  {
    const issues: string[] = []
    let score = 0
    if (mentions(`${s.title}\n${s.logline}`, product)) score += 25
    else issues.push(`name ${product} in the title or logline`)
    const audienceWords = words(b.audience).filter((w) => w.length > 3)
    if (mentions(all, b.audience) || (audienceWords.length && audienceWords.every((w) => mentions(all, w)))) score += 25
    else issues.push(`speak to the brief's audience (${b.audience}) by name`)
    const missing = b.focus.filter((w) => !mentions(all, w))
    const coverage = b.focus.length ? 1 - missing.length / b.focus.length : 1
    score += 40 * part(coverage, 0.8)
    if (coverage < 0.8) issues.push(`use the brief's own focus: ${missing.join(', ')} never appear`)
    if (lists.length) {
      score = Math.max(0, score - 20)
      issues.push(`write the brief's points into the story instead of listing words (“${clip(lists[0]!.trim(), 60)}”)`)
    }
    if (words(b.tone).some((w) => w.length > 3 && mentions(all, w))) score += 10
    else issues.push(`carry the requested tone (${b.tone})`)
    out.prompt_alignment = { score, issues, strength: `Stays on brief: ${product}, ${b.audience}, ${b.tone} tone` }
  }
  {
    const thin = s.beats.flatMap((x, i) => (visualTerms(x.summary).length < 3 ? [i + 1] : []))
    const avg = s.beats.length ? s.beats.reduce((t, x) => t + part(visualTerms(x.summary).length, 3), 0) / s.beats.length : 0
    const styleTerms = visualTerms(s.visual_style).length
    const styleOk = wordCount(s.visual_style) >= 8 && styleTerms >= 3
    const issues: string[] = []
    if (thin.length) issues.push(`${listOf(thin)} name fewer than 3 concrete visual details (colour, light, lens, texture): add them to each`)
    if (!styleOk) issues.push(`the visual style needs at least 8 words and 3 visual terms (light, lens, palette, texture); it has ${styleTerms}`)
    out.visual_detail = { score: 70 * avg + (styleOk ? 30 : wordCount(s.visual_style) >= 4 ? 15 : 0), issues, strength: 'Every beat is concrete enough to shoot: colour, light, lens and texture' }
  }
  {
    const issues: string[] = []
    let score = 0
    if (s.beats.length === n) score += 35
    else issues.push(`write exactly ${n} beats, one per scene (there are ${s.beats.length})`)
    const problems =
      b.framework === 'custom'
        ? []
        : stageProblems(
            b.framework,
            s.beats.map((x) => x.name),
          )
    if (!problems.length && s.beats.length) score += 35
    else issues.push(`follow ${b.framework} (${STAGES[b.framework].join(' → ')}) in order: ${problems.join('; ') || 'no beats'}`)
    const short = s.beats.flatMap((x, i) => (wordCount(x.summary) < 12 ? [i + 1] : []))
    score += s.beats.length ? 15 * (1 - short.length / s.beats.length) : 0
    if (short.length) issues.push(`${listOf(short)}: under 12 words; say what happens, who is there and what changes`)
    if (wordCount(s.logline) >= 10) score += 15
    else issues.push('write a logline of at least 10 words')
    out.narrative = { score, issues, strength: `Beats follow ${b.framework} in order, one per scene` }
  }
  {
    const issues: string[] = []
    const want = Math.ceil(s.beats.length / 2)
    const inBeats = s.beats.filter((x) => mentions(x.summary, product)).length
    let score = 60 * part(inBeats, want)
    if (inBeats < want) issues.push(`${product} appears in ${inBeats} of ${s.beats.length} beats: keep it on screen in at least ${want}`)
    const inStory = countOf(s.story, product)
    score += 10 * part(inStory, 3)
    if (inStory < 3) issues.push(`name ${product} at least 3 times in the story (found ${inStory})`)
    const described = s.characters.filter((c) => c.name && wordCount(c.description) >= 8)
    if (described.length) score += 15
    else issues.push('describe at least one character (name and a description of 8+ words)')
    const hero = s.characters[0]?.name ?? ''
    const withHero = hero ? s.beats.filter((x) => mentions(x.summary, hero)).length : 0
    score += 15 * part(withHero, want)
    if (hero && withHero < want) issues.push(`${hero} appears in ${withHero} beats: keep the protagonist present`)
    out.presence = { score, issues, strength: `${product} and ${hero || 'the cast'} stay on screen throughout` }
  }
  {
    const issues: string[] = []
    let score = s.beats.length === n ? 50 : 0
    if (s.beats.length !== n) issues.push(`${s.beats.length} beats cannot fill ${n} scenes of a ${b.durationS}-second ad`)
    const [lo, hi] = storyLengthBounds(b.durationS, n)
    const len = wordCount(s.story)
    if (len >= lo && len <= hi) score += 30
    else issues.push(`the story runs ${len} words; for ${b.durationS} s and ${n} beats keep it between ${lo} and ${hi}`)
    const lens = s.beats.map((x) => wordCount(x.summary))
    if (lens.length && Math.min(...lens) >= 0.4 * Math.max(...lens)) score += 20
    else issues.push('balance the beats: the shortest is under 40% of the longest')
    out.pacing = { score, issues, strength: `Paced for ${b.durationS} s: ${n} balanced beats` }
  }
  {
    const issues: string[] = []
    const stages = s.emotional_arc
      .split(/→|->|>|,|;|\bthen\b|\bto\b/)
      .map((x) => x.trim())
      .filter(Boolean)
    let score = stages.length >= 3 ? 50 : stages.length === 2 ? 25 : 0
    if (stages.length < 3) issues.push('give the emotional arc at least three stages ("restless → curious → delighted")')
    const felt = s.beats.filter((x) => emotionWords(x.summary).length).length
    score += 50 * part(felt, Math.ceil(s.beats.length / 2))
    if (felt < Math.ceil(s.beats.length / 2)) issues.push(`say what the protagonist feels: only ${felt} of ${s.beats.length} beats name a feeling`)
    out.emotion = { score, issues, strength: `A clear emotional arc: ${s.emotional_arc}` }
  }
  {
    const issues: string[] = []
    let score = 0
    const cta = s.call_to_action
    if (IMPERATIVES.includes(words(cta)[0] ?? '')) score += 35
    else issues.push('open the call to action with a verb ("Try…", "Get…")')
    if (mentions(cta, product)) score += 30
    else issues.push(`name ${product} in the call to action`)
    if (cta && s.story.includes(cta)) score += 35
    else issues.push('land the call to action in the story itself (a closing section or end card)')
    out.effectiveness = { score, issues, strength: `A direct call to action: "${cta}"` }
  }
  {
    const issues: string[] = []
    let score = 0
    if (s.palette.length >= 3 && s.palette.length <= 5 && s.palette.every(isHex)) score += 30
    else issues.push('give a palette of 3–5 #rrggbb colours')
    if (wordCount(s.setting) >= 4) score += 20
    else issues.push('describe the setting in at least 4 words')
    if (s.title && s.title.length <= 60) score += 15
    else issues.push('give a title of at most 60 characters')
    if (s.characters.length && s.characters.every((c) => wordCount(c.description) >= 8)) score += 20
    else issues.push('describe every character in 8+ words (look, wardrobe, manner)')
    if (/^#{1,3}\s/m.test(s.story)) score += 15
    else issues.push('write the story as Markdown with a heading per section')
    out.production_readiness = { score, issues, strength: 'Production-ready: palette, setting, cast and sections are all specified' }
  }
  for (const c of Object.values(out)) c.score = Math.round(c.score)
  return out
}

/** The critique answer (story_critic.yaml's output shape). */
export function critiqueStory(vars: Record<string, unknown>): Record<string, unknown> {
  const draft = readStory(vars.draft)
  const b = readBrief(vars, draft?.product)
  if (!draft) {
    const breakdown = Object.fromEntries(Object.keys(STORY_WEIGHTS).map((k) => [k, 0]))
    const fix = '[narrative] The draft is not a story object with beats; write the whole story in the requested JSON shape.'
    return { score: 0, breakdown, strengths: [], improvements: [fix.slice(12)], priority_fixes: [fix], feedback: fix }
  }
  const criteria = storyCriteria(draft, b)
  const codes = Object.keys(STORY_WEIGHTS) as StoryCode[]
  const score = Math.round(codes.reduce((t, c) => t + (criteria[c].score * STORY_WEIGHTS[c]) / 100, 0))
  const failing = codes.filter((c) => criteria[c].issues.length).sort((x, y) => STORY_WEIGHTS[y] * (100 - criteria[y].score) - STORY_WEIGHTS[x] * (100 - criteria[x].score))
  const line = (c: StoryCode) => `[${c}] ${criteria[c].issues.map((i) => i[0]!.toUpperCase() + i.slice(1)).join('; ')}.`
  return {
    score,
    breakdown: Object.fromEntries(codes.map((c) => [c, criteria[c].score])),
    strengths: codes.filter((c) => criteria[c].score >= 90).map((c) => criteria[c].strength + '.'),
    improvements: failing.flatMap((c) => criteria[c].issues.map((i) => i[0]!.toUpperCase() + i.slice(1) + '.')),
    priority_fixes: failing.slice(0, 3).map(line),
    feedback: failing.length ? failing.map(line).join('\n') : '[ok] Every check passed; no changes needed.',
  }
}
