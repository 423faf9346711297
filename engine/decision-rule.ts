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

/** Edits replace the reviewed value: the same kind, and for an object the same keys (a scene list keeps its shape). */
function sameShape(edits: unknown, value: unknown): boolean {
  if (jsonKind(edits) !== jsonKind(value)) return false
  if (jsonKind(value) !== 'object') return true
  const keys = (o: object) => Object.keys(o).sort().join('\0')
  return keys(edits as object) === keys(value as object)
}

/**
 * The first problem of `decision` as an answer to `request` (what the gate allows now, feedback with revise, edits
 * only with approve and in the shape of the value under review), or undefined when it can be taken.
 */
export function decisionProblem(decision: Decision, request: Pick<ApprovalRequest, 'gate' | 'allowed' | 'value'>): DecisionProblem | undefined {
  if (!request.allowed.includes(decision.decision)) {
    return { code: 'DECISION_NOT_ALLOWED', path: 'decision', message: `gate "${request.gate}" allows ${request.allowed.join(', ')} now, not "${decision.decision}"` }
  }
  if (!reviseNeedsFeedback(decision)) return { code: 'DECISION_INVALID', path: 'feedback', message: `${REVISE_NEEDS_FEEDBACK} (gate "${request.gate}")` }
  if (!editsOnlyWithApprove(decision)) return { code: 'DECISION_INVALID', path: 'edits', message: `${EDITS_ONLY_WITH_APPROVE} (gate "${request.gate}")` }
  if (decision.edits !== undefined && !sameShape(decision.edits, request.value)) {
    const kind = jsonKind(request.value)
    if (kind === 'object' && jsonKind(decision.edits) === 'object') {
      // the same kind, other keys: which ones
      const want = Object.keys(request.value as object)
      const got = Object.keys(decision.edits as object)
      const missing = want.filter((k) => !got.includes(k))
      const extra = got.filter((k) => !want.includes(k))
      const diff = [missing.length ? `missing ${missing.join(', ')}` : '', extra.length ? `not expected ${extra.join(', ')}` : ''].filter(Boolean).join('; ')
      return { code: 'DECISION_INVALID', path: 'edits', message: `edits must have the keys of the value under review (${want.join(', ')}): ${diff}` }
    }
    const want = kind === 'object' ? `an object with the keys ${Object.keys(request.value as object).join(', ')}` : named(kind)
    return { code: 'DECISION_INVALID', path: 'edits', message: `edits must be the same kind of value as the one under review (${want}), got ${named(jsonKind(decision.edits))}` }
  }
  return undefined
}
