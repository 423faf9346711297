// One task's attempts: its signal, timeout, retries with backoff (giving the slot back while waiting).
import type { RetrySpec } from './dsl/pipeline.ts'
import type { Progress } from './node-def.ts'
import type { Revision, TaskOutcome } from './ports.ts'
import { cacheMode } from './cache/policy.ts'
import { budgetOf } from './meter.ts'
import { toErrorInfo, WeftError } from './errors.ts'
import { backoffDelay } from './plan.ts'
import { sleep } from './clock.ts'
import type { NodeState, Run } from './run-loop.ts'

/** state, task id, type, module, config, retry, timeout, pool, progress, attempt counter, parent signal, extras. */
export type AttemptArgs = [
  state: NodeState,
  taskId: string,
  type: string,
  module: string,
  config: unknown,
  retry: RetrySpec,
  timeoutMs: number | undefined,
  pool: string | undefined,
  onProgress: (p: Progress) => void,
  onAttempt: (n: number) => void,
  parentSignal?: AbortSignal,
  extra?: { revision?: Revision | undefined; cache?: boolean | undefined; cacheable?: boolean | undefined; models?: readonly string[] | undefined },
]

/**
 * Runs attempts of one task until success, a non-retryable error, the attempts run out, or the run
 * (or the parent fan-out) stops. The caller holds a slot of `pool`; it is given back during backoff.
 */
export async function runAttempts(run: Run, ...[state, taskId, type, module, config, retry, timeoutMs, pool, onProgress, onAttempt, parentSignal, extra]: AttemptArgs): Promise<TaskOutcome> {
  const revision = extra?.revision
  const cache = cacheMode(run.opts.cache, state.spec.id, extra?.cache, config, { ...(extra?.cacheable ? { cacheable: true } : {}), ...(extra?.models ? { models: extra.models } : {}) })
  let last: TaskOutcome = { ok: false, error: { code: 'NODE_FAILED', message: 'node did not run' } }
  for (let attempt = 1; attempt <= retry.attempts; attempt++) {
    onAttempt(attempt)
    // an attempt needs a signal of its own only for a timeout or a parent (fan-out) that can stop it alone
    const own = timeoutMs !== undefined || parentSignal !== undefined
    const ac = own ? new AbortController() : run.halt
    const onParent = () => ac.abort(parentSignal!.reason)
    let cancelTimer: (() => void) | undefined
    if (own) {
      state.controllers.add(ac)
      if (parentSignal?.aborted) ac.abort(parentSignal.reason)
      parentSignal?.addEventListener('abort', onParent, { once: true })
      if (run.status !== 'running') ac.abort(new WeftError('CANCELLED', run.stopMessage()))
      if (timeoutMs !== undefined)
        cancelTimer = run.clock.setTimer(() => ac.abort(new WeftError('NODE_TIMEOUT', `node "${taskId}" exceeded its timeout of ${timeoutMs} ms`, { details: { timeout_ms: timeoutMs } })), timeoutMs)
    }
    try {
      last = await run.opts.executor.execute(
        {
          runId: run.id,
          nodeId: taskId,
          type,
          module,
          attempt,
          config,
          run: { id: run.id, interactive: run.opts.interactive ?? false },
          idempotencyKey: `${run.id}:${taskId}:${attempt}${revision ? `:r${revision.round}` : ''}`,
          workDir: run.workDir,
          prompts: run.opts.pipeline.promptDirs,
          ...(revision ? { revision } : {}),
          ...(cache !== 'off' ? { cache } : {}),
          ...(run.budgetUsd !== undefined ? { budget: budgetOf(run.budgetUsd, run.spentUsd, run.modelCalls, run.outputTokens) } : {}),
        },
        { signal: ac.signal, onProgress },
      )
    } finally {
      if (own) {
        cancelTimer?.()
        parentSignal?.removeEventListener('abort', onParent)
        state.controllers.delete(ac)
      }
    }
    // what the attempt used is counted whatever came of it: a failed call was paid for too
    run.used(state, last.usage)
    last = attemptOutcome(last, ac.signal)
    if (last.ok) return last
    // stopped from outside (the run, or the fan-out around it): no retry
    if (parentSignal?.aborted || run.status !== 'running') return last
    if (last.error.retryable === false || attempt === retry.attempts) return last
    const delay = backoffDelay(retry, attempt + 1, run.clock.random)
    run.recordLater([run.event('node.retrying', state.spec.id, { attempt, next_attempt: attempt + 1, delay_ms: delay, error: last.error, ...(taskId !== state.spec.id ? { task: taskId } : {}) })])
    const stopWait = new AbortController()
    const onParentWait = () => stopWait.abort(parentSignal!.reason)
    parentSignal?.addEventListener('abort', onParentWait, { once: true })
    state.controllers.add(stopWait)
    // the slot is not needed while waiting: other work may use it
    run.release(pool)
    try {
      await sleep(run.clock, delay, stopWait.signal)
      await run.acquire(pool, stopWait.signal)
    } catch (reason) {
      const info = toErrorInfo(reason, 'CANCELLED')
      await run.acquire(pool)
      return { ok: false, error: { ...info, details: { ...(info.details as object), node_error: { code: last.error.code, message: last.error.message } } } }
    } finally {
      parentSignal?.removeEventListener('abort', onParentWait)
      state.controllers.delete(stopWait)
    }
  }
  return last
}

/**
 * What an attempt came to, given the signal it ran under: a timeout is a hard limit (finishing after it, the node
 * having ignored its signal, is still a timeout), and a node stopped because it was told to reports why it was told.
 */
export function attemptOutcome(out: TaskOutcome, signal: AbortSignal): TaskOutcome {
  const why = signal.aborted ? toErrorInfo(signal.reason, 'CANCELLED') : undefined
  if (out.ok && why?.code !== 'NODE_TIMEOUT') return out
  if (why && (out.ok || why.code !== out.error.code)) {
    const nodeError = out.ok ? undefined : { code: out.error.code, message: out.error.message }
    return { ok: false, error: { ...why, details: { ...(why.details as object), ...(nodeError ? { node_error: nodeError } : { finished_late: true }) } } }
  }
  return out
}
