// approval: a human gate on another node's output — approve (optionally with edits), reject, or send the
// gated node back with feedback (it re-runs, then the gate asks again), up to `max_revisions`.
import * as v from 'valibot'
import { defineNode } from '../engine/node-def.ts'
import { decisionProblem } from '../engine/decision-rule.ts'
import { WeftError } from '../engine/errors.ts'
import type { Decision } from '../engine/ports.ts'
import { toJsonData } from '../engine/json-data.ts'

const AutoSchema = v.union([
  v.picklist(['approve', 'reject']),
  v.strictObject({
    /** Approve when true (e.g. `${{ nodes.story.output.score >= 80 }}`). */
    approve_if: v.boolean(),
    /** Otherwise: `fail` the node (default) or record a `reject`. Either ends the run unless the node may fail. */
    otherwise: v.optional(v.picklist(['fail', 'reject']), 'fail'),
  }),
])

const DecisionRecord = v.object({
  decision: v.picklist(['approve', 'reject', 'revise']),
  by: v.string(),
  feedback: v.optional(v.string()),
  edited: v.boolean(),
  revision: v.number(),
})

export const approvalNode = defineNode({
  type: 'approval',
  description: "Waits for a decision on `gate`'s output: approve (with optional edits), reject, or revise with feedback.",
  runs: 'control',
  nodeRefs: ['gate'],
  config: v.strictObject({
    /** The node under review (a dependency). On `revise` it runs again with the feedback. */
    gate: v.pipe(v.string(), v.minLength(1)),
    /** Dotted path of the reviewed value inside the gate's output (e.g. `draft`); default: the whole output. */
    path: v.optional(v.pipe(v.string(), v.regex(/^[A-Za-z_]\w*(\.[A-Za-z_]\w*)*$/, 'a dotted path such as draft or data.scenes'))),
    /** What the reviewer is asked. */
    message: v.optional(v.string()),
    /** Most `revise` decisions before only approve and reject are offered (default 2). */
    max_revisions: v.optional(v.pipe(v.number(), v.integer(), v.minValue(0), v.maxValue(20)), 2),
    /** How an automated run (not interactive) decides: `approve` (default), `reject`, or `{ approve_if, otherwise }`. */
    auto: v.optional(AutoSchema, 'approve'),
  }),
  output: v.object({
    /** The approved value: the reviewer's edits when given, else the (possibly revised) gated value. */
    value: v.unknown(),
    /** Whether the reviewer replaced the value with edits. */
    edited: v.boolean(),
    /** How many times the gated node was sent back. */
    revisions: v.number(),
    /** Who approved (`auto` in automated runs). */
    by: v.string(),
    /** Every decision, in order. */
    history: v.array(DecisionRecord),
  }),
  async execute(ctx) {
    const { config } = ctx
    const gate = config.gate
    const project = (output: unknown) => (config.path ? pick(output, config.path, gate) : output)
    let value = project(ctx.outputOf(gate))
    const history: Array<v.InferOutput<typeof DecisionRecord>> = []
    const auto = autoDecision(config.auto, gate)
    for (let revisions = 0; ; ) {
      const allowed: Decision['decision'][] = revisions < config.max_revisions ? ['approve', 'reject', 'revise'] : ['approve', 'reject']
      const request = { runId: ctx.run.id, gate: ctx.node.id, value, allowed, revision: revisions, ...(config.message ? { message: config.message } : {}) }
      const decision = await ctx.requestDecision(request, auto)
      const by = decision.by ?? 'unknown'
      const problem = decisionProblem(decision, request)
      if (problem) throw new WeftError(problem.code, problem.message, { retryable: false })
      const edited = decision.decision === 'approve' && decision.edits !== undefined
      history.push({ decision: decision.decision, by, edited, revision: revisions, ...(decision.feedback !== undefined ? { feedback: decision.feedback } : {}) })
      if (decision.decision === 'approve') {
        if (edited) value = toJsonData(decision.edits, `edits at gate "${ctx.node.id}"`)
        return { value, edited, revisions, by, history }
      }
      if (decision.decision === 'reject') {
        if (auto?.failed) throw new WeftError('AUTO_APPROVAL_FAILED', auto.failed, { retryable: false, details: { gate: ctx.node.id } })
        throw new WeftError('APPROVAL_REJECTED', `gate "${ctx.node.id}" was rejected by ${by}${decision.feedback ? `: ${decision.feedback}` : ''}`, {
          retryable: false,
          details: { gate: ctx.node.id, by, feedback: decision.feedback ?? null },
        })
      }
      revisions++
      const feedback = decision.feedback!.trim()
      ctx.emit({ message: `revising "${gate}" (round ${revisions})`, revising: gate, round: revisions })
      const rerun = await ctx.rerun(gate, { round: revisions, feedback, previous: value })
      if (!rerun.ok) throw new WeftError(rerun.error.code, `revising "${gate}" failed: ${rerun.error.message}`, { retryable: false, details: rerun.error.details })
      value = project(rerun.output)
    }
  },
})

/** The decision an automated run takes at this gate (undefined: ask the run's decision source). */
function autoDecision(auto: v.InferOutput<typeof AutoSchema>, gate: string): (Decision & { failed?: string }) | undefined {
  if (auto === 'approve') return { decision: 'approve', by: 'auto' }
  if (auto === 'reject') return { decision: 'reject', by: 'auto', feedback: 'the gate rejects automated runs (auto: reject)' }
  if (auto.approve_if) return { decision: 'approve', by: 'auto' }
  const why = `the automatic check of "${gate}" did not pass (auto.approve_if is false)`
  return auto.otherwise === 'reject' ? { decision: 'reject', by: 'auto', feedback: why } : { decision: 'reject', by: 'auto', feedback: why, failed: why }
}

function pick(value: unknown, dotted: string, gate: string): unknown {
  let cur = value
  for (const k of dotted.split('.')) {
    if (cur === null || typeof cur !== 'object' || !Object.hasOwn(cur, k)) {
      throw new WeftError('GATE_PATH_MISSING', `the output of "${gate}" has no "${dotted}" (missing at "${k}")`, { retryable: false })
    }
    cur = (cur as Record<string, unknown>)[k]
  }
  return cur
}
