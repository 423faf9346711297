// What makes a decision at an approval gate acceptable, in one place: the HTTP API, the WebSocket, the generation
// service, the approval node and the CLI's decision file all ask this rule, so they refuse the same decisions in the
// same words.
import type { ApprovalRequest, Decision } from './ports.ts'

/** Why a decision cannot be taken: its code, its sentence, and the field at fault. */
export interface DecisionProblem {
  code: 'DECISION_NOT_ALLOWED' | 'DECISION_INVALID'
  message: string
  path: 'decision' | 'feedback' | 'edits'
}

/** `revise` must say what to change. */
export const reviseNeedsFeedback = (d: Pick<Decision, 'decision' | 'feedback'>): boolean => d.decision !== 'revise' || (d.feedback ?? '').trim() !== ''
/** Edits replace the value under review, so only an approval carries them. */
export const editsOnlyWithApprove = (d: Pick<Decision, 'decision' | 'edits'>): boolean => d.edits === undefined || d.decision === 'approve'

export const REVISE_NEEDS_FEEDBACK = 'a revise decision needs feedback saying what to change'
export const EDITS_ONLY_WITH_APPROVE = 'edits go with an approve decision only'

/** JSON kind of a value: null, boolean, number, string, list or object. */
function jsonKind(v: unknown): string {
  return v === null ? 'null' : Array.isArray(v) ? 'list' : typeof v === 'object' ? 'object' : typeof v
}

/** A JSON kind with its article: `an object`, `a list`, `null`. */
const named = (kind: string): string => (kind === 'null' ? 'null' : kind === 'object' ? 'an object' : `a ${kind}`)

/** A key of an object as it reads in a path: `.scenes`, or `["two words"]`. */
const step = (key: string): string => (/^[A-Za-z_][A-Za-z0-9_]*$/.test(key) ? `.${key}` : `[${JSON.stringify(key)}]`)

/**
 * Where edits depart from the shape of the value they replace, and how: the same kind of value at every place
 * (a number where a number was, a list where a list was), an object with the same keys, and each item of a list
 * shaped like one of the list's items under review (items may be added, removed or reordered). A place the value
 * holds `null` (nothing yet) takes anything. Undefined when the edits have the value's shape.
 */
function shapeProblem(edits: unknown, value: unknown, at: string): string | undefined {
  const kind = jsonKind(value)
  if (kind === 'null') return undefined
  const got = jsonKind(edits)
  if (got !== kind) {
    const want = kind === 'object' ? `an object with the keys ${Object.keys(value as object).join(', ')}` : named(kind)
    return `${at} must be the same kind of value as the one under review (${want}), got ${named(got)}`
  }
  if (kind === 'object') {
    const want = Object.keys(value as object)
    const have = Object.keys(edits as object)
    const missing = want.filter((k) => !Object.hasOwn(edits as object, k))
    const extra = have.filter((k) => !Object.hasOwn(value as object, k))
    if (missing.length || extra.length) {
      const diff = [missing.length ? `missing ${missing.join(', ')}` : '', extra.length ? `not expected ${extra.join(', ')}` : ''].filter(Boolean).join('; ')
      return `${at} must have the keys of the value under review (${want.join(', ')}): ${diff}`
    }
    for (const k of want) {
      const problem = shapeProblem((edits as Record<string, unknown>)[k], (value as Record<string, unknown>)[k], `${at}${step(k)}`)
      if (problem) return problem
    }
    return undefined
  }
  if (kind === 'list') {
    const kinds = itemShapes(value as unknown[])
    if (kinds.size === 0) return undefined
    for (const [i, item] of (edits as unknown[]).entries()) {
      // shaped as one of the items under review (most often exactly so), else like one of them; else what keeps it
      // from being like the first
      if (kinds.has(shapeOf(item))) continue
      const like = [...kinds.values()]
      if (like.some((one) => shapeProblem(item, one, '') === undefined)) continue
      return shapeProblem(item, like[0], `${at}[${i}]`)
    }
  }
  return undefined
}

const shapes = new WeakMap<object, string>()
/**
 * A value's shape as text: its kind, an object's keys with the shapes of their values, a list's distinct item shapes.
 * Two values of one shape take the same edits (so a list's items are compared by shape, each shape once).
 */
function shapeOf(v: unknown): string {
  if (v === null || typeof v !== 'object') return jsonKind(v)
  const known = shapes.get(v)
  if (known !== undefined) return known
  const shape = Array.isArray(v)
    ? `[${[...new Set(v.map(shapeOf))].sort().join('|')}]`
    : `{${Object.keys(v)
        .sort()
        .map((k) => `${JSON.stringify(k)}:${shapeOf((v as Record<string, unknown>)[k])}`)
        .join(',')}}`
  shapes.set(v, shape)
  return shape
}

const lists = new WeakMap<unknown[], Map<string, unknown>>()
/** The items of a list under review, one of each shape, in the order they first come. */
function itemShapes(items: unknown[]): Map<string, unknown> {
  let kinds = lists.get(items)
  if (!kinds) {
    kinds = new Map()
    for (const item of items) if (!kinds.has(shapeOf(item))) kinds.set(shapeOf(item), item)
    lists.set(items, kinds)
  }
  return kinds
}

/**
 * The first problem of `decision` as an answer to `request` (what the gate allows now, feedback with revise, edits
 * only with approve and in the shape of the value under review, at every depth), or undefined when it can be taken.
 */
export function decisionProblem(decision: Decision, request: Pick<ApprovalRequest, 'gate' | 'allowed' | 'value'>): DecisionProblem | undefined {
  if (!request.allowed.includes(decision.decision)) {
    return { code: 'DECISION_NOT_ALLOWED', path: 'decision', message: `gate "${request.gate}" allows ${request.allowed.join(', ')} now, not "${decision.decision}"` }
  }
  if (!reviseNeedsFeedback(decision)) return { code: 'DECISION_INVALID', path: 'feedback', message: `${REVISE_NEEDS_FEEDBACK} (gate "${request.gate}")` }
  if (!editsOnlyWithApprove(decision)) return { code: 'DECISION_INVALID', path: 'edits', message: `${EDITS_ONLY_WITH_APPROVE} (gate "${request.gate}")` }
  const problem = decision.edits === undefined ? undefined : shapeProblem(decision.edits, request.value, 'edits')
  if (problem) return { code: 'DECISION_INVALID', path: 'edits', message: problem }
  return undefined
}
