// A control node (fan-out, approval) in the fleet: its code runs again from the start on every step that concerns
// it, with what is recorded (children's outcomes, decisions) answered at once and the rest left waiting. Control
// code is deterministic given those answers, so each replay reaches the same point and one step further: the run
// holds no process while it waits, and any worker can take the next step.
import { cacheTraits } from '../cache/policy.ts'
import type { ChildNodeSpec, NodeSpec, Pipeline } from '../dsl/pipeline.ts'
import type { ChildOutcome, ControlContext, Progress } from '../node-def.ts'
import type { ApprovalRequest, Decision, Revision, TaskOutcome } from '../ports.ts'
import { renderTemplate, toCel } from '../expressions.ts'
import { toErrorInfo, WeftError } from '../errors.ts'
import { controlConfig, executeControl } from '../run-control.ts'
import { nodeTimeout } from '../run-outputs.ts'
import { runStepGraph } from '../step-graph.ts'
import { budgetNow } from '../meter.ts'
import { gateKey, type FleetState, type FleetTask, type TaskSpec } from './state.ts'
import { runScope, type ReplayResult } from './step.ts'

/** The task key of gate `gate`'s re-run of node `node` in revision round `round`. */
const reviseKey = (gate: string, node: string, round: number): string => `${gate}~${node}#r${round}`

/** The node a revision task re-runs, read from its key; undefined for a key of another kind. */
export const revisedNode = (key: string): string | undefined => /~(.+)#r\d+$/.exec(key)?.[1]

/** Answers a task's recorded outcome, or undefined while it has none. */
function recorded(t: FleetTask | undefined): ChildOutcome | undefined {
  if (!t?.outcome) return undefined
  if (t.status === 'succeeded' || t.status === 'failed' || t.status === 'cancelled') return t.outcome
  return undefined
}

/** Replays control node `id` of the run against the recorded answers; resolves once it finished or waits on something unrecorded. */
export async function replayControl(state: FleetState, pipeline: Pipeline, id: string): Promise<ReplayResult> {
  const spec = pipeline.nodes.get(id)!
  const scope = runScope(state)
  const result: ReplayResult = { demands: [], requests: [], autoDecided: [], consumed: [], emits: [] }
  const open = new Map<string, ReplayResult['demands'][number]>()
  const cancelledWaits = new Set<() => void>()
  const ac = new AbortController()

  /** Waits on a task: its outcome when recorded; else it is asked for, and the replay waits (or its signal aborts). */
  const awaitTask = (key: string, kind: 'child' | 'revise', make: () => TaskSpec, signal: AbortSignal): Promise<ChildOutcome> => {
    const task = state.tasks[key]
    const done = recorded(task)
    // a task cancelled because an earlier replay stopped waiting on it (a sibling failed): this replay reaches
    // the same abort and answers the same way; only if it does not is the recorded cancellation the answer
    if (done && task!.status === 'cancelled' && !signal.aborted) {
      return new Promise((resolve) => {
        const onAbort = () => {
          cancelledWaits.delete(finish)
          resolve({ ok: false, error: toErrorInfo(signal.reason, 'CANCELLED') })
        }
        const finish = () => {
          signal.removeEventListener('abort', onAbort)
          resolve(done)
        }
        cancelledWaits.add(finish)
        signal.addEventListener('abort', onAbort, { once: true })
      })
    }
    if (done) return Promise.resolve(done)
    if (signal.aborted) return Promise.resolve({ ok: false, error: toErrorInfo(signal.reason, 'CANCELLED') })
    open.set(key, { key, kind, spec: make() })
    return new Promise((resolve) => {
      signal.addEventListener(
        'abort',
        () => {
          // not waited on any more: the step cancels it
          open.delete(key)
          resolve({ ok: false, error: toErrorInfo(signal.reason, 'CANCELLED') })
        },
        { once: true },
      )
    })
  }

  const childSpec = (child: ChildNodeSpec, childScope: Record<string, unknown>, progress: Record<string, unknown>, revision?: Revision, round?: { runAs: string; round: number }): TaskSpec => {
    const fields = { ...(renderTemplate(child.template, childScope) as Record<string, unknown>) }
    delete fields.type
    return {
      type: child.type,
      module: child.module,
      config: fields,
      retry: child.retry,
      ...(child.timeoutMs !== undefined ? { timeoutMs: child.timeoutMs } : {}),
      ...(child.cache !== undefined ? { cache: child.cache } : {}),
      ...cacheTraits(child.def),
      ...(spec.pool !== undefined ? { pool: spec.pool } : {}),
      progress,
      reportAs: id,
      workDir: state.workDir,
      prompts: pipeline.promptDirs,
      interactive: state.run.interactive,
      ...(revision ? { revision } : {}),
      ...(round ?? {}),
      ...budgetNow(state.run),
      ...(state.refresh?.includes(id) ? { refresh: true } : {}),
    }
  }

  const runChild = (child: ChildNodeSpec, childScope: Record<string, unknown>, o: { signal: AbortSignal; key: string; step?: string; round?: number }, revision?: Revision): Promise<ChildOutcome> => {
    // a step sent back by its item's gate (and each step after it, up to the gate) runs as a task of its own per round
    const round = revision?.round ?? o.round
    const runAs = `${id}[${o.key}]${o.step ? `.${o.step}` : ''}`
    const key = `${runAs}${round !== undefined ? `#r${round}` : ''}`
    try {
      return awaitTask(
        key,
        'child',
        () =>
          childSpec(child, childScope, { item: o.key, ...(o.step ? { step: o.step } : {}), ...(round !== undefined ? { round } : {}) }, revision, round !== undefined ? { runAs, round } : undefined),
        o.signal,
      )
    } catch (err) {
      return Promise.resolve({ ok: false, error: toErrorInfo(err, 'EXPRESSION_FAILED') })
    }
  }

  const rerun = (nodeId: string, revision: Revision): Promise<ChildOutcome> => {
    const target = pipeline.nodes.get(nodeId)
    if (!target) return Promise.resolve({ ok: false, error: { code: 'UNKNOWN_NODE', message: `node "${id}" cannot re-run "${nodeId}": no such node`, retryable: false } })
    if (target.def.runs === 'control')
      return Promise.resolve({
        ok: false,
        error: { code: 'NOT_REVISABLE', message: `node "${nodeId}" (${target.type}) cannot be re-run with feedback; gate a worker node (agent, critic_loop, render, a plugin)`, retryable: false },
      })
    const key = reviseKey(id, nodeId, revision.round)
    try {
      return awaitTask(key, 'revise', () => reviseSpec(target, revision), ac.signal)
    } catch (err) {
      return Promise.resolve({ ok: false, error: toErrorInfo(err, 'EXPRESSION_FAILED') })
    }
  }

  const reviseSpec = (target: NodeSpec, revision: Revision): TaskSpec => ({
    type: target.type,
    module: target.module,
    config: renderTemplate(target.template, scope),
    retry: target.retry,
    ...(nodeTimeout(target, scope) !== undefined ? { timeoutMs: nodeTimeout(target, scope)! } : {}),
    ...(target.cache !== undefined ? { cache: target.cache } : {}),
    ...cacheTraits(target.def),
    ...(target.pool !== undefined ? { pool: target.pool } : {}),
    progress: { revising: target.id, round: revision.round },
    reportAs: id,
    target: target.id,
    revision,
    workDir: state.workDir,
    prompts: pipeline.promptDirs,
    interactive: state.run.interactive,
    ...budgetNow(state.run),
    ...(state.refresh?.includes(target.id) ? { refresh: true } : {}),
  })

  const waitingGates = new Map<string, ApprovalRequest>()
  const requestDecision = (request: ApprovalRequest, auto?: Decision, signal?: AbortSignal): Promise<Decision> => {
    const k = gateKey(request.gate, request.revision)
    const gate = state.gates[k]
    if (gate?.decision) {
      result.consumed.push({ gate: request.gate, revision: request.revision, decision: gate.decision })
      return Promise.resolve(gate.decision)
    }
    // no decision can come: the gate fails (its node, or its item), and the node's error policy applies
    if (gate?.error) return Promise.reject(new WeftError(gate.error.code, gate.error.message, { retryable: false }))
    if (auto && !state.run.interactive) {
      // an automated run: the gate's own policy decides, and the record says so
      const decision = { ...auto, by: auto.by ?? 'auto' }
      result.autoDecided.push({ request, decision })
      result.consumed.push({ gate: request.gate, revision: request.revision, decision })
      return Promise.resolve(decision)
    }
    // an item's gate stops waiting when its item is stopped (a sibling failed under on_item_error: fail)
    if (signal?.aborted) return Promise.reject(signal.reason)
    waitingGates.set(k, request)
    return new Promise<Decision>((_, reject) =>
      signal?.addEventListener(
        'abort',
        () => {
          waitingGates.delete(k)
          reject(signal.reason)
        },
        { once: true },
      ),
    )
  }

  const run = async (): Promise<TaskOutcome> => {
    const { config, raw } = controlConfig(spec, scope)
    const ctx: ControlContext = {
      config,
      raw,
      signal: ac.signal,
      emit: (p: Progress) => void result.emits.push(p),
      run: { id: state.run.id, interactive: state.run.interactive },
      node: { id, type: spec.type, attempt: 1 },
      idempotencyKey: `${state.run.id}:${id}:1`,
      workDir: state.workDir,
      providers: {},
      prompts: pipeline.promptDirs,
      runChild: (extra, o) => {
        const childScope = { ...scope, ...(toCel(extra) as Record<string, unknown>) }
        return spec.steps
          ? runStepGraph(spec.steps, childScope, o, {
              run: (step, s, so, revision) => runChild(step, s, so, revision),
              decide: (request, auto, signal) => requestDecision(request, auto, signal),
              owner: id,
              runInfo: { id: state.run.id, interactive: state.run.interactive },
              emit: (p) => void result.emits.push(p),
            })
          : runChild(spec.child as ChildNodeSpec, childScope, o)
      },
      rerun,
      requestDecision,
      outputOf: (nodeId) => state.run.nodes[nodeId]?.output ?? null,
    }
    return executeControl(spec, ctx)
  }

  let settled: TaskOutcome | undefined
  const exec = run().then(
    (o) => (settled = o),
    (err) => (settled = { ok: false, error: toErrorInfo(err, 'NODE_FAILED') }),
  )
  // control code waits only on what this replay answers, through promises: once the microtasks have run out
  // (one macrotask later), it has either finished or is waiting on something not recorded yet
  const quiet = () => Promise.race([exec, new Promise((resolve) => setImmediate(resolve))])
  await quiet()
  // waits on cancelled tasks that no abort answered get their recorded cancellation, and the code runs on
  for (let round = 0; !settled && cancelledWaits.size > 0 && round < 1000; round++) {
    const waits = [...cancelledWaits]
    cancelledWaits.clear()
    for (const finish of waits) finish()
    await quiet()
  }
  if (settled) {
    result.outcome = settled
    return result
  }
  result.demands = [...open.values()]
  result.requests = [...waitingGates.values()]
  return result
}
