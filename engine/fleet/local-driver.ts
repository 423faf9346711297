// The fleet's step function driven inside one process: the run's state in memory, its attempts on this process's
// executor, its writes to any RunStore, its timers on the Clock port. The same `step` a `weft worker` applies
// to the state it reads from Postgres, without the queue between the steps.
import { setMaxListeners } from 'node:events'
import path from 'node:path'
import { every, systemClock } from '../clock.ts'
import { toErrorInfo, WeftError, type ErrorInfo } from '../errors.ts'
import { gateNode } from '../item-gate.ts'
import type { Progress } from '../node-def.ts'
import type { ApprovalRequest, Decision, RunEvent, RunRecord, RunStore, StoreWrite, TaskResult } from '../ports.ts'
import { keepable } from '../rerun.ts'
import { isTerminal } from '../plan.ts'
import { claimLease } from '../claim-lease.ts'
import type { RunOptions } from '../run-pipeline.ts'
import { applyEvent } from './apply.ts'
import { newRunRecord } from './new-run.ts'
import { gateKey, OPEN_TASK, type FleetState } from './state.ts'
import { newRunState, TERMINAL_RUN, type StepAction, type StepEvent } from './step.ts'
import { attemptOnce, throttledProgress } from './attempt.ts'
import { taskPrint } from './task-print.ts'
import { revisedNode } from './replay.ts'
import { attemptsReached } from './attempts-reached.ts'

/**
 * Drops the tasks a step ended that no step consults again, as a fleet step's read leaves them out: those of a node
 * that is no longer running (a running control node still reads its children's outcomes); and, when a control node
 * ends, its children. What is left is what the next step needs, not every task the run ever had.
 */
function forgetEnded(state: FleetState, changed: ReadonlySet<string>, inFlight: ReadonlyMap<string, unknown>): void {
  const active = (node: string) => {
    const s = state.run.nodes[node]?.status
    return s === 'running' || s === 'waiting'
  }
  for (const key of changed) {
    const t = state.tasks[key]
    // a cancelled task whose attempt is still out here is kept for what that attempt used
    if (!t || OPEN_TASK.has(t.status) || active(t.node) || inFlight.has(key)) continue
    delete state.tasks[key]
    if (t.kind === 'control') for (const [k, c] of Object.entries(state.tasks)) if (c.node === t.node && !OPEN_TASK.has(c.status) && !inFlight.has(k)) delete state.tasks[k]
  }
}

/** The record a run starts from here: a new one, a re-run's (its kept nodes as given) or a resumed one's (its kept nodes as recorded). */
function startingRecord(opts: RunOptions, now: number): { run: RunRecord; kept: string[] } {
  const { pipeline } = opts
  const earlier = opts.resume?.record
  const run = newRunRecord(pipeline, {
    inputs: opts.inputs,
    config: opts.config,
    now,
    ...(opts.interactive !== undefined ? { interactive: opts.interactive } : {}),
    ...(opts.sessionId !== undefined ? { sessionId: opts.sessionId } : earlier?.session_id != null ? { sessionId: earlier.session_id } : {}),
    ...(earlier ? { runId: earlier.id } : opts.runId !== undefined ? { runId: opts.runId } : {}),
  })
  if (earlier) Object.assign(run, { created_at: earlier.created_at, started_at: earlier.started_at ?? run.started_at, current_stage: earlier.current_stage })
  const from = earlier?.nodes ?? opts.rerun?.kept
  const kept = from ? keepable(pipeline, from) : []
  for (const id of kept) run.nodes[id] = structuredClone(from![id]!)
  // a resumed node that runs again keeps what its attempts before the stop used (failed and stopped ones were paid
  // for too): its record starts afresh, its usage does not
  for (const [id, node] of earlier ? Object.entries(run.nodes) : []) {
    const usage = earlier!.nodes[id]?.usage
    if (usage && !kept.includes(id)) node.usage = structuredClone(usage)
  }
  return { run, kept }
}

/**
 * A resumed run's pieces of work that succeeded before it stopped, of the nodes that run again: reused, not paid for
 * twice. A gate's revision of a node (`gate~node#r1`) only while that node keeps its record: it revised that output.
 */
function doneEarlier(state: FleetState, all: readonly TaskResult[], kept: readonly string[]): void {
  const results = all.filter((r) => {
    const revised = revisedNode(r.key)
    return !kept.includes(r.node) && (revised === undefined || kept.includes(revised))
  })
  if (results.length) state.earlier = Object.fromEntries(results.map((r) => [r.key, r]))
}

/**
 * A resumed run's gates that were decided and resolved before it stopped: their decisions stand (nobody is asked
 * again) and their `approval.resolved` events are not written twice.
 */
async function decidedEarlier(state: FleetState, store: RunStore, events: readonly RunEvent[]): Promise<void> {
  const resolved = events.filter((e) => e.type === 'approval.resolved')
  for (const e of resolved) {
    const gate = String(e.payload.gate)
    const revision = Number(e.payload.revision)
    const approval = await store.getApproval(state.run.id, gate, revision)
    if (!approval?.decision) continue
    const k = gateKey(gate, revision)
    state.gates[k] = { request: approval.request, decision: approval.decision }
    ;(state.resolvedEarlier ??= []).push(k)
  }
}

/**
 * Runs a pipeline to the end on the step function in this process and returns its final record: a new run, a
 * re-run (`opts.rerun`) or a resumed one (`opts.resume`, whose lease the caller holds already if it has one).
 * Node failures end in the record; a store failure stops the run where it is and rejects (another process may
 * resume it): nothing is recorded after a write that failed.
 */
export async function driveSteps(opts: RunOptions): Promise<RunRecord> {
  const clock = opts.clock ?? systemClock
  const { store, executor, pipeline, lease } = opts
  const earlier = opts.resume?.record
  const onlyIf = opts.resume?.onlyIf
  if (earlier && onlyIf && !onlyIf.includes(earlier.status)) {
    // between the caller reading the record and the lease, someone may have ended the run (a cancel)
    if (lease) await store.releaseRun(earlier.id, lease.owner)
    throw new WeftError('RUN_FINISHED', `run ${earlier.id} is ${earlier.status}; not resumed`, { retryable: false })
  }
  const { run, kept } = startingRecord(opts, clock.now())
  // a resumed run goes on in the folder it was recorded writing in (its kept outputs are there), whoever resumes it;
  // a new one's folder is recorded, so that a resume or a re-run finds it
  const workDir = earlier?.folder ? path.dirname(earlier.folder) : path.resolve(opts.workDir ?? '.weft/runs')
  run.folder = path.join(workDir, run.id)
  let state: FleetState = newRunState(run, workDir, opts.cache?.refresh)
  state.seq = opts.resume?.lastSeq ?? 0
  const env = { pipeline, random: clock.random }

  let finish!: () => void
  let reject!: (err: unknown) => void
  const finished = new Promise<void>((resolve, no) => ((finish = resolve), (reject = no)))
  finished.catch(() => {}) // awaited below; a failure before that point is thrown from there
  /** The first error of the driver's own work (a store write, the lease): nothing is recorded after it, and the run's promise rejects with it. */
  let failure: { err: unknown } | undefined
  const fail = (err: unknown): void => {
    failure ??= { err }
    reject(err)
  }

  /** Stores writes in order and tells the event sink what was stored (a display or a socket failing does not stop the run). */
  const record = async (writes: StoreWrite[]): Promise<void> => {
    if (writes.length === 0) return
    await store.write(writes)
    for (const w of writes) {
      if (w.kind !== 'event') continue
      try {
        opts.events?.emit(w.event)
      } catch {
        // the sink's own failure: what it shows is behind, what is recorded is not
      }
    }
  }
  const event = (type: RunEvent['type'], payload: Record<string, unknown>, node?: string): StoreWrite => ({
    kind: 'event',
    event: { seq: ++state.seq, run_id: run.id, type, ...(node ? { node } : {}), timestamp: new Date(clock.now()).toISOString(), payload },
  })
  /** Attempts running here, by task key: aborted when a step ends their task (cancelled, failed fast). */
  const inFlight = new Map<string, { fence: number; stop: AbortController }>()
  /**
   * What stops every worker node's attempt: a step ends such a task only when it stops the whole run (a fan-out's
   * items and a gate's revisions may be ended one by one, and have a signal each). One signal for them all, where
   * one per attempt costs an AbortController and a listener per node.
   */
  const runStop = new AbortController()
  // every running attempt (and the node code under it) listens to it: as many listeners as attempts, by design
  setMaxListeners(0, runStop.signal)
  /** Their promises, each settled once its outcome is stepped: the run's end waits for the attempts it stopped. */
  const attempts = new Set<Promise<void>>()
  const timers = new Set<() => void>()
  /** Gates asked of the decision source and not yet answered, each with what tells the source to stop asking. */
  const asking = new Map<string, AbortController>()
  let ended = false
  let steps: Promise<void> = Promise.resolve()
  /** Appends work to the steps' order; it is skipped once the run has ended or the driver failed. */
  const inTurn = (work: () => Promise<void>): Promise<void> =>
    (steps = steps
      .then(async () => {
        if (!failure && !TERMINAL_RUN.has(state.run.status)) await work()
      })
      .catch(fail))

  /** Step events waiting for their turn, each with what changes the state first (what a store would hold). */
  const pending: Array<{ e: StepEvent; before: (() => boolean) | undefined }> = []
  let draining: Promise<void> | undefined
  /**
   * Applies events one at a time, as the fleet's row lock does; `before` changes the state first. Events that arrive
   * while a step's writes are being stored wait, and are then applied together, their writes stored as one batch (many
   * attempts ending at once cost one write, not one each); the promise settles once the event's writes are stored.
   */
  const apply = (e: StepEvent, before?: () => boolean): Promise<void> => {
    pending.push({ e, before })
    return (draining ??= steps = steps.then(drain).catch(fail))
  }
  const drain = async (): Promise<void> => {
    draining = undefined
    if (failure) return void (pending.length = 0)
    const writes: StoreWrite[] = []
    const changed = new Set<string>()
    const actions: StepAction[] = []
    for (const { e, before } of pending.splice(0)) {
      if (before && !before()) continue
      // this driver holds the only copy of the state: each step changes it in place
      const out = await applyEvent(state, e, { ...env, now: clock.now() }, { owned: true })
      state = out.state
      writes.push(...out.writes)
      for (const key of out.changed) changed.add(key)
      actions.push(...out.actions)
    }
    for (const key of changed) {
      // a piece of a node's work that succeeded is kept for a resume, in the same commit as what it changed
      const t = state.tasks[key]
      if (t?.status === 'succeeded' && t.spec && t.outcome?.ok && (t.kind === 'child' || t.kind === 'revise'))
        writes.push({ kind: 'task.result', runId: run.id, result: { key, node: t.node, print: taskPrint(t.spec), outcome: t.outcome } })
    }
    await record(writes)
    for (const key of changed) {
      const a = inFlight.get(key)
      const t = state.tasks[key]
      if (a && (t?.status !== 'running' || t.fence !== a.fence))
        a.stop.abort(new WeftError('CANCELLED', a.stop === runStop ? `the run stopped: ${state.run.error?.message ?? state.run.status}` : `task "${key}" was ended by the run`))
    }
    forgetEnded(state, changed, inFlight)
    for (const w of writes) if (w.kind === 'approval.request') ask(w.request)
    for (const a of actions) act(a)
    if (asking.size) withdraw()
  }

  const act = (a: StepAction): void => {
    if (a.type === 'dispatch') return dispatch(a.key, a.fence)
    if (a.type === 'later') {
      const cancel = clock.setTimer(() => (timers.delete(cancel), void apply(a.event)), Math.max(0, a.at - clock.now()))
      timers.add(cancel)
      return
    }
    if (a.type === 'decide') {
      // recorded in turn with the steps, so the run's end waits for it
      steps = steps
        .then(async () => {
          if (!failure) await store.decideApproval(run.id, a.gate, a.revision, a.decision)
        })
        .catch(fail)
      return
    }
    if (a.type === 'finished') finish()
  }

  /** Claims a dispatched task as a worker would (a new fence), runs its attempt here and settles it. */
  const dispatch = (key: string, fence: number): void => {
    const task = state.tasks[key]
    if (!task?.spec || task.status !== 'queued' || task.fence !== fence) return
    task.status = 'running'
    task.fence++
    const mine = { fence: task.fence, stop: task.kind === 'node' ? runStop : new AbortController() }
    inFlight.set(key, mine)
    // what the attempt reads of its task, as claimed (the state's copy goes on changing)
    const claimed = { ...task }
    const spec = task.spec
    const progress = throttledProgress((p: Progress) => inTurn(() => record([event('node.progress', { ...p, ...spec.progress }, spec.reportAs)])), fail, 100, clock)
    const attempt = attemptOnce(executor, claimed, run.id, mine.stop.signal, progress.report, opts.cache)
      .then(async (outcome) => {
        await progress.close()
        // its outcome, or, for an attempt the run stopped, what it used (which was paid for); the task stays
        // in the state until then (see forgetEnded)
        await apply({ type: 'settled', key, fence: mine.fence, outcome }, () => {
          inFlight.delete(key)
          const now = state.tasks[key]
          return now?.fence === mine.fence && (now.status === 'running' || (now.status === 'cancelled' && outcome.usage !== undefined))
        })
      })
      .catch(fail)
    attempts.add(attempt)
    void attempt.finally(() => attempts.delete(attempt))
  }

  /** Steps a gate's decision once it is recorded in the store. */
  const decided = (request: ApprovalRequest, decision: Decision): Promise<void> =>
    apply({ type: 'decided', gate: request.gate, revision: request.revision }, () => {
      const gate = state.gates[gateKey(request.gate, request.revision)]
      if (!gate || gate.decision) return false
      gate.decision = decision
      return true
    })

  /** A gate waits for a decision: one recorded before a resume stands; else the decision source's, recorded once in the store. */
  const ask = (request: ApprovalRequest): void => {
    const k = gateKey(request.gate, request.revision)
    if (state.gates[k]?.decision || asking.has(k)) return // decided by its own policy (an automated run), or asked already
    const stop = new AbortController()
    asking.set(k, stop)
    /** No decision can come: the gate fails (its node or item), as its error policy says. */
    const undecidable = (error: ErrorInfo): Promise<void> =>
      apply({ type: 'decided', gate: request.gate, revision: request.revision }, () => {
        const gate = state.gates[k]
        if (!gate || gate.decision || gate.error) return false
        gate.error = error
        return true
      })
    const asked = async (): Promise<void> => {
      // a resumed run's gate may have been decided before the run stopped: that decision stands, and nobody is asked again
      const recorded = earlier ? (await store.getApproval(run.id, request.gate, request.revision))?.decision : undefined
      if (recorded) return decided(request, recorded)
      if (!opts.decisions) return undecidable({ code: 'NO_DECISION_SOURCE', message: `gate "${request.gate}" asks for a decision and this run has no way to get one`, retryable: false })
      let decision: Decision
      try {
        decision = await opts.decisions.decide(request, stop.signal)
      } catch (err) {
        if (!stop.signal.aborted && !ended) await undecidable(toErrorInfo(err, 'CANCELLED'))
        return
      }
      const res = await store.decideApproval(run.id, request.gate, request.revision, decision)
      if (res) await decided(request, res.decision)
    }
    asked()
      .finally(() => asking.delete(k))
      .catch(fail)
  }

  /** Tells the decision source to stop asking about gates nothing waits on any more (a timeout, a failed sibling item, the node ended). */
  const withdraw = (): void => {
    for (const [k, stop] of asking) {
      const gate = state.gates[k]
      const owner = gate && gateNode(gate.request.gate)
      const node = owner ? state.run.nodes[owner] : undefined
      const waited = gate && !gate.decision && !gate.error && (node?.status === 'running' || node?.status === 'waiting') && state.tasks[owner!]?.memo?.waiting?.includes(k)
      if (waited) continue
      asking.delete(k)
      stop.abort(new WeftError('CANCELLED', `gate "${gate?.request.gate ?? k}" no longer waits for a decision`))
    }
  }

  const ttl = lease?.ttlMs ?? 30_000
  let renewing: Promise<unknown> | undefined
  let stopRenewing: (() => void) | undefined
  const onCancel = () => void apply({ type: 'cancel', reason: toErrorInfo(opts.signal!.reason ?? new WeftError('CANCELLED', 'run cancelled'), 'CANCELLED') })
  try {
    if (earlier) {
      const log = await store.listEvents(run.id)
      const results = await store.taskResults(run.id)
      await decidedEarlier(state, store, log)
      doneEarlier(state, results, kept)
      const reached = attemptsReached(
        log,
        kept,
        results.map((r) => r.key),
      )
      if (Object.keys(reached).length) state.attemptsEarlier = reached
      // pending again: every node that runs now starts from a clean record
      const again = Object.keys(run.nodes).filter((id) => !kept.includes(id))
      await record([
        {
          kind: 'run.update',
          runId: run.id,
          // a run recorded without a session gets its own (named by its id) as it goes on, as a new one does
          patch: {
            status: 'running',
            error: null,
            outputs: null,
            finished_at: null,
            inputs: opts.inputs,
            config: opts.config,
            folder: run.folder,
            ...(earlier.session_id ? {} : { session_id: run.session_id }),
          },
        },
        ...again.map((id): StoreWrite => ({ kind: 'node.update', runId: run.id, node: structuredClone(run.nodes[id]!) })),
        ...goneWrites(earlier, run, clock.now(), event),
        event('run.resumed', { kept, rerun: again }),
      ])
    } else {
      await record([
        { kind: 'run.create', run: snapshotOf(run) },
        event('run.started', { pipeline: pipeline.name, nodes: Object.keys(run.nodes).length, ...(opts.rerun ? { rerun_of: opts.rerun.of, kept } : {}) }),
      ])
      // a new run is leased once it exists (a resumed one's lease is held already)
      if (lease) await claimLease(store, run.id, lease.owner, ttl, clock)
    }
    // one renewal at a time (a slow store must not pile them up); the last one is awaited before the release, as a
    // renewal landing after it would hold the lease of a run nobody drives
    if (lease) {
      const renew = () => {
        renewing ??= store
          .claimRun(run.id, lease.owner, ttl)
          .then((ok) => ok || fail(new WeftError('LEASE_LOST', `run ${run.id} was taken over by another process`, { retryable: false })), fail)
          .finally(() => (renewing = undefined))
      }
      stopRenewing = every(clock, Math.max(10, ttl / 3), renew, { unref: true })
    }
    opts.onStart?.(run.id)
    if (opts.signal?.aborted) onCancel()
    else opts.signal?.addEventListener('abort', onCancel, { once: true })
    await apply({ type: 'start' })
    await finished
    await steps
    if (failure) throw failure.err
  } finally {
    opts.signal?.removeEventListener('abort', onCancel)
    ended = true
    for (const stop of asking.values()) stop.abort(new WeftError('CANCELLED', 'the run ended'))
    for (const cancel of timers) cancel()
    // the shared signal only when the run did not complete (as a step stops it): node code that left a listener on it
    // is not told to stop work that finished
    if (state.run.status !== 'completed') runStop.abort(new WeftError('CANCELLED', 'the run ended'))
    for (const a of inFlight.values()) if (a.stop !== runStop) a.stop.abort(new WeftError('CANCELLED', 'the run ended'))
    // what the stopped attempts used is recorded before the run is handed back (a node that ignores its signal is
    // killed with its thread after a grace period)
    if (!failure) {
      await Promise.allSettled([...attempts])
      await steps
    }
    stopRenewing?.()
    await renewing
    // also when the store failed: this process stops driving the run, and another may resume it
    if (lease) await store.releaseRun(run.id, lease.owner).catch(() => {})
  }
  // a copy: the memory store keeps the values the steps wrote, which the caller must not reach
  return structuredClone(state.run)
}

/**
 * The nodes a resumed run's record holds that its pipeline no longer has (renamed or removed in the file), left
 * unfinished when it stopped: skipped, so that no node of an ended run stays pending or running. Ended ones stay.
 */
function goneWrites(earlier: RunRecord, run: RunRecord, now: number, event: (type: RunEvent['type'], payload: Record<string, unknown>, node?: string) => StoreWrite): StoreWrite[] {
  const reason = 'no longer in the pipeline'
  return Object.values(earlier.nodes)
    .filter((n) => !run.nodes[n.id] && !isTerminal(n.status))
    .flatMap((n) => [
      { kind: 'node.update', runId: run.id, node: { ...n, status: 'skipped', finished_at: new Date(now).toISOString(), skip_reason: reason } },
      event('node.skipped', { status: 'skipped', attempts: n.attempts, duration_ms: n.duration_ms, reason }, n.id),
    ])
}

/**
 * A copy of a run record that stays as it is while the driver changes the record: the driver sets a node's fields and
 * the run's, and replaces (never changes in place) the values they hold. Costs a node's fields per node, where a deep
 * copy costs every value's (a 1000-node run: ~0.1 ms against ~1 ms).
 */
function snapshotOf(run: RunRecord): RunRecord {
  const nodes: RunRecord['nodes'] = {}
  for (const id in run.nodes) nodes[id] = { ...run.nodes[id]! }
  return { ...run, nodes }
}
