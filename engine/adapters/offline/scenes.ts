// The offline scene writer: one shot-listed scene per beat; first drafts are thin and leave continuity gaps.
import { toneOf } from './brief.ts'
import { feedbackText, parseFeedback, readHuman } from './feedback.ts'
import { STAGES } from './frameworks.ts'
import { cameraMove, lookOf, musicOf, placeOf, shotSize } from './look.ts'
import { readStory, type Story } from './story-critique.ts'
import { asArray, asInt, capital, clip, colourName, escapeRe, hash, isHex, pick, sentences, str, wordCount } from './text.ts'

export interface Scene {
  index: number
  beat: string
  title: string
  visuals: string
  action: string
  camera: string
  start_frame: string
  end_frame: string
  audio: string
  continuity: string
  duration_s: number
  caption: string
  transition: 'cut' | 'crossfade' | 'fade'
}

/** What every scene of a piece shares: cast, product, look, sound, and the references' consistency text. */
export interface SceneContext {
  story: Story
  n: number
  durationS: number
  hero: string
  product: string
  subjects: string[]
  colours: string[]
  light: string
  place: string
  textures: string
  props: string[]
  music: string
  sfx: string
  heroRef: string
  productRef: string
  seed: number
}

const EMPTY_STORY: Story = {
  title: '',
  product: '',
  audience: '',
  logline: '',
  beats: [],
  characters: [],
  setting: '',
  visual_style: '',
  palette: [],
  emotional_arc: '',
  call_to_action: '',
  story: '',
}

export function sceneContext(vars: Record<string, unknown>): SceneContext {
  const story = readStory(vars.story) ?? EMPTY_STORY
  const refs = asArray(vars.references, 'images').filter((r): r is Record<string, unknown> => !!r && typeof r === 'object')
  const ref = (role: string) => str(refs.find((r) => r.role === role)?.description)
  const hex = [...story.palette, ...refs.flatMap((r) => (Array.isArray(r.palette) ? r.palette : []))].filter(isHex) as string[]
  const look = lookOf(story.setting)
  const hero = story.characters[0]?.name || 'the protagonist'
  const product = story.product || 'the product'
  const tone = story.story.match(/\*\*Tone:\*\*\s*([^·,\n]+)/)?.[1]?.trim() ?? toneOf(`${story.visual_style} ${story.logline}`)
  // A reference's first sentence, without the name it opens with ("Lumo: hero shot…" → "hero shot…").
  const gist = (text: string, name: string) => clip((text.replace(new RegExp(`^${escapeRe(name)}\\s*[:,—-]\\s*`), '').split(/\.\s/)[0] ?? '').replace(/\.$/, ''), 110)
  return {
    story,
    n: asInt(vars.scene_count, story.beats.length || 3, 1, 40),
    durationS: asInt(vars.duration_s, 0, 0, 600),
    hero,
    product,
    subjects: [hero, product, ...story.characters.slice(1).map((c) => c.name)].filter(Boolean),
    colours: (hex.length ? [...new Set(hex)] : ['#c9a227', '#2f6fd1', '#f4ecd8']).map(colourName),
    light: story.setting.match(/,\s*(?:in|under|lit by)\s+([^.]+)/i)?.[1] ?? story.setting.match(/\bin ([^.,]*light[^.,]*)/i)?.[1] ?? 'soft natural light',
    place: placeOf(story.setting || 'a bright room'),
    textures: look.textures,
    props: look.props,
    music: musicOf(tone),
    sfx: look.sfx,
    heroRef: gist(ref('character') || story.characters[0]?.description || '', hero) || hero,
    productRef: gist(ref('product'), product) || product,
    seed: hash(JSON.stringify(story.beats) + story.product),
  }
}

/** Scene lengths from {4, 6, 8} that add up as close as they can to `total`. */
function planDurations(total: number, n: number): number[] {
  const out: number[] = []
  let left = total > 0 ? total : 6 * n
  for (let i = n; i > 0; i--) {
    const want = left / i
    const d = [4, 6, 8].reduce((best, c) => (Math.abs(c - want) < Math.abs(best - want) ? c : best), 8)
    out.push(d)
    left -= d
  }
  return out
}

function stageOf(beat: string): string {
  const b = beat.toLowerCase()
  for (const stages of Object.values(STAGES)) for (const s of stages) if (b.includes(s)) return s
  return 'hook'
}

/** The careful version of every field of scene `i` (0-based), given the scene before it. */
const careful = {
  visuals(c: SceneContext, i: number): string {
    const [a, b] = [c.colours[i % c.colours.length]!, c.colours[(i + 1) % c.colours.length]!]
    return (
      `${capital(c.place)}, ${c.light}. ${c.hero} in ${a} by the ${c.props[i % c.props.length]}, ${c.product} ${pick(['in hand', 'on the surface beside them', 'in the foreground', 'catching the light'], c.seed, i)}. ` +
      `${capital(c.textures)} textures, ${a} and ${b} accents, ${pick(['35mm', '50mm', '85mm'], c.seed, i)} lens, shallow depth of field.`
    )
  },
  camera(c: SceneContext, i: number): string {
    const stage = stageOf(c.story.beats[i]?.name ?? '')
    const [from, to] = [shotSize(i, false), shotSize(i + 1, i === c.n - 1)]
    return `${cameraMove(stage, i)}, from ${article(from)} ${from} to ${article(to)} ${to}`
  },
  startFrame(c: SceneContext, i: number, prevEnd?: string): string {
    if (i === 0 || !prevEnd) return `${capital(c.place)} establishing: ${c.hero} steps into frame beside the ${c.props[0]}, ${c.light}.`
    return `Picking up from the end of scene ${i}: ${prevEnd.replace(/\.$/, '')}, as the camera settles.`
  },
  endFrame(c: SceneContext, i: number): string {
    const verb = pick(['rests a hand on', 'glances back at', 'turns toward', 'leans against', 'steps past', 'looks across at'], c.seed, i)
    const last = i === c.n - 1
    const [a, b] = [c.colours[i % c.colours.length]!, c.colours[(i + 1) % c.colours.length]!]
    return `${c.hero} ${verb} the ${c.props[i % c.props.length]}${last ? `, ${c.product} in the foreground as the end card fades up` : ''}, framed in ${a} and ${b}.`
  },
  continuity(c: SceneContext): string {
    const end = (t: string) => (/[.…!?]$/.test(t) ? t : `${t}.`)
    return `${c.hero}: ${end(c.heroRef)} ${c.product}: ${end(c.productRef)} Keep the ${c.colours.slice(0, 2).join(' and ')} palette, ${c.light}, same wardrobe and props.`
  },
  audio(c: SceneContext, i: number): string {
    const vo = i === c.n - 1 && c.story.call_to_action ? ` VO: “${c.story.call_to_action}”` : ''
    return `Music: ${c.music}${i === 0 ? ', fading in' : ''}. SFX: ${c.sfx}.${vo}`
  },
  caption(c: SceneContext, i: number): string {
    if (i === c.n - 1) return clip(c.story.call_to_action.replace(/[.!]$/, '') || `${c.product}. Try it today`, 60)
    const aud = c.story.audience || 'you'
    const by: Record<string, string> = {
      attention: 'Sound familiar?',
      problem: 'Every. Single. Time.',
      hook: 'Wait for it…',
      agitate: 'It adds up.',
      interest: `Meet ${c.product}`,
      solution: `Meet ${c.product}`,
      build: `Meet ${c.product}`,
      features: `${c.product}, up close`,
      desire: `Made for ${aud}`,
      benefits: `Made for ${aud}`,
      advantages: 'Less hassle. More you.',
      payoff: 'Told you.',
      action: `${c.product}. Today.`,
      close: `${c.product}. Today.`,
    }
    // a stage that comes back (two interest beats) says something new the second time
    const again: Record<string, string> = {
      attention: 'Again?',
      problem: 'Not again.',
      hook: 'Look closer.',
      agitate: 'Enough.',
      interest: `This is ${c.product}`,
      solution: `That's ${c.product}`,
      build: 'See what it does',
      features: 'Built for this',
      desire: 'Every day, like this',
      benefits: 'Your time, back',
      advantages: 'Do more with less.',
      payoff: 'Worth it.',
    }
    const stage = stageOf(c.story.beats[i]?.name ?? '')
    const before = Array.from({ length: i }, (_, j) => stageOf(c.story.beats[j]?.name ?? '')).filter((s) => s === stage).length
    return clip((before > 0 ? again[stage] : undefined) ?? by[stage] ?? capital(c.product), 60)
  },
  action(c: SceneContext, i: number): string {
    const beat = c.story.beats[Math.min(i, c.story.beats.length - 1)]
    const said = sentences(beat?.summary ?? '')
    let out = said[0] ?? `${c.hero} uses ${c.product}.`
    if (wordCount(out) < 8 && said[1]) out += ' ' + said[1]
    return wordCount(out) < 8 ? `${out} ${c.hero} carries the moment with ${c.product} in view.` : out
  },
  transition(c: SceneContext, i: number): Scene['transition'] {
    if (i === c.n - 1) return 'fade'
    return stageOf(c.story.beats[i]?.name ?? '') === stageOf(c.story.beats[i + 1]?.name ?? '') ? 'crossfade' : 'cut'
  },
}

function article(word: string): string {
  return /^[aeiou]/i.test(word) ? 'an' : 'a'
}

/** Which scenes a first draft opens without picking up the previous end frame (1 gap, 2 from five scenes). */
function gapsOf(c: SceneContext): Set<number> {
  const gaps = new Set<number>()
  if (c.n < 2) return gaps
  const want = c.n >= 5 ? 2 : 1
  for (let k = 0; gaps.size < want && k < 2 * c.n; k++) {
    const i = 1 + ((c.seed + k * 3) % (c.n - 1))
    if (![...gaps].some((g) => Math.abs(g - i) < 2)) gaps.add(i)
  }
  return gaps
}

/** A first draft: careful structure, thin visuals, camera moves without shot sizes, some vague continuity notes. */
function firstDraft(c: SceneContext): Scene[] {
  const durations = planDurations(c.durationS, c.n)
  const gaps = gapsOf(c)
  const scenes: Scene[] = []
  for (let i = 0; i < c.n; i++) {
    const beat = c.story.beats[Math.min(i, c.story.beats.length - 1)]?.name || `Beat ${i + 1}`
    const start = gaps.has(i)
      ? `A new corner: ${pick(['an empty doorway', 'a quiet hallway', 'a bare wall', 'a closed door'], c.seed, i)}, nobody in shot yet.`
      : careful.startFrame(c, i, scenes[i - 1]?.end_frame)
    scenes.push({
      index: i + 1,
      beat,
      title: clip(`${beat} — ${i === c.n - 1 ? 'The offer' : careful.caption(c, i)}`, 60),
      // thin, but each scene its own spot: a first draft lacks detail, not variety
      visuals: `${c.hero} ${i < c.props.length ? 'by' : 'back at'} the ${c.props[i % c.props.length]} in ${c.place}, ${c.product} nearby.`,
      action: careful.action(c, i),
      camera: cameraMove(stageOf(beat), i),
      start_frame: start,
      end_frame: careful.endFrame(c, i),
      audio: careful.audio(c, i),
      continuity: (i + c.seed) % 2 === 0 ? 'Matches the previous scene.' : careful.continuity(c),
      duration_s: durations[i]!,
      caption: careful.caption(c, i),
      transition: gaps.has(i + 1) ? 'cut' : careful.transition(c, i),
    })
  }
  return scenes
}

/** Reads scenes leniently from `{ scenes }`, an array, or JSON text; undefined when there are none. */
export function readScenes(value: unknown): Scene[] | undefined {
  const list = asArray(value, 'scenes').filter((s): s is Record<string, unknown> => !!s && typeof s === 'object')
  if (!list.length) return undefined
  return list.map((s, i) => ({
    index: Number.isInteger(s.index) ? (s.index as number) : i + 1,
    beat: str(s.beat),
    title: str(s.title),
    visuals: str(s.visuals),
    action: str(s.action),
    camera: str(s.camera),
    start_frame: str(s.start_frame),
    end_frame: str(s.end_frame),
    audio: str(s.audio),
    continuity: str(s.continuity),
    duration_s: typeof s.duration_s === 'number' ? s.duration_s : Number(s.duration_s) || 0,
    caption: str(s.caption),
    transition: (['cut', 'crossfade', 'fade'].includes(s.transition as string) ? s.transition : 'cut') as Scene['transition'],
  }))
}

/** Applies one fix code to scene `i` (0-based) of `scenes`, returning the changed copy. Shared by the writer and the rewriter. */
function fixScene(c: SceneContext, scenes: readonly Scene[], i: number, code: string): Scene {
  const s = { ...scenes[i]! }
  switch (code) {
    case 'visual_detail':
    case 'lighting':
    case 'location':
      s.visuals = careful.visuals(c, i)
      break
    case 'cinematography':
      s.camera = careful.camera(c, i)
      break
    case 'subject_consistency':
    case 'subject':
      s.continuity = careful.continuity(c)
      if (!c.subjects.some((x) => s.visuals.includes(x))) s.visuals = careful.visuals(c, i)
      break
    case 'continuity':
      s.start_frame = careful.startFrame(c, i, scenes[i - 1]?.end_frame)
      if (wordCount(s.end_frame) < 6) s.end_frame = careful.endFrame(c, i)
      if (!s.continuity) s.continuity = careful.continuity(c)
      break
    case 'quality':
      s.caption = careful.caption(c, i)
      s.action = careful.action(c, i)
      s.audio = careful.audio(c, i)
      break
    case 'audio':
      s.audio = careful.audio(c, i)
      break
    case 'arc':
      s.caption = careful.caption(c, i)
      s.audio = careful.audio(c, i)
      break
  }
  return s
}

/** Global fixes: the right number of scenes, indices 1…n, lengths from {4, 6, 8} adding up. */
function fixStructure(c: SceneContext, scenes: Scene[]): Scene[] {
  const fresh = firstDraft(c)
  const out = Array.from({ length: c.n }, (_, i) => scenes[i] ?? fresh[i]!)
  const durations = planDurations(c.durationS, c.n)
  return out.map((s, i) => ({ ...s, index: i + 1, duration_s: durations[i]! }))
}

/** The scenes answer (scene_writer.yaml's output shape). */
export function writeScenes(vars: Record<string, unknown>): { scenes: Scene[] } {
  const c = sceneContext(vars)
  const fb = parseFeedback(vars.feedback)
  if (!feedbackText(vars.feedback).trim()) return { scenes: firstDraft(c) }
  let scenes = readScenes(vars.previous) ?? firstDraft(c)
  if (fb.codes.has('production_readiness') || scenes.length !== c.n) scenes = fixStructure(c, scenes)
  for (let i = 0; i < scenes.length; i++) {
    const codes = new Set([...fb.codes, ...(fb.scenes.get(i + 1) ?? [])])
    for (const code of codes) scenes[i] = fixScene(c, scenes, i, code)
  }
  return { scenes: applyHuman(c, scenes, fb.human) }
}

/**
 * A reviewer's own words: a scene they name ("scene 3 feels flat") is redone with every careful fix and
 * keeps their note in its continuity; things to mention go into the last scene's voice-over.
 */
function applyHuman(c: SceneContext, scenes: Scene[], lines: readonly string[]): Scene[] {
  for (const line of lines) {
    for (const m of line.matchAll(/\bscenes?\s+(\d+)/gi)) {
      const i = scenes.findIndex((s) => s.index === Number(m[1]))
      if (i < 0) continue
      for (const code of ['visual_detail', 'cinematography', 'subject_consistency']) scenes[i] = fixScene(c, scenes, i, code)
      scenes[i] = { ...scenes[i]!, continuity: `${scenes[i]!.continuity} Reviewer: “${line.replace(/[“”]/g, '"')}”` }
    }
  }
  const ask = readHuman(lines)
  const last = scenes.at(-1)
  if (last && ask.mention.length) {
    const said = ask.mention.join(' and ')
    const caption = `${last.caption} · ${said}`
    scenes[scenes.length - 1] = { ...last, audio: `${last.audio} VO also calls out ${said}.`, caption: caption.length <= 60 && wordCount(caption) <= 8 ? caption : last.caption }
  }
  return scenes
}

/** The scene_rewrite answer: only the scenes the feedback names change; the others stay exactly as they were. */
export function rewriteScenes(vars: Record<string, unknown>): { scenes: Scene[] } {
  const c = sceneContext(vars)
  const scenes = readScenes(vars.previous) ?? firstDraft(c)
  const fb = parseFeedback(vars.feedback)
  for (let i = 0; i < scenes.length; i++) {
    for (const code of fb.scenes.get(scenes[i]!.index) ?? []) scenes[i] = fixScene(c, scenes, i, code)
  }
  return { scenes: applyHuman(c, scenes, fb.human) }
}
