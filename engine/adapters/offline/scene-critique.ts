// The offline scene critic: per-scene checks weighted as in DOMAIN.md, with coded, per-scene feedback.
import { readScenes, sceneContext, type Scene, type SceneContext } from './scenes.ts'
import { COLOURS, asInt, isHex, mentions, visualTerms, wordCount } from './text.ts'

const SCENE_WEIGHTS = { visual_detail: 30, cinematography: 20, subject_consistency: 20, continuity: 15, quality: 10, production_readiness: 5 } as const
type SceneCode = keyof typeof SCENE_WEIGHTS
type PerScene = Exclude<SceneCode, 'production_readiness'>

const MOVES =
  /\b(push-in|push in|pull-out|pull out|pan|panning|tilt|orbit|arc shot|tracking|track|handheld|crane|dolly|static|locked-off|whip|rack focus|zoom|truck|pedestal|drone|aerial|slider|follow|top-down|overhead|steadicam|gimbal)\b/i
const SIZES = /\b(wide|medium|close-up|close up|closeup|extreme|over-the-shoulder|full shot|two-shot|insert|establishing|long shot|cowboy)\b/i
const AUDIO = /\b(music|sfx|sound|vo|voice|voice-over|silence|ambience|ambient|score|beat)\b/i

function moveOf(camera: string): string {
  return camera.match(MOVES)?.[1]?.toLowerCase() ?? ''
}

/** Scores one scene on the per-scene criteria; `issues` are `[code] message` strings. */
function checkScene(c: SceneContext, s: Scene, prev: Scene | undefined): { scores: Record<PerScene, number>; issues: Array<[PerScene, string]> } {
  const issues: Array<[PerScene, string]> = []
  const need = (ok: boolean, code: PerScene, points: number, message: string) => {
    if (!ok) issues.push([code, message])
    return ok ? points : 0
  }
  const terms = visualTerms(s.visuals).length
  const visual = Math.min(1, terms / 5) * 100
  if (terms < 5) issues.push(['visual_detail', `visuals name ${terms} visual details; give at least 5 (colour, light, lens, texture, set dressing)`])

  const move = moveOf(s.camera)
  const cinematography =
    need(!!move, 'cinematography', 50, 'name the camera movement (push-in, pan, orbit, tracking…)') +
    need(SIZES.test(s.camera), 'cinematography', 30, 'name the shot size (wide, medium, close-up)') +
    need(!prev || !move || move !== moveOf(prev.camera), 'cinematography', 20, `vary the camera: scene ${prev?.index} also uses a ${move}`)

  const colourWords = [...c.colours, ...Object.keys(COLOURS)]
  const subject =
    need(
      c.subjects.some((x) => mentions(s.continuity, x)),
      'subject_consistency',
      40,
      `say in the continuity notes how ${c.subjects.slice(0, 2).join(' and ')} must look (from the references)`,
    ) +
    need(
      c.subjects.some((x) => mentions(s.visuals, x)),
      'subject_consistency',
      30,
      `show ${c.subjects.slice(0, 2).join(' or ')} in the visuals`,
    ) +
    need(
      colourWords.some((w) => mentions(`${s.visuals} ${s.continuity}`, w)) || isHex(s.visuals.match(/#[0-9a-f]{6}/i)?.[0]),
      'subject_consistency',
      30,
      'tie the scene to the reference palette by naming its colours',
    )

  const continuity =
    need(wordCount(s.start_frame) >= 6, 'continuity', 35, 'describe the start frame (6+ words)') +
    need(wordCount(s.end_frame) >= 6, 'continuity', 35, 'describe the end frame (6+ words)') +
    need(s.start_frame.trim() !== s.end_frame.trim(), 'continuity', 10, 'the start and end frames are identical: something must change') +
    need(['cut', 'crossfade', 'fade'].includes(s.transition), 'continuity', 10, 'give a transition: cut, crossfade or fade') +
    need(wordCount(s.continuity) >= 4, 'continuity', 10, 'write continuity notes')

  const quality =
    need(!!s.caption && s.caption.length <= 60, 'quality', 30, 'give an on-screen caption of at most 60 characters') +
    need(wordCount(s.caption) <= 8, 'quality', 10, 'keep the caption to 8 words or fewer') +
    need(wordCount(s.action) >= 8, 'quality', 30, 'say what happens in the action (8+ words)') +
    need(AUDIO.test(s.audio), 'quality', 30, 'give the audio: music, sound effects or voice-over')

  return { scores: { visual_detail: visual, cinematography, subject_consistency: subject, continuity, quality }, issues }
}

/** The scene critique answer (scene_critic.yaml's output shape). */
export function critiqueScenes(vars: Record<string, unknown>): Record<string, unknown> {
  const c = sceneContext(vars)
  const scenes = readScenes(vars.draft) ?? []
  const durationS = asInt(vars.duration_s, 0, 0, 600)
  const global: string[] = []
  let production = 0
  if (scenes.length === c.n) production += 40
  else global.push(`write exactly ${c.n} scenes, one per beat (there are ${scenes.length})`)
  if (scenes.every((s, i) => s.index === i + 1)) production += 20
  else global.push('number the scenes 1, 2, 3… in order')
  const bad = scenes.filter((s) => ![4, 6, 8].includes(s.duration_s))
  if (!bad.length) production += 20
  else global.push(`scene lengths must be 4, 6 or 8 s (scene ${bad.map((s) => s.index).join(', ')})`)
  const total = scenes.reduce((t, s) => t + s.duration_s, 0)
  if (!durationS || Math.abs(total - durationS) <= Math.max(4, durationS * 0.15)) production += 20
  else global.push(`the scenes run ${total} s; the ad is ${durationS} s`)

  const perScene = scenes.map((s, i) => ({ s, ...checkScene(c, s, scenes[i - 1]) }))
  const codes = Object.keys(SCENE_WEIGHTS) as SceneCode[]
  const breakdown = Object.fromEntries(
    codes.map((code) => [code, code === 'production_readiness' ? production : Math.round(perScene.length ? perScene.reduce((t, p) => t + p.scores[code], 0) / perScene.length : 0)]),
  ) as Record<SceneCode, number>
  const score = Math.round(codes.reduce((t, code) => t + (breakdown[code] * SCENE_WEIGHTS[code]) / 100, 0))

  const lines: Array<{ weight: number; text: string }> = []
  const per_scene = perScene.map(({ s, scores, issues }) => {
    const byCode = new Map<PerScene, string[]>()
    for (const [code, msg] of issues) byCode.set(code, [...(byCode.get(code) ?? []), msg])
    for (const [code, msgs] of byCode) lines.push({ weight: SCENE_WEIGHTS[code] * (100 - scores[code]), text: `Scene ${s.index} [${code}] ${msgs.join('; ')}.` })
    const own = Object.entries(scores).reduce((t, [code, v]) => t + v * SCENE_WEIGHTS[code as PerScene], 0) + production * SCENE_WEIGHTS.production_readiness
    return { index: s.index, score: Math.round(own / 100), issues: [...byCode].map(([code, msgs]) => `[${code}] ${msgs.join('; ')}`) }
  })
  if (global.length) lines.push({ weight: SCENE_WEIGHTS.production_readiness * (100 - production), text: `[production_readiness] ${global.join('; ')}.` })
  const ranked = [...lines].sort((a, b) => b.weight - a.weight)
  return {
    score,
    breakdown,
    per_scene,
    priority_fixes: ranked.slice(0, 3).map((l) => l.text),
    feedback: lines.length ? lines.map((l) => l.text).join('\n') : '[ok] Every scene passes every check; no changes needed.',
  }
}
