// One attempt of a node as a fleet task runs it: the executor call with the node's timeout and the run's cache rule,
// and its progress written at a bounded rate. Both drivers of the step function (the worker and the in-process one) use it.
import type { NodeExecutor, TaskOutcome } from '../ports.ts'
import type { Progress } from '../node-def.ts'
import { toErrorInfo, WeftError } from '../errors.ts'
import type { FleetTask } from './state.ts'
import { cacheMode, type RunCachePolicy } from '../cache/policy.ts'
import { systemClock, type Clock } from '../clock.ts'

/** Runs one attempt with its timeout; a node that overran its timeout is a timeout even if it finished. */
export async function attemptOnce(
  executor: NodeExecutor,
  task: FleetTask,
  runId: string,
  stop: AbortSignal,
  onProgress: (p: Progress) => void = () => {},
  policy?: RunCachePolicy,
): Promise<TaskOutcome> {
  const spec = task.spec!
  // a revision runs as the gated node itself, and an item's step in a revision round as that step: the task's key
  // is the engine's own; the round keeps the attempt's idempotency key apart from the rounds before
  const nodeId = spec.target ?? spec.runAs ?? task.key
  const round = spec.revision?.round ?? spec.round
  // a re-run's refreshed node executes again whatever is cached (and stores its new result)
  const cache = cacheMode(spec.refresh && policy ? { ...policy, refresh: [task.node] } : policy, task.node, spec.cache, spec.config, {
    ...(spec.cacheable ? { cacheable: true } : {}),
    ...(spec.models ? { models: spec.models } : {}),
  })
  // a signal of its own only for a timeout: without one, the attempt stops when it is told to, and only then
  const ac = spec.timeoutMs === undefined ? undefined : new AbortController()
  const onStop = () => ac?.abort(stop.reason)
  if (ac && stop.aborted) onStop()
  else if (ac) stop.addEventListener('abort', onStop, { once: true })
  const signal = ac?.signal ?? stop
  const timer =
    ac === undefined
      ? undefined
      : setTimeout(() => ac.abort(new WeftError('NODE_TIMEOUT', `node "${task.key}" exceeded its timeout of ${spec.timeoutMs} ms`, { details: { timeout_ms: spec.timeoutMs } })), spec.timeoutMs)
  let out: TaskOutcome
  try {
    out = await executor.execute(
      {
        runId,
        nodeId,
        type: spec.type,
        module: spec.module,
        attempt: task.attempt,
        config: spec.config,
        run: { id: runId, interactive: spec.interactive },
        idempotencyKey: `${runId}:${nodeId}:${task.attempt}${round !== undefined ? `:r${round}` : ''}`,
        workDir: `${spec.workDir}/${runId}`,
        prompts: spec.prompts,
        ...(spec.revision ? { revision: spec.revision } : {}),
        ...(cache !== 'off' ? { cache } : {}),
        ...(spec.budget ? { budget: spec.budget } : {}),
      },
      { signal, onProgress },
    )
  } finally {
    if (timer) clearTimeout(timer)
    if (ac) stop.removeEventListener('abort', onStop)
  }
  return attemptOutcome(out, signal)
}

/**
 * Progress as a node reports it, written at most every `everyMs` (the latest report wins), one write at a time;
 * `close` waits for a write in flight and drops what was not written (the attempt's end says the rest).
 */
export function throttledProgress(
  write: (p: Progress) => Promise<void>,
  onError: (err: unknown) => void,
  everyMs = 250,
  clock: Clock = systemClock,
): { report(p: Progress): void; close(): Promise<void> } {
  let latest: Progress | undefined
  let timer: (() => void) | undefined
  let flight: Promise<void> = Promise.resolve()
  let closed = false
  const flush = () => {
    timer = undefined
    const p = latest
    latest = undefined
    if (p && !closed) flight = flight.then(() => write(p)).catch(onError)
  }
  return {
    report(p) {
      if (closed) return
      latest = p
      timer ??= clock.setTimer(flush, everyMs)
    },
    async close() {
      closed = true
      timer?.()
      await flight
    },
  }
}

/**
 * What an attempt came to, given the signal it ran under: a timeout is a hard limit (finishing after it, the node
 * having ignored its signal, is still a timeout), and a node stopped because it was told to reports why it was told.
 */
function attemptOutcome(out: TaskOutcome, signal: AbortSignal): TaskOutcome {
  const why = signal.aborted ? toErrorInfo(signal.reason, 'CANCELLED') : undefined
  if (out.ok && why?.code !== 'NODE_TIMEOUT') return out
  if (why && (out.ok || why.code !== out.error.code)) {
    const nodeError = out.ok ? undefined : { code: out.error.code, message: out.error.message }
    return { ok: false, error: { ...why, details: { ...(why.details as object), ...(nodeError ? { node_error: nodeError } : { finished_late: true }) } } }
  }
  return out
}
