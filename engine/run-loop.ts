// The run loop: drives one run of a pipeline through the ports (executor, store, events, decisions, clock).
import { cacheTraits } from './cache/policy.ts'
import { randomUUID } from 'node:crypto'
import { setMaxListeners } from 'node:events'
import path from 'node:path'
import type { Pipeline, NodeSpec } from './dsl/pipeline.ts'
import type { Progress } from './node-def.ts'
import type { CacheNote, DecisionSource, EventSink, NodeExecutor, NodeRecord, NodeStatus, RunEvent, RunEventType, RunRecord, RunStatus, RunStore, StoreWrite, TaskOutcome } from './ports.ts'
import { renderTemplate, toCel } from './expressions.ts'
import { toErrorInfo, WeftError, type ErrorInfo } from './errors.ts'
import { admit, readiness } from './plan.ts'
import { systemClock, type Clock } from './clock.ts'
import { nodeTimeout, renderRunOutputs } from './run-outputs.ts'
import { Journal } from './journal.ts'
import { runAttempts, type AttemptArgs } from './run-attempts.ts'
import { runControl } from './run-control.ts'
import { buildGraph } from './graph.ts'
import { FLEET_OWNER } from './fleet/queue.ts'
import { topologicalSort } from 'graphology-dag'
import type { RunCachePolicy } from './cache/policy.ts'
import { addUsage, isEmpty, noUsage, type Usage } from './usage.ts'
import { budgetLimit, isBudgetStop } from './meter.ts'

export interface RunOptions {
  pipeline: Pipeline
  /** Run inputs, already checked and with defaults applied (see `resolveRunInputs`). */
  inputs: Record<string, unknown>
  /** The resolved config: defaults with the run's overrides. */
  config: Record<string, unknown>
  executor: NodeExecutor
  store: RunStore
  events?: EventSink
  /** Where approval decisions come from; required when the pipeline has approval gates. */
  decisions?: DecisionSource
  /** Aborting it cancels the run (running nodes see their signal abort). */
  signal?: AbortSignal
  clock?: Clock
  runId?: string
  /** The session the run belongs to (recorded with it; server generations). */
  sessionId?: string
  interactive?: boolean
  /** Base directory for run files; the run's own directory is `<workDir>/<run id>`. */
  workDir?: string
  /** Called with the run id as soon as the run is recorded (before any node starts). */
  onStart?: (runId: string) => void
  /**
   * Continue a recorded run instead of starting a new one: nodes that succeeded (or were skipped by
   * their `when`) keep their record and output and are not executed again; every other node runs.
   * `lastSeq` is the last event sequence number already stored for the run.
   */
  resume?: {
    record: RunRecord
    lastSeq: number
    /** Resume only if, once the lease is held, the stored run still has one of these statuses (else RUN_FINISHED). */
    onlyIf?: RunStatus[]
  }
  /**
   * Drive the run under a lease held in the store (renewed every third of `ttlMs`, default 30 s): a
   * second process cannot drive it at the same time, and a crashed owner's lease runs out.
   */
  lease?: { owner: string; ttlMs?: number }
  /**
   * A re-run of another run: these nodes' records (their outputs already moved into this run's folder) are kept and
   * not executed, like a resume's; a node is kept only with everything it needs. `of` is the run re-run.
   */
  rerun?: { of: string; kept: Record<string, NodeRecord> }
  /** Which nodes read and write the node cache (absent: none; the executor must be a caching one for it to matter). */
  cache?: RunCachePolicy
  /** How long writes nobody waits on (a node's start, progress) may wait to join the next durable one (ms, default 20). */
  lingerMs?: number
}

/** A node kept from an earlier attempt at the run (see `RunOptions.resume`). */
function keptFromEarlier(prev: NodeRecord | undefined, spec: NodeSpec): boolean {
  if (!prev || prev.type !== spec.type) return false
  return prev.status === 'succeeded' || (prev.status === 'skipped' && prev.skip_reason === '`when` was false')
}

export interface NodeState {
  spec: NodeSpec
  record: NodeRecord
  /** When the node started, in clock milliseconds. */
  startedMs?: number
  /** Dependencies not finished yet. */
  remaining: number
  dependents: NodeState[]
  controllers: Set<AbortController>
  /** Gates of this node waiting for a decision now (an approval's one; a fan-out's items' several). */
  gatesWaiting?: number
  /** What its attempts used so far (retries, a fan-out's items, a gate's revisions included). */
  usage?: Usage
}

export interface Slot {
  pool?: string | undefined
  start: () => void
}

const nowIso = (clock: Clock) => new Date(clock.now()).toISOString()

/** Runs a pipeline to the end and returns its final record. Node failures end in the record, not as exceptions. */
export async function runPipeline(opts: RunOptions): Promise<RunRecord> {
  const { resume, lease } = opts
  if (!resume || !lease) return new Run(opts).execute()
  // a resume takes the lease first and then reads the run again: what it keeps must be what the store holds now,
  // not what it held before (another process may have driven the run meanwhile, and died)
  const id = resume.record.id
  await claimLease(opts.store, id, lease.owner, lease.ttlMs ?? 30_000, opts.clock ?? systemClock)
  let fresh: RunOptions
  try {
    const record = await opts.store.getRun(id)
    if (!record) {
      throw resume.onlyIf ? new WeftError('RUN_FINISHED', `run ${id} is gone; not resumed`, { retryable: false }) : new WeftError('RUN_NOT_FOUND', `run ${id} is not recorded`, { retryable: false })
    }
    const later = await opts.store.listEvents(id, resume.lastSeq)
    fresh = { ...opts, resume: { ...resume, record, lastSeq: later.at(-1)?.seq ?? resume.lastSeq } }
  } catch (err) {
    await opts.store.releaseRun(id, lease.owner).catch(() => {})
    throw err
  }
  return new Run(fresh).execute()
}

/** Takes (or renews) a run's lease, or says who holds it and until when (RUN_LEASED). */
export async function claimLease(store: RunStore, id: string, owner: string, ttlMs: number, clock: Clock): Promise<void> {
  if (await store.claimRun(id, owner, ttlMs)) return
  const holder = await store.leaseHolder(id)
  if (holder?.owner === FLEET_OWNER) {
    // the fleet's lease never runs out: whether anything still drives the run is its status
    const status = (await store.getRun(id))?.status
    if (status === 'completed' || status === 'failed' || status === 'cancelled')
      throw new WeftError('RUN_FINISHED', `run ${id} ran on the fleet and has ended (${status}); a fleet run is not resumed: re-run it (\`weft rerun ${id}\`)`, { retryable: false })
    throw new WeftError('RUN_LEASED', `run ${id} is driven by the fleet (\`weft worker\` processes on its database); no single process resumes it`, { retryable: false, details: { holder } })
  }
  const who = holder?.pid != null ? `process ${holder.pid}${holder.host ? ` on ${holder.host}` : ''}` : 'another process'
  const left = holder ? Math.max(0, Math.ceil((Date.parse(holder.until) - clock.now()) / 1000)) : undefined
  const when = holder ? `; its lease expires at ${holder.until} (in ${left} s) unless that process renews it` : ''
  throw new WeftError('RUN_LEASED', `run ${id} is being driven by ${who}${when}`, { retryable: false, details: holder ? { holder } : undefined })
}

export class Run {
  readonly id: string
  readonly clock: Clock
  readonly journal: Journal
  readonly nodes = new Map<string, NodeState>()
  readonly scope: Record<string, unknown>
  readonly nodeScope: Record<string, { output: unknown; status: string; error: unknown; attempts: bigint }> = {}
  readonly queue: Slot[] = []
  readonly pools: Record<string, number>
  readonly poolRunning: Record<string, number> = {}
  readonly limit: number
  readonly workDir: string
  running = 0
  /** Approval gates waiting for a decision right now (the run is `awaiting_approval` while any is). */
  waitingGates = 0
  pumping = false
  pumpAgain = false
  unfinished = 0
  seq = 0
  status: RunStatus = 'running'
  stopReason: ErrorInfo | undefined
  failure: ErrorInfo | undefined
  currentStage: string | null = null
  done!: () => void
  storeError: unknown
  /** Nodes kept from an earlier attempt at this run (resume). */
  readonly kept: string[] = []
  /** Aborted when the run stops (fail-fast or cancellation): the signal of every attempt without its own timer. */
  readonly halt = new AbortController()
  /** `config.budget.usd` when the run has one: no provider call may take the run past it. */
  readonly budgetUsd: number | undefined
  /** What the run's node attempts have cost so far (kept nodes of a resume or re-run included). */
  spentUsd = 0
  /** Model calls made so far, and their output tokens (for the expected cost of the next call). */
  modelCalls = 0
  outputTokens = 0

  constructor(readonly opts: RunOptions) {
    this.id = opts.resume?.record.id ?? opts.runId ?? randomUUID()
    this.seq = opts.resume?.lastSeq ?? 0
    this.clock = opts.clock ?? systemClock
    // a node's start and progress may wait up to 20 ms to share a transaction with the next write that
    // must be durable (a completion): on a database that halves the round trips of a sequential graph
    this.journal = new Journal(opts.store, opts.lingerMs ?? 20, this.clock)
    this.limit = opts.pipeline.concurrency ?? Infinity
    this.pools = opts.pipeline.pools
    this.workDir = path.resolve(opts.workDir ?? '.weft/runs', this.id)
    this.budgetUsd = budgetLimit(opts.config)
    this.scope = {
      inputs: toCel(opts.inputs),
      config: toCel(opts.config),
      nodes: this.nodeScope,
      run: { id: this.id, interactive: opts.interactive ?? false },
    }
    for (const spec of opts.pipeline.nodes.values()) {
      const record: NodeRecord = { id: spec.id, type: spec.type, status: 'pending', attempts: 0, started_at: null, finished_at: null, duration_ms: null, output: null, error: null }
      if (spec.stage !== undefined) record.stage = spec.stage
      this.nodes.set(spec.id, { spec, record, remaining: spec.deps.length, dependents: [], controllers: new Set() })
      this.nodeScope[spec.id] = { output: null, status: 'pending', error: null, attempts: 0n }
    }
    // the DAG itself: who waits on whom
    const graph = buildGraph(opts.pipeline)
    for (const state of this.nodes.values()) graph.forEachOutNeighbor(state.spec.id, (id) => state.dependents.push(this.nodes.get(id)!))
    this.unfinished = this.nodes.size
    const earlier = opts.resume?.record.nodes ?? opts.rerun?.kept
    if (earlier) {
      // a node is kept only if everything it needs is kept too: its output was computed from theirs
      const keep = new Set([...this.nodes.values()].filter((st) => keptFromEarlier(earlier[st.spec.id], st.spec)).map((st) => st.spec.id))
      for (const id of topologicalSort(graph)) if (keep.has(id) && this.nodes.get(id)!.spec.deps.some((d) => !keep.has(d))) keep.delete(id)
      for (const state of this.nodes.values()) {
        const prev = earlier[state.spec.id]
        if (!keep.has(state.spec.id)) continue
        state.record = { ...prev! }
        this.kept.push(state.spec.id)
        if (prev!.usage) this.used(state, prev!.usage)
        const scope = this.nodeScope[state.spec.id]!
        scope.status = prev!.status
        scope.output = prev!.status === 'succeeded' ? toCel(prev!.output) : null
        scope.attempts = BigInt(prev!.attempts)
        this.unfinished--
        for (const dep of state.dependents) dep.remaining--
      }
    }
    // every running attempt without a timer listens on this one signal
    setMaxListeners(0, this.halt.signal)
  }

  async execute(): Promise<RunRecord> {
    const { pipeline } = this.opts
    const startedAt = nowIso(this.clock)
    const earlier = this.opts.resume?.record
    const run: RunRecord = {
      id: this.id,
      pipeline: { name: pipeline.name, version: pipeline.version, file: pipeline.file },
      status: 'running',
      interactive: this.opts.interactive ?? false,
      inputs: this.opts.inputs,
      config: this.opts.config,
      outputs: null,
      error: null,
      current_stage: earlier?.current_stage ?? null,
      created_at: earlier?.created_at ?? startedAt,
      started_at: earlier?.started_at ?? startedAt,
      finished_at: null,
      ...(this.opts.sessionId !== undefined ? { session_id: this.opts.sessionId } : earlier?.session_id ? { session_id: earlier.session_id } : {}),
      nodes: Object.fromEntries([...this.nodes.values()].map((s) => [s.spec.id, s.record])),
    }
    const lease = this.opts.lease
    const ttl = lease?.ttlMs ?? 30_000
    // a resume under a lease holds it already, and `earlier` was read once it did (see runPipeline)
    const onlyIf = this.opts.resume?.onlyIf
    if (earlier && onlyIf && !onlyIf.includes(earlier.status)) {
      // between the caller reading the record and the lease, someone may have ended the run (a cancel)
      if (lease) await this.opts.store.releaseRun(this.id, lease.owner)
      throw new WeftError('RUN_FINISHED', `run ${this.id} is ${earlier.status}; not resumed`, { retryable: false })
    }
    if (earlier) {
      // pending again: every node that will run now starts from a clean record
      const reset = [...this.nodes.values()].filter((s) => !this.kept.includes(s.spec.id)).map((s): StoreWrite => ({ kind: 'node.update', runId: this.id, node: { ...s.record } }))
      await this.record([
        { kind: 'run.update', runId: this.id, patch: { status: 'running', error: null, outputs: null, finished_at: null, inputs: this.opts.inputs, config: this.opts.config } },
        ...reset,
        this.event('run.resumed', undefined, { kept: this.kept, rerun: [...this.nodes.keys()].filter((id) => !this.kept.includes(id)) }),
      ])
    } else {
      // the store keeps what it is given: hand it a snapshot of the nodes, which go on changing here
      const created: RunRecord = { ...run, nodes: Object.fromEntries([...this.nodes.values()].map((s) => [s.spec.id, { ...s.record }])) }
      await this.record([
        { kind: 'run.create', run: created },
        this.event('run.started', undefined, { pipeline: pipeline.name, nodes: this.nodes.size, ...(this.opts.rerun ? { rerun_of: this.opts.rerun.of, kept: this.kept } : {}) }),
      ])
    }
    // a new run is leased once it exists
    if (!earlier && lease) await claimLease(this.opts.store, this.id, lease.owner, ttl, this.clock)
    // one renewal at a time (a slow store must not pile them up), and the last one awaited before the release:
    // a renewal landing after it would hold the lease of a run nobody drives
    let renewing: Promise<unknown> | undefined
    const renew = lease
      ? setInterval(
          () => {
            renewing ??= this.opts.store
              .claimRun(this.id, lease.owner, ttl)
              .then(
                (ok) => ok || this.onStoreError(new WeftError('LEASE_LOST', `run ${this.id} was taken over by another process`)),
                (err) => this.onStoreError(err),
              )
              .finally(() => (renewing = undefined))
          },
          Math.max(10, ttl / 3),
        )
      : undefined
    renew?.unref()
    this.opts.onStart?.(this.id)

    const onCancel = () => this.stop('cancelled', toErrorInfo(this.opts.signal!.reason ?? new WeftError('CANCELLED', 'run cancelled'), 'CANCELLED'))
    const finished = new Promise<void>((resolve) => (this.done = resolve))
    if (this.opts.signal?.aborted) onCancel()
    else this.opts.signal?.addEventListener('abort', onCancel, { once: true })
    try {
      for (const state of this.nodes.values()) if (state.remaining === 0 && state.record.status === 'pending') this.consider(state)
      this.pump()
      if (this.unfinished > 0) await finished
    } finally {
      this.opts.signal?.removeEventListener('abort', onCancel)
    }

    // another process holds the run now: leave its record to it
    if ((this.storeError as { code?: unknown } | undefined)?.code === 'LEASE_LOST') {
      if (renew) clearInterval(renew)
      throw this.storeError
    }
    run.status = this.status === 'cancelled' ? 'cancelled' : this.failure ? 'failed' : 'completed'
    if (run.status === 'completed') {
      try {
        run.outputs = this.renderOutputs()
      } catch (err) {
        run.status = 'failed'
        this.failure = toErrorInfo(err, 'OUTPUT_FAILED')
      }
    }
    run.error = run.status === 'cancelled' ? (this.stopReason ?? null) : (this.failure ?? null)
    run.finished_at = nowIso(this.clock)
    run.current_stage = this.currentStage
    run.nodes = Object.fromEntries([...this.nodes.values()].map((s) => [s.spec.id, s.record]))
    const type: RunEventType = run.status === 'completed' ? 'run.completed' : run.status === 'failed' ? 'run.failed' : 'run.cancelled'
    try {
      await this.journal.drain()
      await this.record([
        { kind: 'run.update', runId: this.id, patch: { status: run.status, outputs: run.outputs, error: run.error, finished_at: run.finished_at, current_stage: run.current_stage } },
        this.event(type, undefined, run.status === 'completed' ? { outputs: run.outputs } : { error: run.error }),
      ])
    } finally {
      // also when the store failed: this process stops driving the run, and another may resume it
      if (renew) clearInterval(renew)
      await renewing
      if (lease) await this.opts.store.releaseRun(this.id, lease.owner).catch(() => {})
    }
    if (this.storeError) throw this.storeError
    return run
  }

  /** A dependency-free or newly unblocked node: skip it, or queue it for a slot. */
  consider(state: NodeState): void {
    if (this.status !== 'running') return this.finish(state, 'skipped', { reason: this.status === 'cancelled' ? 'run cancelled' : 'run failed' })
    const verdict = readiness(
      state.spec.trigger,
      state.spec.deps.map((d) => ({ id: d, status: this.nodes.get(d)!.record.status })),
    )
    if (verdict.action === 'skip') return this.finish(state, 'skipped', { reason: verdict.reason })
    if (verdict.action === 'wait') return
    if (state.spec.when) {
      let ok: unknown
      try {
        ok = renderTemplate(state.spec.when, this.scope)
      } catch (err) {
        return this.finish(state, 'failed', { error: toErrorInfo(err, 'EXPRESSION_FAILED') })
      }
      if (ok !== true) {
        if (typeof ok !== 'boolean')
          return this.finish(state, 'failed', { error: { code: 'EXPRESSION_TYPE', message: `\`when\` must give true or false, got ${JSON.stringify(ok)}`, retryable: false } })
        return this.finish(state, 'skipped', { reason: '`when` was false' })
      }
    }
    if (state.spec.def.runs === 'control') {
      void this.runControl(state)
      return
    }
    this.enqueue(state.spec.pool, () => void this.runNode(state))
  }

  enqueue(pool: string | undefined, start: () => void): Slot {
    const slot: Slot = { pool, start }
    this.queue.push(slot)
    return slot
  }

  /** Waits for a slot of `pool` (and of the global cap); rejects, leaving the queue, if `signal` aborts first. */
  acquire(pool: string | undefined, signal?: AbortSignal): Promise<void> {
    return new Promise((resolve, reject) => {
      if (signal?.aborted) return reject(signal.reason)
      const onAbort = () => {
        const i = this.queue.indexOf(slot)
        if (i >= 0) this.queue.splice(i, 1)
        reject(signal!.reason)
      }
      const slot = this.enqueue(pool, () => {
        signal?.removeEventListener('abort', onAbort)
        resolve()
      })
      signal?.addEventListener('abort', onAbort, { once: true })
      this.pump()
    })
  }

  /**
   * Starts every queued piece of work that fits under the caps. Starting work can finish other work
   * synchronously (a node skipped because the run stopped), which calls back here: those calls only ask
   * for another round, so the stack stays flat however long the queue.
   */
  pump(): void {
    if (this.pumping) {
      this.pumpAgain = true
      return
    }
    this.pumping = true
    try {
      do {
        this.pumpAgain = false
        if (this.queue.length === 0) break
        const picked = admit(this.queue, { limit: this.limit, running: this.running, pools: this.pools, poolRunning: this.poolRunning })
        if (picked.length === 0) break
        const starting = picked.map((i) => this.queue[i]!)
        if (picked.length === this.queue.length) this.queue.length = 0
        else for (let k = picked.length - 1; k >= 0; k--) this.queue.splice(picked[k]!, 1)
        for (const slot of starting) {
          this.running++
          if (slot.pool !== undefined) this.poolRunning[slot.pool] = (this.poolRunning[slot.pool] ?? 0) + 1
          slot.start()
        }
      } while (this.pumpAgain)
    } finally {
      this.pumping = false
    }
  }

  release(pool: string | undefined): void {
    this.running--
    if (pool !== undefined) this.poolRunning[pool]!--
    this.pump()
  }

  markRunning(state: NodeState): void {
    const r = state.record
    r.status = 'running'
    state.startedMs = this.clock.now()
    r.started_at = new Date(state.startedMs).toISOString()
    this.nodeScope[r.id]!.status = 'running'
    if (state.spec.stage !== undefined && state.spec.stage !== this.currentStage) {
      this.currentStage = state.spec.stage
      this.recordLater([{ kind: 'run.update', runId: this.id, patch: { current_stage: this.currentStage } }, this.event('stage.changed', undefined, { stage: this.currentStage })])
    }
    this.recordLater([{ kind: 'node.update', runId: this.id, node: { ...r } }, this.event('node.started', r.id, { type: r.type }, r.started_at)])
  }

  /** A worker node: render its config, then attempts with timeout and retry. Holds a slot while it runs. */
  async runNode(state: NodeState): Promise<void> {
    const { spec } = state
    if (this.status !== 'running') {
      this.release(spec.pool)
      return this.finish(state, 'skipped', { reason: this.status === 'cancelled' ? 'run cancelled' : 'run failed' })
    }
    this.markRunning(state)
    let config: unknown
    let timeoutMs: number | undefined
    try {
      config = renderTemplate(spec.template, this.scope)
      timeoutMs = this.timeoutOf(spec)
    } catch (err) {
      this.release(spec.pool)
      return this.finish(state, 'failed', { error: toErrorInfo(err, 'EXPRESSION_FAILED') })
    }
    const outcome = await this.attempts(
      state,
      spec.id,
      spec.type,
      spec.module,
      config,
      spec.retry,
      timeoutMs,
      spec.pool,
      (p) => this.progress(spec.id, p),
      (n) => {
        state.record.attempts = n
        this.nodeScope[spec.id]!.attempts = BigInt(n)
      },
      undefined,
      { cache: spec.cache, ...cacheTraits(spec.def) },
    )
    this.release(spec.pool)
    this.settle(state, outcome)
  }

  /** The node's hard time limit: literal, or its `timeout:` expression evaluated now. */
  timeoutOf(spec: NodeSpec): number | undefined {
    return nodeTimeout(spec, this.scope)
  }

  /** Attempts of one task with timeout and retry (see `runAttempts`). */
  attempts(...args: AttemptArgs): Promise<TaskOutcome> {
    return runAttempts(this, ...args)
  }

  runControl(state: NodeState): Promise<void> {
    return runControl(this, state)
  }

  progress(nodeId: string, p: Progress): void {
    this.recordLater([this.event('node.progress', nodeId, { ...p })])
  }

  /** Records a node's end, then unblocks its dependents once the record is committed. */
  settle(state: NodeState, outcome: TaskOutcome): void {
    if (outcome.ok) return this.finish(state, 'succeeded', { output: outcome.output, ...(outcome.cache ? { cache: outcome.cache } : {}) })
    // work the run itself aborted (fail-fast, cancellation) ends as cancelled, not failed
    if (this.status !== 'running' && outcome.error.code === 'CANCELLED') return this.finish(state, 'cancelled', { error: outcome.error })
    this.finish(state, 'failed', { error: outcome.error })
  }

  finish(state: NodeState, status: NodeStatus, how: { output?: unknown; error?: ErrorInfo; reason?: string; cache?: CacheNote }): void {
    const r = state.record
    r.status = status
    const now = this.clock.now()
    r.finished_at = new Date(now).toISOString()
    if (state.startedMs !== undefined) r.duration_ms = now - state.startedMs
    if (how.output !== undefined) r.output = how.output
    if (how.error) r.error = { code: how.error.code, message: how.error.message, ...(how.error.details !== undefined ? { details: how.error.details } : {}) }
    if (how.reason) r.skip_reason = how.reason
    if (how.cache) r.cache = how.cache
    if (!isEmpty(state.usage)) r.usage = { ...state.usage! }
    const scope = this.nodeScope[r.id]!
    scope.status = status
    lazyOutput(scope, how.output)
    scope.error = r.error ? { code: r.error.code, message: r.error.message } : null
    const type: RunEventType = status === 'succeeded' ? 'node.completed' : status === 'failed' ? 'node.failed' : status === 'skipped' ? 'node.skipped' : 'node.cancelled'
    const payload: Record<string, unknown> = { status, attempts: r.attempts, duration_ms: r.duration_ms }
    if (r.error) payload.error = r.error
    if (how.reason) payload.reason = how.reason
    if (how.cache) payload.cache = how.cache
    if (r.usage) payload.usage = r.usage
    const writes: StoreWrite[] = [{ kind: 'node.update', runId: this.id, node: { ...r } }, this.event(type, r.id, payload, r.finished_at)]
    // a run out of budget stops, whatever a node's continue_on_error says
    if (status === 'failed' && (!state.spec.continueOnError || isBudgetStop(r.error)) && this.status === 'running') {
      this.failure = { code: r.error!.code, message: `node "${r.id}" failed: ${r.error!.message}`, details: { node: r.id } }
      this.stop('failed', this.failure)
    }
    this.recordThen(writes, (err) => {
      if (err !== undefined) this.onStoreError(err)
      this.afterCommit(state)
    })
  }

  /** Counts what an attempt of `state`'s node used, towards the node and the run. */
  used(state: NodeState, usage: Usage | undefined): void {
    if (!usage) return
    state.usage = addUsage(state.usage ?? noUsage(), usage)
    this.spentUsd = Math.round((this.spentUsd + usage.cost_usd) * 1e6) / 1e6
    this.modelCalls += usage.model_calls
    this.outputTokens += usage.output_tokens
  }

  /** Records a new output for a finished node that a gate sent back for revision (see run-control's `rerun`). */
  async revised(state: NodeState, output: unknown, how: { round: number; by: string }): Promise<void> {
    const r = state.record
    r.output = output
    r.finished_at = new Date(this.clock.now()).toISOString()
    lazyOutput(this.nodeScope[r.id]!, output)
    await this.record([
      { kind: 'node.update', runId: this.id, node: { ...r } },
      this.event('node.completed', r.id, { status: r.status, attempts: r.attempts, duration_ms: r.duration_ms, revision: how.round, revised_by: how.by }, r.finished_at),
    ])
  }

  afterCommit(state: NodeState): void {
    for (const dep of state.dependents) {
      if (--dep.remaining === 0 && dep.record.status === 'pending') this.consider(dep)
    }
    if (--this.unfinished === 0) this.done?.()
    else this.pump()
  }

  /** Stops the run: aborts running work; nodes not started yet are skipped as they come up. */
  stop(status: 'failed' | 'cancelled', reason: ErrorInfo): void {
    if (this.status !== 'running') return
    this.status = status
    this.stopReason = reason
    const why = new WeftError('CANCELLED', this.stopMessage())
    this.halt.abort(why)
    for (const state of this.nodes.values()) for (const ac of state.controllers) ac.abort(why)
  }

  stopMessage(): string {
    return this.status === 'cancelled' ? 'run cancelled' : `run stopped: ${this.failure?.message ?? 'a node failed'}`
  }

  onStoreError(err: unknown): void {
    if (this.storeError) return
    this.storeError = err
    const code = (err as { code?: unknown })?.code
    this.failure ??= code === 'LEASE_LOST' ? toErrorInfo(err) : { code: 'STORE_FAILED', message: `run could not be recorded: ${(err as Error)?.message ?? String(err)}` }
    this.stop('failed', this.failure)
  }

  event(type: RunEventType, node: string | undefined, payload: Record<string, unknown>, timestamp?: string): StoreWrite {
    const event: RunEvent = { seq: ++this.seq, run_id: this.id, type, timestamp: timestamp ?? nowIso(this.clock), payload }
    if (node !== undefined) event.node = node
    return { kind: 'event', event }
  }

  /** Commits writes, then hands their events to the sink (so nothing is shown that is not recorded). */
  record(writes: StoreWrite[]): Promise<void> {
    return new Promise((resolve, reject) => this.recordThen(writes, (err) => (err === undefined ? resolve() : reject(err))))
  }

  /** Like `record`, for writes nobody waits on; a store failure stops the run. */
  recordLater(writes: StoreWrite[]): void {
    this.recordThen(
      writes,
      (err) => {
        if (err !== undefined) this.onStoreError(err)
      },
      false,
    )
  }

  recordThen(writes: StoreWrite[], done: (err?: unknown) => void, urgent = true): void {
    this.journal.push(
      writes,
      (err) => {
        if (err === undefined) {
          const sink = this.opts.events
          if (sink) {
            for (const w of writes) {
              if (w.kind !== 'event') continue
              try {
                sink.emit(w.event)
              } catch {
                // a display or socket failing must not stop the run; the event is recorded all the same
              }
            }
          }
        }
        done(err)
      },
      urgent,
    )
  }

  renderOutputs(): Record<string, unknown> {
    return renderRunOutputs(this.opts.pipeline, (id) => this.nodes.get(id)?.record.status, this.scope)
  }
}

/** Sets a node's `output` in the expression scope, converted for CEL on first use: most outputs are never read by an expression. */
function lazyOutput(scope: { output: unknown }, output: unknown): void {
  let cel: unknown
  Object.defineProperty(scope, 'output', { get: () => (cel ??= output === undefined ? null : toCel(output)), enumerable: true, configurable: true })
}
