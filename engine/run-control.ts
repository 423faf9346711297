// Control nodes (fan-out, approval) run inside the run loop: their children, their decisions.
import { cacheTraits } from './cache/policy.ts'
import type { ChildNodeSpec, NodeSpec } from './dsl/pipeline.ts'
import { runStepGraph } from './step-graph.ts'
import type { ChildOutcome, ControlContext, Progress } from './node-def.ts'
import { itemEnded } from './item-progress.ts'
import type { ApprovalRequest, Decision, Revision, TaskOutcome } from './ports.ts'
import { renderTemplate, toCel } from './expressions.ts'
import { toErrorInfo, WeftError } from './errors.ts'
import { validateWith } from './execute-task.ts'
import type { NodeState, Run } from './run-loop.ts'

/** A control node (fan-out, approval): runs here, with powers to run children and ask for decisions. */
export async function runControl(run: Run, state: NodeState): Promise<void> {
  const { spec } = state
  run.markRunning(state)
  state.record.attempts = 1
  run.nodeScope[spec.id]!.attempts = 1n
  const ac = new AbortController()
  state.controllers.add(ac)
  if (run.status !== 'running') ac.abort(new WeftError('CANCELLED', run.stopMessage()))
  let timeoutMs: number | undefined
  try {
    timeoutMs = run.timeoutOf(spec)
  } catch (err) {
    state.controllers.delete(ac)
    return run.settle(state, { ok: false, error: toErrorInfo(err, 'EXPRESSION_FAILED') })
  }
  const cancelTimer =
    timeoutMs === undefined
      ? undefined
      : run.clock.setTimer(() => ac.abort(new WeftError('NODE_TIMEOUT', `node "${spec.id}" exceeded its timeout of ${timeoutMs} ms`, { details: { timeout_ms: timeoutMs } })), timeoutMs)
  let outcome: TaskOutcome
  try {
    const { config, raw } = controlConfig(spec, run.scope)
    const ctx: ControlContext = {
      config,
      raw,
      signal: ac.signal,
      emit: (p) => run.progress(spec.id, p),
      run: { id: run.id, interactive: run.opts.interactive ?? false },
      node: { id: spec.id, type: spec.type, attempt: 1 },
      idempotencyKey: `${run.id}:${spec.id}:1`,
      workDir: run.workDir,
      providers: {},
      prompts: run.opts.pipeline.promptDirs,
      runChild: (extra, o) =>
        spec.steps
          ? runStepGraph(spec.steps, { ...run.scope, ...(toCel(extra) as Record<string, unknown>) }, o, {
              run: (step, scope, so, revision) => runChild(run, state, step, scope, so, revision),
              decide: (req, auto, signal) => requestDecision(run, state, req, signal, auto),
              owner: spec.id,
              runInfo: { id: run.id, interactive: run.opts.interactive ?? false },
              emit: (p) => run.progress(spec.id, p),
            })
          : runChild(run, state, state.spec.child as ChildNodeSpec, { ...run.scope, ...(toCel(extra) as Record<string, unknown>) }, o),
      rerun: (nodeId, revision) => rerun(run, state, nodeId, revision, ac.signal),
      requestDecision: (req, auto) => requestDecision(run, state, req, ac.signal, auto),
      outputOf: (id) => run.nodes.get(id)?.record.output ?? null,
    }
    // control nodes validate their config here, as workers do for theirs
    outcome = await executeControl(spec, ctx)
  } catch (err) {
    outcome = { ok: false, error: ac.signal.aborted ? toErrorInfo(ac.signal.reason, 'CANCELLED') : toErrorInfo(err, 'NODE_FAILED') }
  } finally {
    cancelTimer?.()
    state.controllers.delete(ac)
  }
  run.settle(state, outcome)
}

async function runChild(
  run: Run,
  state: NodeState,
  child: ChildNodeSpec,
  scope: Record<string, unknown>,
  o: { signal: AbortSignal; key: string; step?: string },
  revision?: Revision,
): Promise<ChildOutcome> {
  let config: unknown
  try {
    config = renderTemplate(child.template, scope)
  } catch (err) {
    return { ok: false, error: toErrorInfo(err, 'EXPRESSION_FAILED') }
  }
  const fields = { ...(config as Record<string, unknown>) }
  delete fields.type
  const taskId = `${state.spec.id}[${o.key}]${o.step ? `.${o.step}` : ''}`
  try {
    await run.acquire(state.spec.pool, o.signal)
  } catch (reason) {
    return { ok: false, error: toErrorInfo(reason, 'CANCELLED') }
  }
  try {
    const outcome = await run.attempts(
      state,
      taskId,
      child.type,
      child.module,
      fields,
      child.retry,
      child.timeoutMs,
      state.spec.pool,
      (p) => run.progress(state.spec.id, { ...p, item: o.key, ...(o.step ? { step: o.step } : {}), ...(revision ? { round: revision.round } : {}) }),
      () => {},
      o.signal,
      { revision, cache: child.cache, ...cacheTraits(child.def) },
    )
    if (!o.signal.aborted) run.progress(state.spec.id, itemEnded(o.key, o.step, outcome))
    return outcome
  } finally {
    run.release(state.spec.pool)
  }
}

/** Runs a worker node of the pipeline again, with a reviewer's revision, on behalf of the control node `state`. */
async function rerun(run: Run, state: NodeState, nodeId: string, revision: Revision, signal: AbortSignal): Promise<ChildOutcome> {
  const spec = run.opts.pipeline.nodes.get(nodeId)
  if (!spec) return { ok: false, error: { code: 'UNKNOWN_NODE', message: `node "${state.spec.id}" cannot re-run "${nodeId}": no such node`, retryable: false } }
  if (spec.def.runs === 'control')
    return {
      ok: false,
      error: { code: 'NOT_REVISABLE', message: `node "${nodeId}" (${spec.type}) cannot be re-run with feedback; gate a worker node (agent, critic_loop, render, a plugin)`, retryable: false },
    }
  let config: unknown
  let timeoutMs: number | undefined
  try {
    config = renderTemplate(spec.template, run.scope)
    timeoutMs = run.timeoutOf(spec)
  } catch (err) {
    return { ok: false, error: toErrorInfo(err, 'EXPRESSION_FAILED') }
  }
  try {
    await run.acquire(spec.pool, signal)
  } catch (reason) {
    return { ok: false, error: toErrorInfo(reason, 'CANCELLED') }
  }
  try {
    const onProgress = (p: Progress) => run.progress(state.spec.id, { ...p, revising: nodeId, round: revision.round })
    const outcome = await run.attempts(state, nodeId, spec.type, spec.module, config, spec.retry, timeoutMs, spec.pool, onProgress, () => {}, signal, {
      revision,
      cache: spec.cache,
      ...cacheTraits(spec.def),
    })
    // the revised output is the node's output from now on: for nodes that read it after the gate, and on resume
    const target = run.nodes.get(nodeId)
    if (outcome.ok && target) await run.revised(target, outcome.output, { round: revision.round, by: state.spec.id })
    return outcome
  } finally {
    run.release(spec.pool)
  }
}

/**
 * Asks for a decision at a gate, durably: the request is recorded (once per gate and revision) before anyone
 * is asked, and the decision is recorded exactly once — a decision taken before a restart is found again
 * instead of asking twice, and of two deciders (two clients, two processes) the first one stands.
 */
async function requestDecision(run: Run, state: NodeState, request: ApprovalRequest, signal: AbortSignal, auto?: Decision): Promise<Decision> {
  const store = run.opts.store
  const asked = { kind: 'approval.request' as const, runId: run.id, request }
  const requested = (extra: Record<string, unknown> = {}) =>
    run.event('approval.requested', state.spec.id, {
      gate: request.gate,
      value: request.value,
      allowed: request.allowed,
      revision: request.revision,
      ...(request.message ? { message: request.message } : {}),
      ...extra,
    })
  const earlier = await store.getApproval(run.id, request.gate, request.revision)
  if (earlier?.decision) {
    // decided before a restart; the process may have stopped between recording the decision and its event
    const events = await store.listEvents(run.id)
    const resolved = events.some((e) => e.type === 'approval.resolved' && e.payload.gate === request.gate && e.payload.revision === request.revision)
    if (!resolved) await run.record([run.event('approval.resolved', state.spec.id, { gate: request.gate, revision: request.revision, ...earlier.decision })])
    return earlier.decision
  }
  if (auto && !run.opts.interactive) {
    // an automated run: the gate's own policy decides, and the record says so
    await run.record([asked, requested({ automated: true })])
    const decided = await store.decideApproval(run.id, request.gate, request.revision, { ...auto, by: auto.by ?? 'auto' })
    const decision = decided?.decision ?? auto
    await run.record([run.event('approval.resolved', state.spec.id, { gate: request.gate, revision: request.revision, ...decision })])
    return decision
  }
  const source = run.opts.decisions
  if (!source) throw new WeftError('NO_DECISION_SOURCE', `node "${state.spec.id}" needs a decision but this run has no decision source`, { retryable: false })
  // a fan-out's items may wait at their gates at once: the node waits while any of them does
  state.gatesWaiting = (state.gatesWaiting ?? 0) + 1
  state.record.status = 'waiting'
  run.nodeScope[state.spec.id]!.status = 'waiting'
  run.waitingGates++
  let decision: Decision
  try {
    await run.record([{ kind: 'node.update', runId: run.id, node: { ...state.record } }, { kind: 'run.update', runId: run.id, patch: { status: 'awaiting_approval' } }, asked, requested()])
    // the run may have stopped while the request was being recorded
    signal.throwIfAborted()
    const answer = await source.decide(request, signal)
    // a decision recorded first by someone else (another client or process) is the one that stands
    decision = (await store.decideApproval(run.id, request.gate, request.revision, answer))?.decision ?? answer
  } finally {
    run.waitingGates--
    state.gatesWaiting--
  }
  if (state.gatesWaiting === 0) {
    state.record.status = 'running'
    run.nodeScope[state.spec.id]!.status = 'running'
  }
  await run.record([
    { kind: 'node.update', runId: run.id, node: { ...state.record } },
    ...(run.waitingGates === 0 && run.status === 'running' ? [{ kind: 'run.update' as const, runId: run.id, patch: { status: 'running' as const } }] : []),
    run.event('approval.resolved', state.spec.id, { gate: request.gate, revision: request.revision, ...decision }),
  ])
  return decision
}

/** A control node's rendered config, and the fields it resolves itself (deferred ones, its child spec) as written. */
export function controlConfig(spec: NodeSpec, scope: Record<string, unknown>): { config: Record<string, unknown>; raw: Record<string, unknown> } {
  const config = renderTemplate(spec.template, scope) as Record<string, unknown>
  const raw: Record<string, unknown> = {}
  for (const k of [...(spec.def.deferred ?? []), ...(spec.def.child ? [spec.def.child.field] : [])]) raw[k] = config[k]
  return { config, raw }
}

/** Validates a control node's config (keeping its raw fields) and runs it. */
export async function executeControl(spec: NodeSpec, ctx: ControlContext): Promise<TaskOutcome> {
  if (spec.def.config) {
    const { raw } = ctx
    const checked = await validateWith(spec.def.config, ctx.config, 'CONFIG_INVALID', `node "${spec.id}" (${spec.type}) got invalid fields`)
    ctx.config = { ...(checked as Record<string, unknown>), ...raw }
  }
  const output = await spec.def.execute(ctx)
  return { ok: true, output: output === undefined ? null : output }
}
