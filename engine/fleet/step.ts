// The fleet's scheduling as a pure function: step(state, event) → { state, writes, actions }. No I/O, no clock of
// its own: a driver reads the state, applies one event, commits the writes and carries out the actions.
import { cacheTraits } from '../cache/policy.ts'
import type { NodeSpec, Pipeline } from '../dsl/pipeline.ts'
import type { Progress } from '../node-def.ts'
import type { ApprovalRequest, CacheNote, Decision, NodeRecord, NodeStatus, RunEvent, RunEventType, RunStatus, StoreWrite, TaskOutcome, TaskResult } from '../ports.ts'
import { toErrorInfo, type ErrorInfo } from '../errors.ts'
import { renderTemplate, toCel } from '../expressions.ts'
import { admit, backoffDelay, isTerminal, readiness } from '../plan.ts'
import { itemEnded } from '../item-progress.ts'
import { nodeTimeout, renderRunOutputs } from '../run-outputs.ts'
import { gateNode } from '../item-gate.ts'
import { addUsage, noUsage, type Usage } from '../usage.ts'
import { budgetNow, isBudgetStop } from '../meter.ts'
import { gateKey, OPEN_TASK, type FleetState, type FleetTask, type TaskSpec } from './state.ts'
import { pipelineIndex } from './pipeline-index.ts'
import { taskPrint } from './task-print.ts'

/** What a control node's replay found: its outcome once it has one, else what it waits on now. */
export interface ReplayResult {
  outcome?: TaskOutcome
  /** Tasks it waits on; an open task of the node it no longer waits on is cancelled. */
  demands: Array<{ key: string; kind: 'child' | 'revise'; spec: TaskSpec }>
  /** Gates it waits on a decision for. */
  requests: ApprovalRequest[]
  /** Gates an automated run decided by their own policy. */
  autoDecided: Array<{ request: ApprovalRequest; decision: Decision }>
  /** Decisions it read, in order. */
  consumed: Array<{ gate: string; revision: number; decision: Decision }>
  /** Every progress report of the node so far, in order (a replay reports them all again). */
  emits: Progress[]
}

export type StepEvent =
  | { type: 'start' }
  /** An attempt ended on a worker holding `fence`. */
  | { type: 'settled'; key: string; fence: number; outcome: TaskOutcome }
  /** The worker holding `fence` stopped renewing its heartbeat. */
  | { type: 'lost'; key: string; fence: number }
  /** A backoff ended. */
  | { type: 'wake'; key: string }
  /** A decision was recorded for a gate (the state holds it). */
  | { type: 'decided'; gate: string; revision: number }
  /** A control node's timeout. */
  | { type: 'deadline'; node: string }
  | { type: 'cancel'; reason: ErrorInfo }
  /** A control node was replayed (see `replayControl`). */
  | { type: 'replayed'; node: string; result: ReplayResult }

export type StepAction =
  /** Enqueue an attempt of the task for a worker, claimable with this fence. */
  | { type: 'dispatch'; key: string; fence: number; queue?: string }
  /** Apply `event` to the run at clock time `at`. */
  | { type: 'later'; at: number; event: StepEvent }
  /** Replay a control node and apply the result as a `replayed` event. */
  | { type: 'replay'; node: string }
  /** Record an automated run's decision at a gate. */
  | { type: 'decide'; gate: string; revision: number; decision: Decision }
  | { type: 'finished'; status: RunStatus }

export interface StepEnv {
  pipeline: Pipeline
  /** Clock milliseconds of this step. */
  now: number
  random: () => number
  /** How many times a task's worker may be lost before the task fails with WORKER_LOST (default 3). */
  lostLimit?: number
}

export interface StepResult {
  state: FleetState
  /** Records and events, in order; commit them with the changed tasks in one transaction. */
  writes: StoreWrite[]
  /** Keys of tasks created or changed. */
  changed: string[]
  actions: StepAction[]
}

/** Applies one event to a run's state. The input state is not changed. */
export function step(state: FleetState, event: StepEvent, env: StepEnv): StepResult {
  return advance(structuredClone(state), event, env)
}

/**
 * `step` for a driver that owns the state (it read it for this step, or holds the only copy): the state given is
 * changed and returned, without the copy that costs O(size of the run) per event.
 */
export function advance(state: FleetState, event: StepEvent, env: StepEnv): StepResult {
  const s = new Stepper(state, env)
  s.apply(event)
  return { state: s.state, writes: s.writes, changed: [...s.changed], actions: s.actions }
}

/** The statuses a run ends in. */
export const TERMINAL_RUN: ReadonlySet<RunStatus> = new Set(['completed', 'failed', 'cancelled'])

/** The expression scope of a run's nodes, read from the records as they are now. */
function nodeScope(nodes: Record<string, NodeRecord>): Record<string, unknown> {
  const scope: Record<string, unknown> = {}
  for (const id of Object.keys(nodes)) {
    let seen: unknown
    let cel: unknown = null
    scope[id] = {
      get output() {
        const r = nodes[id]!
        if (r.status !== 'succeeded' && r.status !== 'waiting' && r.status !== 'running') return null
        if (r.output !== seen) [seen, cel] = [r.output, r.output === undefined || r.output === null ? null : toCel(r.output)]
        return cel
      },
      get status() {
        return nodes[id]!.status
      },
      get error() {
        const e = nodes[id]!.error
        return e ? { code: e.code, message: e.message } : null
      },
      get attempts() {
        return BigInt(nodes[id]!.attempts)
      },
    }
  }
  return scope
}

/** Scopes already built, by run record: the node views read the records live, and inputs and config never change. */
const scopes = new WeakMap<FleetState['run'], { nodes: FleetState['run']['nodes']; scope: Record<string, unknown> }>()

/** The expression scope of a run: built once per copy of its record (a driver stepping one copy in place builds it once). */
export function runScope(state: FleetState): Record<string, unknown> {
  const run = state.run
  const known = scopes.get(run)
  if (known && known.nodes === run.nodes) return known.scope
  const scope = { inputs: toCel(run.inputs), config: toCel(run.config), nodes: nodeScope(run.nodes), run: { id: run.id, interactive: run.interactive } }
  scopes.set(run, { nodes: run.nodes, scope })
  return scope
}

/**
 * Per copy of a run's node records: how many of each node's dependencies, in order, were seen finished; by the node's
 * spec, so that a pipeline loaded again (a kept state stepped with a new copy) counts afresh.
 */
const finishedDeps = new WeakMap<FleetState['run']['nodes'], WeakMap<NodeSpec, number>>()

/**
 * Whether every dependency of a node has finished. A node's status never leaves a terminal one, so what was seen
 * finished is not looked at again: a node with many dependencies, considered as each of them ends, costs its
 * dependencies once in all, not once per dependency.
 */
function depsFinished(nodes: FleetState['run']['nodes'], spec: NodeSpec): boolean {
  let seen = finishedDeps.get(nodes)
  if (!seen) finishedDeps.set(nodes, (seen = new WeakMap()))
  let i = seen.get(spec) ?? 0
  while (i < spec.deps.length && isTerminal(nodes[spec.deps[i]!]!.status)) i++
  seen.set(spec, i)
  return i === spec.deps.length
}

/**
 * Per copy of a run's tasks: whether the last step left ready tasks waiting for a slot. A task becomes ready only in a
 * step, so a step that made none ready, after one that left none waiting, has nothing to start and skips the scan.
 */
const waitingForSlot = new WeakMap<FleetState['tasks'], boolean>()

/** The last step's time as ISO text: steps come many to a millisecond, and formatting a date costs more than a step's other work. */
let lastIso = { ms: Number.NaN, text: '' }
function isoOf(ms: number): string {
  if (ms !== lastIso.ms) lastIso = { ms, text: new Date(ms).toISOString() }
  return lastIso.text
}

class Stepper {
  readonly writes: StoreWrite[] = []
  readonly changed = new Set<string>()
  readonly actions: StepAction[] = []
  readonly scope: Record<string, unknown>
  readonly iso: string
  failure: ErrorInfo | undefined

  constructor(
    readonly state: FleetState,
    readonly env: StepEnv,
  ) {
    this.scope = runScope(state)
    this.iso = isoOf(env.now)
  }

  get run() {
    return this.state.run
  }

  spec(id: string): NodeSpec {
    return this.env.pipeline.nodes.get(id)!
  }

  apply(e: StepEvent): void {
    // an ended run takes one event still: an attempt it stopped, coming back with what it used
    if (TERMINAL_RUN.has(this.run.status) && e.type !== 'settled') return
    switch (e.type) {
      case 'start':
        for (const spec of this.env.pipeline.nodes.values()) if (this.run.nodes[spec.id]?.status === 'pending') this.consider(spec.id)
        break
      case 'settled':
        this.settled(e.key, e.fence, e.outcome)
        break
      case 'lost':
        this.lost(e.key, e.fence)
        break
      case 'wake': {
        const t = this.state.tasks[e.key]
        if (t?.status === 'backoff') this.setTask(t, { status: 'ready' })
        break
      }
      case 'decided': {
        const gate = this.state.gates[gateKey(e.gate, e.revision)]
        const owner = gate && gateNode(gate.request.gate)
        if (owner && this.isActive(owner)) this.actions.push({ type: 'replay', node: owner })
        break
      }
      case 'deadline': {
        const ctl = this.state.tasks[e.node]
        if (ctl?.kind !== 'control' || !this.isActive(e.node) || ctl.memo?.deadline === undefined) break
        // the timer fired early by this clock (clocks differ between processes): it is set again, not lost
        if (this.env.now < ctl.memo.deadline) {
          this.actions.push({ type: 'later', at: ctl.memo.deadline + Math.max(100, ctl.memo.deadline - this.env.now), event: e })
          break
        }
        const ms = ctl.memo.deadline - ctl.memo.startedMs
        this.closeControl(e.node, { ok: false, error: { code: 'NODE_TIMEOUT', message: `node "${e.node}" exceeded its timeout of ${ms} ms`, details: { timeout_ms: ms } } })
        break
      }
      case 'cancel':
        this.stop('cancelled', e.reason)
        break
      case 'replayed':
        this.replayed(e.node, e.result)
        break
    }
    this.admit()
    this.maybeFinish()
  }

  isActive(id: string): boolean {
    const s = this.run.nodes[id]?.status
    return s === 'running' || s === 'waiting'
  }

  event(type: RunEventType, node: string | undefined, payload: Record<string, unknown>): void {
    const event: RunEvent = { seq: ++this.state.seq, run_id: this.run.id, type, timestamp: this.iso, payload }
    if (node !== undefined) event.node = node
    this.writes.push({ kind: 'event', event })
  }

  nodeUpdate(r: NodeRecord): void {
    this.writes.push({ kind: 'node.update', runId: this.run.id, node: { ...r } })
  }

  runUpdate(patch: Extract<StoreWrite, { kind: 'run.update' }>['patch']): void {
    Object.assign(this.run, patch)
    this.writes.push({ kind: 'run.update', runId: this.run.id, patch })
  }

  setTask(t: FleetTask, patch: Partial<FleetTask>): void {
    Object.assign(t, patch)
    this.changed.add(t.key)
  }

  newTask(task: Omit<FleetTask, 'position' | 'fence' | 'outcome' | 'memo'> & Partial<Pick<FleetTask, 'memo'>>): FleetTask {
    const t: FleetTask = { position: this.state.nextPosition++, fence: 0, outcome: null, memo: null, ...task }
    // a resumed run's piece of work goes on from the attempt it had reached before the stop
    const carried = t.kind === 'control' ? undefined : this.state.attemptsEarlier?.[t.key]
    if (carried !== undefined) {
      delete this.state.attemptsEarlier![t.key]
      // within the budget the pipeline gives it now (it may have been lowered since)
      t.attempt = Math.min(carried, t.spec?.retry.attempts ?? carried)
    }
    this.state.tasks[t.key] = t
    this.changed.add(t.key)
    return t
  }

  /** A pending node whose dependencies may all have finished: skip it, fail it, or start it. */
  consider(id: string): void {
    const spec = this.spec(id)
    const rec = this.run.nodes[id]!
    if (rec.status !== 'pending') return
    if (!depsFinished(this.run.nodes, spec)) return
    const verdict = readiness(
      spec.trigger,
      spec.deps.map((d) => ({ id: d, status: this.run.nodes[d]!.status })),
    )
    if (verdict.action === 'wait') return
    if (this.run.status !== 'running' && this.run.status !== 'awaiting_approval') return this.finishNode(id, 'skipped', { reason: 'run stopped' })
    if (this.failure || this.stopping) return this.finishNode(id, 'skipped', { reason: this.stopping === 'cancelled' ? 'run cancelled' : 'run failed' })
    if (verdict.action === 'skip') return this.finishNode(id, 'skipped', { reason: verdict.reason })
    if (spec.when) {
      let ok: unknown
      try {
        ok = renderTemplate(spec.when, this.scope)
      } catch (err) {
        return this.finishNode(id, 'failed', { error: toErrorInfo(err, 'EXPRESSION_FAILED') })
      }
      if (ok !== true) {
        if (typeof ok !== 'boolean')
          return this.finishNode(id, 'failed', { error: { code: 'EXPRESSION_TYPE', message: `\`when\` must give true or false, got ${JSON.stringify(ok)}`, retryable: false } })
        return this.finishNode(id, 'skipped', { reason: '`when` was false' })
      }
    }
    let config: unknown
    let timeoutMs: number | undefined
    try {
      timeoutMs = nodeTimeout(spec, this.scope)
      if (spec.def.runs !== 'control') config = renderTemplate(spec.template, this.scope)
    } catch (err) {
      return this.finishNode(id, 'failed', { error: toErrorInfo(err, 'EXPRESSION_FAILED') })
    }
    if (spec.def.runs === 'control') {
      // counted before the record is written: the stored record is the one in memory
      rec.attempts = 1
      this.markRunning(id)
      const deadline = timeoutMs === undefined ? undefined : this.env.now + timeoutMs
      this.newTask({
        key: id,
        kind: 'control',
        node: id,
        status: 'running',
        attempt: 1,
        spec: null,
        memo: { emitted: 0, announced: [...(this.state.resolvedEarlier ?? [])], startedMs: this.env.now, ...(deadline !== undefined ? { deadline } : {}) },
      })
      if (deadline !== undefined) this.actions.push({ type: 'later', at: deadline, event: { type: 'deadline', node: id } })
      this.actions.push({ type: 'replay', node: id })
      return
    }
    this.newTask({ key: id, kind: 'node', node: id, status: 'ready', attempt: 1, spec: this.taskSpec(spec, config, timeoutMs, id, spec.pool) })
  }

  stopping: 'failed' | 'cancelled' | undefined

  taskSpec(
    spec: { type: string; module: string; retry: TaskSpec['retry']; cache?: boolean; def?: { cache?: boolean } },
    config: unknown,
    timeoutMs: number | undefined,
    reportAs: string,
    pool?: string,
  ): TaskSpec {
    return {
      type: spec.type,
      module: spec.module,
      config,
      retry: spec.retry,
      ...(timeoutMs !== undefined ? { timeoutMs } : {}),
      ...(pool !== undefined ? { pool } : {}),
      ...(spec.cache !== undefined ? { cache: spec.cache } : {}),
      ...(spec.def ? cacheTraits(spec.def) : {}),
      ...budgetNow(this.run),
      ...(this.state.refresh?.includes(reportAs) ? { refresh: true } : {}),
      reportAs,
      workDir: this.state.workDir,
      prompts: this.env.pipeline.promptDirs,
      interactive: this.run.interactive,
    }
  }

  markRunning(id: string): void {
    const r = this.run.nodes[id]!
    const spec = this.spec(id)
    r.status = 'running'
    r.started_at = this.iso
    if (spec.stage !== undefined && spec.stage !== this.run.current_stage) {
      this.runUpdate({ current_stage: spec.stage })
      this.event('stage.changed', undefined, { stage: spec.stage })
    }
    this.nodeUpdate(r)
    this.event('node.started', id, { type: r.type })
  }

  /** Starts every ready task that fits under the run's caps (`concurrency`, pools), in the order they were asked for. */
  admit(): void {
    // nothing made ready by this step and nothing left waiting for a slot by the last one: nothing to start
    const tasks = this.state.tasks
    if (waitingForSlot.get(tasks) === false && ![...this.changed].some((k) => tasks[k]?.status === 'ready')) return
    // one pass, no copies: it runs on every event, over every task the state holds
    const ready: FleetTask[] = []
    let running = 0
    const poolRunning: Record<string, number> = {}
    for (const key in tasks) {
      const t = tasks[key]!
      if (t.status === 'ready') ready.push(t)
      else if (t.kind !== 'control' && (t.status === 'queued' || t.status === 'running')) {
        running++
        const pool = t.spec?.pool
        if (pool !== undefined) poolRunning[pool] = (poolRunning[pool] ?? 0) + 1
      }
    }
    if (ready.length === 0) return void waitingForSlot.set(tasks, false)
    ready.sort((a, b) => a.position - b.position)
    const picked = admit(
      ready.map((t) => ({ pool: t.spec?.pool })),
      { limit: this.env.pipeline.concurrency ?? Infinity, running, pools: this.env.pipeline.pools, poolRunning },
    )
    waitingForSlot.set(tasks, picked.length < ready.length)
    for (const i of picked) {
      const t = ready[i]!
      if (t.kind === 'node' && this.run.nodes[t.node]!.status === 'pending') this.markRunning(t.node)
      // the budget as it stands when the task goes out (a retry, or a task made before others spent)
      const budget = t.spec?.budget ? budgetNow(this.run).budget : undefined
      this.setTask(t, budget ? { status: 'queued', spec: { ...t.spec!, budget } } : { status: 'queued' })
      const queue = t.spec?.pool === undefined ? undefined : this.env.pipeline.queues?.[t.spec.pool]
      this.actions.push({ type: 'dispatch', key: t.key, fence: t.fence, ...(queue ? { queue } : {}) })
    }
  }

  /** `kept`: the outcome is one recorded before a resume (see `reuse`), and the events say so. */
  settled(key: string, fence: number, outcome: TaskOutcome, kept = false): void {
    const t = this.state.tasks[key]
    if (t?.status === 'cancelled' && t.fence === fence && outcome.usage) return this.stoppedUsage(t, outcome.usage)
    // a worker that lost the task (cancelled, or handed to another after its heartbeat lapsed) cannot settle it
    if (!t || t.fence !== fence || t.status !== 'running' || !t.spec) return
    // what the attempt used counts towards its node whatever came of it (a failed call was paid for too)
    if (outcome.usage) {
      const r = this.run.nodes[t.node]!
      r.usage = addUsage({ ...(r.usage ?? noUsage()) }, outcome.usage)
      // recorded now: a retry, an item or a revision may not write the node again until it ends
      this.nodeUpdate(r)
    }
    const ownerActive = this.isActive(t.node)
    if (!outcome.ok && outcome.error.retryable !== false && t.attempt < t.spec.retry.attempts && ownerActive) {
      const delay = backoffDelay(t.spec.retry, t.attempt + 1, this.env.random)
      this.event('node.retrying', t.node, { attempt: t.attempt, next_attempt: t.attempt + 1, delay_ms: delay, error: outcome.error, ...(t.key !== t.node ? { task: t.key } : {}) })
      // the failed attempt's outcome stays with the task while it waits: a cancel meanwhile names that error
      this.setTask(t, { status: 'backoff', attempt: t.attempt + 1, outcome })
      this.actions.push({ type: 'later', at: this.env.now + delay, event: { type: 'wake', key } })
      return
    }
    this.setTask(t, { status: outcome.ok ? 'succeeded' : 'failed', outcome })
    if (!ownerActive) return
    if (t.kind === 'child' && typeof t.spec.progress?.item === 'string') {
      const step = typeof t.spec.progress.step === 'string' ? t.spec.progress.step : undefined
      this.event('node.progress', t.node, { ...itemEnded(t.spec.progress.item, step, outcome), task: t.key, ...(kept ? { kept: true } : {}) })
    }
    if (t.kind === 'node') {
      this.run.nodes[t.node]!.attempts = t.attempt
      if (outcome.ok) this.finishNode(t.node, 'succeeded', { output: outcome.output, ...(outcome.cache ? { cache: outcome.cache } : {}) })
      else this.finishNode(t.node, 'failed', { error: outcome.error })
      return
    }
    if (t.kind === 'revise' && outcome.ok && t.spec.target) {
      // the revised output is the gated node's output from now on: for nodes that read it after the gate
      const r = this.run.nodes[t.spec.target]!
      r.output = outcome.output
      r.finished_at = this.iso
      this.nodeUpdate(r)
      this.event('node.completed', r.id, { status: r.status, attempts: r.attempts, duration_ms: r.duration_ms, revision: t.spec.revision?.round, revised_by: t.node, ...(kept ? { kept: true } : {}) })
    }
    this.actions.push({ type: 'replay', node: t.node })
  }

  /**
   * A task of a resumed run: it ends with the result recorded before the stop when it asks for the same as then and
   * no step before it in its item executed anew in this run (what that step made may differ, under the same names);
   * else it is left to run, and the later steps of its item run too.
   */
  fromEarlier(t: FleetTask, spec: TaskSpec): void {
    const item = t.kind === 'child' && spec.progress?.item !== undefined ? `${t.node}[${String(spec.progress.item)}]` : undefined
    const kept = this.state.earlier![t.key]
    if (kept && kept.print === taskPrint(spec) && !(item !== undefined && this.state.freshItems?.includes(item))) return this.reuse(t, kept.outcome)
    if (item !== undefined && !this.state.freshItems?.includes(item)) (this.state.freshItems ??= []).push(item)
  }

  /**
   * A resumed run's task whose request succeeded before the run stopped: it ends with that result, as if its attempt
   * had just come back, and nothing runs. What it used is not added again: its node's usage carries over from before.
   */
  reuse(t: FleetTask, outcome: TaskResult['outcome']): void {
    delete this.state.earlier![t.key]
    this.setTask(t, { status: 'running' })
    const { usage: _, ...result } = outcome
    this.settled(t.key, t.fence, result, true)
  }

  /**
   * What an attempt used that came back after its task was cancelled (the run stopped, a sibling failed): it was
   * paid for, so it counts towards its node, once (the task's fence moves on, so the same attempt cannot count
   * twice). Only the driver in one process, which waits for the attempts it stopped, reports these.
   */
  stoppedUsage(t: FleetTask, usage: Usage): void {
    const r = this.run.nodes[t.node]!
    r.usage = addUsage({ ...(r.usage ?? noUsage()) }, usage)
    this.nodeUpdate(r)
    this.setTask(t, { fence: t.fence + 1 })
  }

  lost(key: string, fence: number): void {
    const t = this.state.tasks[key]
    if (!t || t.fence !== fence || t.status !== 'running') return
    const lost = (t.lost ?? 0) + 1
    const limit = this.env.lostLimit ?? 3
    if (lost > limit) {
      this.setTask(t, { lost, status: 'running' })
      return this.settled(key, fence, { ok: false, error: { code: 'WORKER_LOST', message: `the worker running "${key}" was lost ${lost} times; not tried again`, retryable: false } })
    }
    // the same attempt again, elsewhere: a lost worker does not count against the node's retry budget
    this.event('node.retrying', t.node, {
      attempt: t.attempt,
      next_attempt: t.attempt,
      delay_ms: 0,
      error: { code: 'WORKER_LOST', message: `the worker running "${key}" stopped renewing its heartbeat` },
      ...(t.key !== t.node ? { task: t.key } : {}),
    })
    this.setTask(t, { lost, status: 'ready' })
  }

  replayed(id: string, r: ReplayResult): void {
    const ctl = this.state.tasks[id]
    if (!ctl?.memo || !this.isActive(id)) return
    const memo = ctl.memo
    for (const p of r.emits.slice(memo.emitted)) this.event('node.progress', id, { ...p })
    memo.emitted = Math.max(memo.emitted, r.emits.length)
    for (const { request, decision } of r.autoDecided) {
      const k = gateKey(request.gate, request.revision)
      if (this.state.gates[k]) continue
      this.state.gates[k] = { request, decision }
      this.writes.push({ kind: 'approval.request', runId: this.run.id, request })
      this.event('approval.requested', id, requestedPayload(request, { automated: true }))
      this.actions.push({ type: 'decide', gate: request.gate, revision: request.revision, decision })
    }
    for (const c of r.consumed) {
      const k = gateKey(c.gate, c.revision)
      if (memo.announced.includes(k)) continue
      memo.announced.push(k)
      this.event('approval.resolved', id, { gate: c.gate, revision: c.revision, ...c.decision })
    }
    for (const request of r.requests) {
      const k = gateKey(request.gate, request.revision)
      if (this.state.gates[k]) continue
      this.state.gates[k] = { request, decision: null }
      this.writes.push({ kind: 'approval.request', runId: this.run.id, request })
      this.event('approval.requested', id, requestedPayload(request))
    }
    memo.waiting = r.requests.map((q) => gateKey(q.gate, q.revision))
    const wanted = new Set(r.demands.map((d) => d.key))
    for (const d of r.demands) {
      if (this.state.tasks[d.key]) continue
      const t = this.newTask({ key: d.key, kind: d.kind, node: id, status: 'ready', attempt: 1, spec: d.spec })
      if (this.state.earlier) this.fromEarlier(t, d.spec)
    }
    this.changed.add(id)
    if (r.outcome) return this.closeControl(id, r.outcome)
    // what it no longer waits on (items of a fan-out stopped by a failed item) is stopped
    for (const t of Object.values(this.state.tasks)) {
      if (t.node === id && t.kind !== 'control' && OPEN_TASK.has(t.status) && !wanted.has(t.key)) this.cancelTask(t)
    }
    const rec = this.run.nodes[id]!
    const waiting = r.requests.length > 0
    if (waiting !== (rec.status === 'waiting')) {
      rec.status = waiting ? 'waiting' : 'running'
      this.nodeUpdate(rec)
    }
    this.gateStatus()
  }

  /** The run is `awaiting_approval` while any gate waits for a decision. */
  gateStatus(): void {
    if (this.run.status !== 'running' && this.run.status !== 'awaiting_approval') return
    const waiting = Object.values(this.run.nodes).some((n) => n.status === 'waiting')
    const status: RunStatus = waiting ? 'awaiting_approval' : 'running'
    if (status !== this.run.status) this.runUpdate({ status })
  }

  cancelTask(t: FleetTask, why = 'no longer needed'): void {
    this.setTask(t, { status: 'cancelled', outcome: { ok: false, error: { code: 'CANCELLED', message: why } } })
  }

  closeControl(id: string, outcome: TaskOutcome): void {
    const ctl = this.state.tasks[id]!
    for (const t of Object.values(this.state.tasks)) if (t.node === id && t.kind !== 'control' && OPEN_TASK.has(t.status)) this.cancelTask(t, `node "${id}" finished`)
    this.setTask(ctl, { status: outcome.ok ? 'succeeded' : 'failed', outcome })
    if (outcome.ok) this.finishNode(id, 'succeeded', { output: outcome.output })
    else this.finishNode(id, 'failed', { error: outcome.error })
    this.gateStatus()
  }

  finishNode(id: string, status: NodeStatus, how: { output?: unknown; error?: ErrorInfo; reason?: string; cache?: CacheNote }): void {
    const r = this.run.nodes[id]!
    r.status = status
    r.finished_at = this.iso
    if (r.started_at) r.duration_ms = this.env.now - Date.parse(r.started_at)
    if (how.output !== undefined) r.output = how.output
    if (how.error) r.error = { code: how.error.code, message: how.error.message, ...(how.error.details !== undefined ? { details: how.error.details } : {}) }
    if (how.reason) r.skip_reason = how.reason
    if (how.cache) r.cache = how.cache
    const type: RunEventType = status === 'succeeded' ? 'node.completed' : status === 'failed' ? 'node.failed' : status === 'skipped' ? 'node.skipped' : 'node.cancelled'
    const payload: Record<string, unknown> = { status, attempts: r.attempts, duration_ms: r.duration_ms }
    if (r.error) payload.error = r.error
    if (how.reason) payload.reason = how.reason
    if (how.cache) payload.cache = how.cache
    if (r.usage) payload.usage = r.usage
    this.nodeUpdate(r)
    this.event(type, id, payload)
    if (status === 'failed' && (!this.spec(id).continueOnError || isBudgetStop(r.error)) && !this.stopping) {
      this.failure = { code: r.error!.code, message: `node "${id}" failed: ${r.error!.message}`, details: { node: id } }
      this.stop('failed', this.failure)
    }
    for (const dependent of pipelineIndex(this.env.pipeline).dependents.get(id) ?? []) this.consider(dependent)
  }

  /** Fail-fast or cancellation: running work is cancelled at once (workers holding it are fenced out); the rest is skipped. */
  stop(status: 'failed' | 'cancelled', reason: ErrorInfo): void {
    if (this.stopping) return
    this.stopping = status
    if (status === 'cancelled') this.failure = reason
    const message = status === 'cancelled' ? 'run cancelled' : `run stopped: ${this.failure?.message ?? 'a node failed'}`
    // a node waiting out its backoff: the attempts it made, and the error of the last one
    const waited = new Map<string, { attempts: number; error: ErrorInfo | undefined }>()
    for (const t of Object.values(this.state.tasks)) {
      if (t.kind === 'node' && t.status === 'backoff') waited.set(t.node, { attempts: t.attempt - 1, error: t.outcome && !t.outcome.ok ? t.outcome.error : undefined })
    }
    for (const t of Object.values(this.state.tasks)) if (OPEN_TASK.has(t.status) || (t.kind === 'control' && t.status === 'running')) this.cancelTask(t, message)
    for (const r of Object.values(this.run.nodes)) {
      if (r.status !== 'running' && r.status !== 'waiting') continue
      const own = this.state.tasks[r.id]
      const wait = waited.get(r.id)
      if (own?.kind === 'node') r.attempts = wait ? wait.attempts : own.attempt
      const nodeError = wait?.error ? { node_error: { code: wait.error.code, message: wait.error.message } } : undefined
      this.finishNode(r.id, 'cancelled', { error: { code: 'CANCELLED', message, ...(nodeError ? { details: nodeError } : {}) } })
    }
    for (const spec of this.env.pipeline.nodes.values()) this.consider(spec.id)
  }

  maybeFinish(): void {
    if (TERMINAL_RUN.has(this.run.status)) return
    const nodes = this.run.nodes
    if (pipelineIndex(this.env.pipeline).lastFirst.some((id) => nodes[id] !== undefined && !isTerminal(nodes[id].status))) return
    let status: RunStatus = this.stopping === 'cancelled' ? 'cancelled' : this.stopping === 'failed' || this.failure ? 'failed' : 'completed'
    let outputs: Record<string, unknown> | null = null
    let error: ErrorInfo | null = status === 'completed' ? null : (this.failure ?? null)
    if (status === 'completed') {
      try {
        outputs = renderRunOutputs(this.env.pipeline, (id) => this.run.nodes[id]?.status, this.scope)
      } catch (err) {
        status = 'failed'
        error = toErrorInfo(err, 'OUTPUT_FAILED')
      }
    }
    this.runUpdate({ status, outputs, error, finished_at: this.iso, current_stage: this.run.current_stage })
    const type: RunEventType = status === 'completed' ? 'run.completed' : status === 'failed' ? 'run.failed' : 'run.cancelled'
    this.event(type, undefined, status === 'completed' ? { outputs } : { error })
    this.actions.push({ type: 'finished', status })
  }
}

function requestedPayload(request: ApprovalRequest, extra: Record<string, unknown> = {}): Record<string, unknown> {
  return { gate: request.gate, value: request.value, allowed: request.allowed, revision: request.revision, ...(request.message ? { message: request.message } : {}), ...extra }
}

/** A new run's state: every node pending. */
export function newRunState(run: FleetState['run'], workDir: string, refresh?: readonly string[]): FleetState {
  return { run, tasks: {}, gates: {}, seq: 0, nextPosition: 0, workDir, cancel: null, ...(refresh?.length ? { refresh: [...refresh] } : {}) }
}
