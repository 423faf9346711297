// A fan-out item's small graph of steps, run once: the order and the skipping, whoever runs each step.
import type { ChildGraphSpec, ChildStepSpec } from './dsl/pipeline.ts'
import type { ChildOutcome, Progress } from './node-def.ts'
import type { ApprovalRequest, Decision, Revision } from './ports.ts'
import { renderTemplate, toCel } from './expressions.ts'
import { toErrorInfo, WeftError, type ErrorInfo } from './errors.ts'
import { runItemGate } from './item-gate.ts'

/**
 * Runs one step (a worker node) with the item's scope, or again with a reviewer's revision (or, with `round`, again
 * because a step before it was revised in that round); in process or as a fleet task.
 */
type RunStep = (step: ChildStepSpec, scope: Record<string, unknown>, o: { signal: AbortSignal; key: string; step: string; round?: number }, revision?: Revision) => Promise<ChildOutcome>

/** What a driver gives an item's graph: running its worker steps, and asking at its gate steps. */
export interface StepPowers {
  run: RunStep
  /** Asks the run's decision source at a gate (durably); `auto` is the gate's policy in an automated run. */
  decide(request: ApprovalRequest, auto: Decision | undefined, signal: AbortSignal): Promise<Decision>
  /** The fan-out node: an item's gate is addressed as `<owner>[<item>].<step>`. */
  owner: string
  runInfo: { id: string; interactive: boolean }
  emit(p: Progress): void
}

export type StepResult = { status: 'succeeded' | 'failed' | 'skipped' | 'cancelled'; output: unknown; error: ErrorInfo | null }

/**
 * Runs a child graph once (one fan-out item): each step starts when the steps it needs have succeeded; a
 * step skipped by its `when` skips those that need it; the first failure stops the item's other steps.
 */
export async function runStepGraph(graph: ChildGraphSpec, base: Record<string, unknown>, o: { signal: AbortSignal; key: string }, powers: StepPowers): Promise<ChildOutcome> {
  const results = new Map<string, StepResult>()
  const scope = () => ({
    ...base,
    steps: toCel(Object.fromEntries([...results].map(([id, res]) => [id, { output: res.output, status: res.status, error: res.error && { code: res.error.code, message: res.error.message } }]))),
  })
  const stop = new AbortController()
  const onAbort = () => stop.abort(o.signal.reason)
  if (o.signal.aborted) onAbort()
  else o.signal.addEventListener('abort', onAbort, { once: true })
  let failure: { step: string; error: ErrorInfo } | undefined
  const started = new Map<string, Promise<void>>()
  const runStep = (id: string): Promise<void> => {
    let p = started.get(id)
    if (!p) started.set(id, (p = stepOnce(id)))
    return p
  }
  const stepOnce = async (id: string): Promise<void> => {
    const step = graph.steps.get(id)!
    await Promise.all(step.deps.map(runStep))
    const settle = (res: StepResult) => void results.set(id, res)
    if (stop.signal.aborted) return settle({ status: 'cancelled', output: null, error: null })
    if (step.deps.some((d) => results.get(d)?.status !== 'succeeded')) return settle({ status: 'skipped', output: null, error: null })
    let ok: unknown = true
    if (step.when) {
      try {
        ok = renderTemplate(step.when, scope())
      } catch (err) {
        ok = err
      }
    }
    if (ok === false) return settle({ status: 'skipped', output: null, error: null })
    const outcome: ChildOutcome =
      ok === true
        ? step.def.runs === 'control'
          ? await runItemGate(step, { graph, results, scope, signal: stop.signal, key: o.key, powers })
          : await powers.run(step, scope(), { signal: stop.signal, key: o.key, step: id })
        : {
            ok: false,
            error: ok instanceof Error ? toErrorInfo(ok, 'EXPRESSION_FAILED') : { code: 'EXPRESSION_TYPE', message: `\`when\` must give true or false, got ${JSON.stringify(ok)}`, retryable: false },
          }
    if (outcome.ok) return settle({ status: 'succeeded', output: outcome.output, error: null })
    settle({ status: stop.signal.aborted ? 'cancelled' : 'failed', output: null, error: outcome.error })
    if (!failure && !stop.signal.aborted) {
      failure = { step: id, error: outcome.error }
      stop.abort(new WeftError('CANCELLED', `step "${id}" failed`))
    }
  }
  try {
    await Promise.all([...graph.steps.keys()].map(runStep))
  } finally {
    o.signal.removeEventListener('abort', onAbort)
  }
  if (o.signal.aborted) return { ok: false, error: toErrorInfo(o.signal.reason, 'CANCELLED') }
  if (failure) {
    const { step, error } = failure
    return { ok: false, error: { ...error, message: `step "${step}": ${error.message}`, details: { ...(error.details as object), step } } }
  }
  if (!graph.result) return { ok: true, output: Object.fromEntries([...graph.steps.keys()].map((id) => [id, results.get(id)?.output ?? null])) }
  try {
    return { ok: true, output: renderTemplate(graph.result, scope()) }
  } catch (err) {
    return { ok: false, error: toErrorInfo(err, 'EXPRESSION_FAILED') }
  }
}
