// The offline cohesion pass: all scenes together — frame-to-frame links, light and palette, place, cast, sound, arc.
import { placeNoun } from './look.ts'
import { readScenes, sceneContext, type Scene } from './scenes.ts'
import { clip, keySet, mentions, visualTerms } from './text.ts'

interface PairReview {
  from: number
  to: number
  score: number
  issues: string[]
}

/** How well scene b's start frame picks up scene a's end frame: shared key words, 3 or more is a clean link. */
function frameLink(a: Scene, b: Scene, names: readonly string[]): { link: number; shared: string[] } {
  const end = keySet(a.end_frame, names)
  const shared = [...keySet(b.start_frame, names)].filter((w) => end.has(w))
  return { link: shared.length >= 3 ? 1 : shared.length === 2 ? 0.5 : 0, shared }
}

/** The cohesion answer (scene_cohesor.yaml's output shape). */
export function reviewCohesion(vars: Record<string, unknown>): Record<string, unknown> {
  const c = sceneContext(vars)
  const scenes = readScenes(vars.draft) ?? []
  const noun = placeNoun(c.story.setting)
  const flags = new Map<number, string[]>()
  const flag = (index: number, code: string, text: string) => flags.set(index, [...(flags.get(index) ?? []), `[${code}] ${text}`])

  const pairs: PairReview[] = []
  const jumps: string[] = []
  for (let i = 0; i + 1 < scenes.length; i++) {
    const [a, b] = [scenes[i]!, scenes[i + 1]!]
    const issues: string[] = []
    const { link } = frameLink(a, b, c.subjects)
    if (link === 0) jumps.push(`${a.index}→${b.index}`)
    if (link < 1) {
      issues.push(`scene ${b.index} opens on something new instead of scene ${a.index}'s end frame`)
      flag(b.index, 'continuity', `start frame must pick up scene ${a.index}'s end frame (“${clip(a.end_frame, 90)}”)`)
    }
    const sharedLook = visualTerms(a.visuals).filter((t) => visualTerms(b.visuals).includes(t))
    if (!sharedLook.length) {
      issues.push(`light and palette change between scenes ${a.index} and ${b.index}`)
      flag(b.index, 'lighting', `keep scene ${a.index}'s light and palette (${c.light}; ${c.colours.slice(0, 2).join(', ')})`)
    }
    const placed = [a, b].filter((s) => !noun || mentions(s.visuals, noun)).length
    if (placed < 2) {
      issues.push(`the location is unclear across scenes ${a.index} and ${b.index}`)
      for (const s of [a, b]) if (noun && !mentions(s.visuals, noun)) flag(s.index, 'location', `place the scene in ${c.place}`)
    }
    pairs.push({ from: a.index, to: b.index, score: Math.round(100 * (0.6 * link + 0.2 * (sharedLook.length ? 1 : 0) + 0.2 * (placed / 2))), issues })
  }

  const global: string[] = scenes.length ? [] : ['there are no scenes to review']
  const lost = scenes.filter((s) => !c.subjects.some((x) => mentions(`${s.visuals} ${s.action}`, x)))
  if (lost.length) {
    global.push(`scenes ${lost.map((s) => s.index).join(', ')} lose sight of ${c.subjects.slice(0, 2).join(' and ')}`)
    for (const s of lost) flag(s.index, 'subject', `keep ${c.subjects.slice(0, 2).join(' or ')} in shot`)
  }
  const silent = scenes.filter((s) => !/\bmusic\b/i.test(s.audio))
  if (silent.length && silent.length < scenes.length) {
    global.push(`the music bed drops out in scenes ${silent.map((s) => s.index).join(', ')}`)
    for (const s of silent) flag(s.index, 'audio', `carry the music bed (${c.music}) through`)
  }
  const last = scenes.at(-1)
  if (last && !mentions(`${last.caption} ${last.audio} ${last.end_frame}`, c.product)) {
    global.push(`the last scene does not land ${c.product}: the arc needs entry → use → reaction → product`)
    flag(last.index, 'arc', `end on ${c.product} and the call to action`)
  }

  // A join that jumps is felt across the whole piece, not only in its pair: it costs the overall score too.
  if (jumps.length) global.push(`${jumps.length} of ${pairs.length} joins jump (${jumps.join(', ')}): the piece will feel cut together from separate clips`)
  const mean = pairs.length ? pairs.reduce((t, p) => t + p.score, 0) / pairs.length : scenes.length ? 100 : 0
  const score = Math.max(0, Math.min(100, Math.round(mean - 4 * (global.length - (jumps.length ? 1 : 0)) - 6 * jumps.length)))
  const scene_feedback = [...flags].sort((x, y) => x[0] - y[0]).map(([index, items]) => ({ index, feedback: items.join(' ') }))
  const feedback = scene_feedback.length
    ? scene_feedback.flatMap((f) => flags.get(f.index)!.map((item) => `Scene ${f.index} ${item}`)).join('\n')
    : '[ok] The scenes flow as one piece; no rewrite needed.'
  return { score, pairs, global_issues: global, scene_feedback, feedback }
}
