// The offline story director: a framework-aware ad story, rougher on the first draft, revised by feedback codes.
import { oneOf, readBrief, type Brief } from './brief.ts'
import { feedbackText, parseFeedback, priceIn, readHuman, type HumanAsk } from './feedback.ts'
import { beatNames, beatPlan } from './frameworks.ts'
import { cameraMove, lookOf, placeOf } from './look.ts'
import { readStory, storyCriteria, type Story, type StoryCode } from './story-critique.ts'
import { article, capital, clip, colourName, mentions, pick, sentences } from './text.ts'

/** What the writer has been asked to fix so far, and what reviewers asked for in their own words. */
interface DraftState {
  fixes: Set<StoryCode>
  notes: string[]
  ask: HumanAsk
}

/** Criteria whose fixes change the text; the others hold from the first draft. */
const FIXABLE: readonly StoryCode[] = ['prompt_alignment', 'visual_detail', 'presence', 'emotion', 'effectiveness', 'pacing']

const BASE: Record<string, [string, string]> = {
  attention: ['{N} is halfway through another draining day in {place}, juggling far too much at once.', 'In the middle of the chaos in {place}, {N} drops everything at the worst possible moment.'],
  interest: ['{N} notices {P} and gives it a try, half expecting to be let down.', 'A friend hands {N} {P}, and {N} starts to see how it works.'],
  desire: ['Suddenly the routine runs smoothly, and {N} finally has a moment to breathe.', 'Day after day {N} reaches for it first and wonders how things ever worked before.'],
  action: ['{N} turns to camera with a small, knowing smile as the offer appears.', 'The moment lands, {N} nods, and the end card fades up.'],
  problem: ['{N} fights the same frustrating routine in {place}, again.', 'Another attempt, another mess: {N} is stuck with the old way of doing things.'],
  agitate: ['It keeps happening: the minutes, the patience and the money quietly slip away from {N}.', 'Small annoyances pile up until {N} is ready to give up on the whole thing.'],
  solution: ['{N} discovers {P}, and the problem simply stops being a problem.', 'With {P} in hand, {N} gets it done in moments and moves on.'],
  features: ['A close look at {P}{K}: every detail is built for {A}.', '{P} shows what it can do, one feature at a time, while {N} watches.'],
  advantages: ['Compared with the old way, {N} saves time and effort at every step.', 'Where other options fall short, this one keeps going for {N}.'],
  benefits: ['{N} gets back the part of the day that matters most.', 'By the end of the day {N} still has energy to spare for the people at home.'],
  hook: ['{N} is caught in a moment everyone in {place} will recognise.', 'An unexpected moment in {place} stops {N} in their tracks.'],
  build: ['{N} finds {P} and puts it to the test.', 'Bit by bit, {N} learns what {P} can do.'],
  payoff: ['It works better than {N} hoped, and the whole room notices.', 'The payoff arrives and {N} cannot help grinning.'],
  close: ['{N} looks to camera as the offer appears.', 'The story settles and the end card fades up over {N}.'],
}

const FEELING: Record<string, string> = {
  attention: 'restless',
  interest: 'curious',
  desire: 'hopeful',
  action: 'delighted',
  problem: 'frustrated',
  agitate: 'exasperated',
  solution: 'relieved',
  features: 'curious',
  advantages: 'impressed',
  benefits: 'confident',
  hook: 'intrigued',
  build: 'curious',
  payoff: 'delighted',
  close: 'confident',
}
const LAST_FEELING: Record<string, string> = { 'playful and funny': 'amused', heartfelt: 'moved', 'calm and reassuring': 'reassured', energetic: 'excited' }

/** The story answer (story_director.yaml's output shape). */
export function writeStory(vars: Record<string, unknown>): Story {
  const feedback = parseFeedback(vars.feedback)
  const previous = readStory(vars.previous)
  const b = readBrief(vars, previous?.product)
  const state: DraftState = { fixes: new Set(), notes: [], ask: { mention: [] } }
  if (previous && feedbackText(vars.feedback).trim()) {
    // A revision keeps what the last draft already did well and fixes what the feedback names.
    const had = storyCriteria(previous, b)
    for (const c of FIXABLE) if (had[c].score >= 90) state.fixes.add(c)
    state.notes.push(...revisionNotes(previous.story))
  }
  for (const c of feedback.codes) if ((FIXABLE as readonly string[]).includes(c)) state.fixes.add(c as StoryCode)
  state.notes.push(...feedback.human.filter((h) => !state.notes.includes(h)))
  state.ask = readHuman(state.notes)
  return renderStory(b, state)
}

/** What the hero wears: what their day and the place call for (scrubs for a nurse, not on a beach), never an age. */
export function wardrobe(audience: string, setting: string, seed: number): string {
  const who = audience.toLowerCase()
  const where = setting.toLowerCase()
  if (/\b(?:nurse|doctor|medic|paramedic|carer|clinician)/.test(who)) return pick(['scrubs', 'scrubs under a cardigan'], seed, 4)
  if (/\b(?:runner|marathon|athlete|climber|cyclist|hiker|trail|yoga|fitness|training)/.test(who) || /\b(?:gym|track|trail|studio)\b/.test(where)) {
    return pick(['running jacket', 'training top', 'technical shell jacket'], seed, 4)
  }
  if (/\b(?:beach|pool|picnic|festival|park)\b/.test(where)) return pick(['linen shirt', 'short-sleeved shirt', 'light summer dress'], seed, 4)
  if (/\b(?:office|business|engineer|accountant|professional|founder|manager|remote worker)/.test(who)) return pick(['work shirt', 'blazer', 'knit polo'], seed, 4)
  return pick(['denim jacket', 'knit sweater', 'casual shirt', 'light jacket'], seed, 4)
}

/** Words that mark a sentence of a brief as an instruction to the agency rather than a claim about the product. */
const INSTRUCTION = /\b(ad|ads|advert|video|commercial|spot|tone|audience|target|targeting|brief|campaign|seconds?|framework|storyboard|script)\b/i
const IMPERATIVE = /^(make|use|include|avoid|show|aim|write|create|produce|keep it|focus|mention|highlight|emphasi[sz]e|sell|introduce|present|pitch|tell)\b/i

/**
 * The sentences of a brief a voice-over can say as they are: claims about the product ("Keeps coffee hot for 3
 * hours."), not instructions ("Playful tone.", "Make it funny."), at most three, each under 140 characters.
 */
export function briefClaims(brief: string, product: string): string[] {
  return sentences(brief)
    .map((s) => s.replace(/\s+/g, ' ').trim())
    .filter((s) => s.length >= 12 && s.length <= 140 && s.split(' ').length >= 3 && !INSTRUCTION.test(s) && !IMPERATIVE.test(s) && !/^meet\b/i.test(s) && !/[?]$/.test(s))
    .map((s) => (/[.!]$/.test(s) ? s : `${s}.`))
    .filter((s) => !mentions(s, product) || s.length > product.length + 8)
    .slice(0, 3)
}

/** Marks a reviewer's note the offline writer could not act on. */
const NOT_ACTED_ON = ' (not acted on: the offline writer has no rule for this)'

/** Whether a rule reads something to do in a reviewer's note: a tone, a thing to mention, a length. */
function actsOn(note: string): boolean {
  const ask = readHuman([note])
  return ask.tone !== undefined || ask.mention.length > 0 || ask.length !== undefined
}

function revisionNotes(markdown: string): string[] {
  const section = markdown.split(/^## Revision notes\s*$/m)[1] ?? ''
  return [...section.matchAll(/^- “(.+)”(?: \(not acted on: [^)]*\))?$/gm)].map((m) => m[1]!)
}

function renderStory(b: Brief, st: DraftState): Story {
  const tone = st.ask.tone ?? b.tone
  const fix = (c: StoryCode) => st.fixes.has(c)
  const look = lookOf(b.setting)
  const plan = beatPlan(b.framework, b.sceneCount)
  const names = beatNames(plan)
  const P = b.product
  const N = b.protagonist
  const colours = b.palette.map(colourName)
  const price = st.ask.mention.map(priceIn).find(Boolean)
  const seen = new Map<string, number>()
  const feelings = plan.map((stages, j) => (j === plan.length - 1 && LAST_FEELING[tone] ? LAST_FEELING[tone]! : (FEELING[stages.at(-1)!] ?? 'hopeful')))
  const cta = fix('effectiveness')
    ? `${pick(['Try', 'Get', 'Discover'], b.seed, 7)} ${P} ${pick(['today', 'now', 'this week'], b.seed, 8)} — ${pick(['tap to find out more', 'order yours online', 'find it where you shop'], b.seed, 9)}${price ? `, just ${price}` : ''}.`
    : 'Learn more.'
  const fill = (t: string) =>
    t
      .replaceAll('{N}', N)
      .replaceAll('{P}', P)
      .replaceAll('{A}', b.audience)
      .replaceAll('{K}', b.kind ? `, the ${b.kind}` : '')
      .replaceAll('{place}', placeOf(b.setting))

  const beats = plan.map((stages, j) => {
    const parts = stages.map((stage) => {
      const nth = seen.get(stage) ?? 0
      seen.set(stage, nth + 1)
      return fill(BASE[stage]![(nth + b.seed) % 2]!)
    })
    const move = capital(cameraMove(stages[0]!, j))
    if (fix('visual_detail'))
      parts.push(`${move} on ${N}: ${b.light}, ${colours[j % colours.length]} and ${colours[(j + 1) % colours.length]} accents, ${look.textures} textures, shallow depth of field.`)
    const named = parts.some((p) => mentions(p, P))
    if (st.ask.length === 'shorter' && fix('presence') && fix('emotion')) parts.push(named ? `${N} feels ${feelings[j]}.` : `${P} in frame, ${N} feels ${feelings[j]}.`)
    else {
      if (fix('presence') && !named) parts.push(`${P} stays in frame, ${pick(['catching the light', `within ${N}'s reach`, 'clearly in the foreground', 'centred in the shot'], b.seed, j)}.`)
      if (fix('emotion')) parts.push(pick([`${N} feels ${feelings[j]}.`, `The mood turns ${feelings[j]}.`, `You can see ${N} is ${feelings[j]}.`], b.seed, j + 11))
    }
    // A story named too short for its length gets a sound cue per beat; so does a reviewer's "longer".
    if (st.ask.length === 'longer' || (fix('pacing') && st.ask.length !== 'shorter')) parts.push(`Sound: ${look.sfx}, under the music.`)
    if (j === plan.length - 1) {
      if (fix('effectiveness')) parts.push(`The end card reads “${cta}”`)
      for (const m of st.ask.mention) parts.push(`The voice-over and end card call out ${m}.`)
    }
    return { name: names[j]!, summary: parts.join(' ') }
  })

  const one = oneOf(b.audience)
  const characters = [
    {
      name: N,
      description: `${N}, ${article(one)} ${one}: ${pick(['cropped dark hair', 'curly auburn hair tied back', 'short grey-streaked hair', 'long braids'], b.seed, 2)}, ${colours[0]} ${wardrobe(b.audience, b.setting, b.seed)}, ${pick(['quick to laugh', 'tired but kind eyes', 'quietly determined', 'always in motion'], b.seed, 6)}.`,
    },
  ]
  if (b.sceneCount >= 4) {
    const friend = pick(['Jo', 'Ravi', 'Mina', 'Luca', 'Bea'], b.seed, 12)
    characters.push({
      name: friend,
      description: `${friend}, ${N}'s ${pick(['colleague', 'flatmate', 'best friend'], b.seed, 13)}, in ${colours[1]} layers, the sceptic who becomes the first convert.`,
    })
  }
  const visualStyle = fix('visual_detail')
    ? `Cinematic ${tone} realism: ${b.light}, ${look.textures} textures, 35mm lens with shallow depth of field, gentle film grain, a ${colours.slice(0, 2).join(' and ')} palette.`
    : 'Cinematic and natural.'
  const arc = fix('emotion') ? `${[...new Set(feelings)].map(capital).join(' → ')}: the lift comes when ${P} enters.` : capital(feelings.at(-1)!)
  const title = clip(
    `${P === 'the product' ? '' : `${capital(P)}: `}${pick(['Made for the Long Day', 'The Small Change', 'Feel the Difference', 'Your Day, Upgraded', 'The Moment It Clicks'], b.seed, 14)}`,
    60,
  )
  const logline = `${N}, ${article(one)} ${one}, is ${pick(['running on empty', 'stuck in the same old routine', 'one hassle away from giving up'], b.seed, 15)} — until ${P}${b.kind ? `, ${article(b.kind)} ${b.kind},` : ''} ${pick(['changes how the day feels', 'makes the hard part easy', 'turns the routine around'], b.seed, 16)}.`
  const setting = `${capital(b.setting)}, in ${b.light}.`

  const md = [
    `# ${title}`,
    '',
    `**Logline:** ${logline}`,
    '',
    `**Product:** ${P} · **Audience:** ${b.audience} · **Tone:** ${tone === b.tone ? tone : `${tone}, over the brief's ${b.tone}`} · **Framework:** ${b.framework} · **Length:** ${b.durationS} s, ${b.sceneCount} beats`,
  ]
  // the brief's own claims, said by the voice-over, carry what the story has not said yet (never a list of its words)
  const missing = b.focus.filter((w) => ![logline, setting, visualStyle, ...beats.map((x) => x.summary), b.audience, tone].some((t) => mentions(t, w)))
  if (fix('prompt_alignment') && missing.length) {
    const claims = briefClaims(b.brief, P).filter((c) => missing.some((w) => mentions(c, w)))
    claims.forEach((c, k) => {
      const beat = beats[Math.min(beats.length - 1, 1 + (k % Math.max(1, beats.length - 1)))]!
      beat.summary += ` Voice-over: “${c}”`
    })
  }
  md.push('', '## Characters', ...characters.map((c) => `- **${c.name}** — ${c.description}`))
  if (st.ask.length !== 'shorter') md.push('', '## Setting', setting)
  md.push('', '## Visual style', visualStyle, '', `Palette: ${b.palette.map((h, i) => `${h} (${colours[i]})`).join(', ')}.`)
  md.push('', '## Beats', ...beats.flatMap((x, i) => ['', `### ${i + 1}. ${x.name}`, x.summary]))
  md.push('', '## Emotional arc', arc)
  if (fix('effectiveness')) md.push('', '## Call to action', cta)
  // each reviewer note, and plainly which ones the offline writer has no rule for (a person or a real model must)
  if (st.notes.length) md.push('', '## Revision notes', ...st.notes.map((n) => `- “${n.replace(/[“”\n]/g, '"')}”${actsOn(n) ? '' : NOT_ACTED_ON}`))

  return {
    title,
    product: P,
    audience: b.audience,
    logline,
    beats,
    characters,
    setting,
    visual_style: visualStyle,
    palette: b.palette,
    emotional_arc: arc,
    call_to_action: cta,
    story: md.join('\n') + '\n',
  }
}
