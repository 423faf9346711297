// Reading feedback: a critic's bracketed codes ("Scene 3 [continuity] …") and a human's free text.
import { asObject, str } from './text.ts'
import { toneOf } from './brief.ts'

export interface Feedback {
  /** Codes named without a scene ("[visual_detail] …"). */
  codes: Set<string>
  /** Codes named for one scene ("Scene 3 [continuity] …"), by 1-based index. */
  scenes: Map<number, Set<string>>
  /** Lines with no code: a reviewer's own words. */
  human: string[]
}

/** The feedback as text: a string as is; a critique object by its `feedback`, `priority_fixes` and `scene_feedback`. */
export function feedbackText(value: unknown): string {
  const obj = asObject(value)
  if (!obj) return typeof value === 'string' ? value : ''
  const parts: string[] = []
  if (typeof obj.feedback === 'string') parts.push(obj.feedback)
  if (Array.isArray(obj.priority_fixes)) parts.push(...obj.priority_fixes.filter((f): f is string => typeof f === 'string'))
  if (Array.isArray(obj.scene_feedback)) {
    for (const s of obj.scene_feedback as Array<{ index?: unknown; feedback?: unknown }>) {
      const text = str(s?.feedback)
      if (text) parts.push(/^scene\s+\d+/i.test(text) ? text : `Scene ${Number(s.index)} ${text}`)
    }
  }
  return parts.join('\n')
}

const CODE = /(?:scene\s+(\d+)\s*:?\s*)?\[([a-z_]+)\]/gi

export function parseFeedback(value: unknown): Feedback {
  const out: Feedback = { codes: new Set(), scenes: new Map(), human: [] }
  for (const line of feedbackText(value).split(/\r?\n/)) {
    const text = line.trim()
    if (!text) continue
    let coded = false
    let scene: number | undefined // "Scene 3 [continuity] … [lighting] …": both codes are scene 3's
    for (const m of text.matchAll(CODE)) {
      coded = true
      const code = m[2]!.toLowerCase()
      if (m[1]) scene = Number(m[1])
      if (code === 'ok') continue
      if (scene !== undefined) {
        const i = scene
        if (!out.scenes.has(i)) out.scenes.set(i, new Set())
        out.scenes.get(i)!.add(code)
      } else out.codes.add(code)
    }
    if (!coded) out.human.push(text)
  }
  return out
}

/** What a reviewer's words ask for, where rules can tell. */
export interface HumanAsk {
  tone?: string
  /** Things to say or show ("the price $2.99"). */
  mention: string[]
  length?: 'shorter' | 'longer'
}

export function readHuman(lines: readonly string[]): HumanAsk {
  const ask: HumanAsk = { mention: [] }
  for (const line of lines) {
    const tone = toneOf(line)
    if (tone) ask.tone = tone
    for (const m of line.matchAll(
      /\b(?:mention|include|add|show|feature|say|highlight|call out)\s+(.+?)(?=[.;!?](?:\s|$)|,\s*(?:and\s+)?(?:make|keep|use|add|mention)\b|\s+and\s+(?:make|keep|use)\b|$)/gi,
    )) {
      const what = m[1]!.trim().replace(/^(?:that|a line about)\s+/i, '')
      if (/\b(?:don'?t|do not|never|avoid|stop|no need to|without)\s+$/i.test(line.slice(0, m.index))) continue
      if (what && !/^(?:more|less|some)\s+(?:humou?r|energy|emotion)/i.test(what) && !ask.mention.includes(what)) ask.mention.push(what)
    }
    if (/\b(?:shorter|shorten|tighter|trim|cut it down|less text|more concise)\b/i.test(line)) ask.length = 'shorter'
    else if (/\b(?:longer|more detail|expand|richer|fuller)\b/i.test(line)) ask.length = 'longer'
  }
  return ask
}

/** A price in a phrase ("$2.99", "€5", "19.99 EUR"), if any. */
export function priceIn(text: string): string | undefined {
  return text.match(/[$€£¥]\s?\d+(?:[.,]\d{1,2})?|\d+(?:[.,]\d{1,2})?\s?(?:USD|EUR|GBP|dollars|euros)/i)?.[0]
}
