// The fleet's step function driven inside one process: the run's state in memory, its attempts on this process's
// executor, its writes to any RunStore, its timers on the Clock port. The same `step` a `weft worker` applies
// to the state it reads from Postgres, without the queue between the steps.
import path from 'node:path'
import { every, systemClock } from '../clock.ts'
import { toErrorInfo, WeftError } from '../errors.ts'
import type { Progress } from '../node-def.ts'
import type { ApprovalRequest, RunEvent, RunRecord, StoreWrite } from '../ports.ts'
import { claimLease, type RunOptions } from '../run-loop.ts'
import { applyEvent } from './apply.ts'
import { newRunRecord } from './new-run.ts'
import { gateKey, OPEN_TASK, type FleetState } from './state.ts'
import { newRunState, TERMINAL_RUN, type StepAction, type StepEvent } from './step.ts'
import { attemptOnce, throttledProgress } from './attempt.ts'

/**
 * Drops the tasks a step ended that no step consults again, as a fleet step's read leaves them out: those of a node
 * that is no longer running (a running control node still reads its children's outcomes); and, when a control node
 * ends, its children. What is left is what the next step needs, not every task the run ever had.
 */
function forgetEnded(state: FleetState, changed: ReadonlySet<string>): void {
  const active = (node: string) => {
    const s = state.run.nodes[node]?.status
    return s === 'running' || s === 'waiting'
  }
  for (const key of changed) {
    const t = state.tasks[key]
    if (!t || OPEN_TASK.has(t.status) || active(t.node)) continue
    delete state.tasks[key]
    if (t.kind === 'control') for (const [k, c] of Object.entries(state.tasks)) if (c.node === t.node && !OPEN_TASK.has(c.status)) delete state.tasks[k]
  }
}

/** Runs a pipeline to the end on the step function and returns its final record (a new run: no resume, no re-run). */
export async function driveSteps(opts: RunOptions): Promise<RunRecord> {
  if (opts.resume || opts.rerun) throw new WeftError('DRIVER_UNSUPPORTED', 'the step driver in one process starts new runs only: resume and re-run go through the run loop', { retryable: false })
  const clock = opts.clock ?? systemClock
  const { store, executor, pipeline } = opts
  const run = newRunRecord(pipeline, {
    inputs: opts.inputs,
    config: opts.config,
    now: clock.now(),
    ...(opts.interactive !== undefined ? { interactive: opts.interactive } : {}),
    ...(opts.sessionId !== undefined ? { sessionId: opts.sessionId } : {}),
    ...(opts.runId !== undefined ? { runId: opts.runId } : {}),
  })
  const workDir = path.resolve(opts.workDir ?? '.weft/runs')
  let state: FleetState = newRunState(run, workDir)
  const env = { pipeline, random: clock.random }

  /** Stores writes in order and tells the event sink what was stored. */
  const record = async (writes: StoreWrite[]): Promise<void> => {
    if (writes.length === 0) return
    await store.write(writes)
    for (const w of writes) if (w.kind === 'event') opts.events?.emit(w.event)
  }
  const event = (type: RunEvent['type'], payload: Record<string, unknown>, node?: string): StoreWrite => ({
    kind: 'event',
    event: { seq: ++state.seq, run_id: run.id, type, ...(node ? { node } : {}), timestamp: new Date(clock.now()).toISOString(), payload },
  })
  await record([{ kind: 'run.create', run: structuredClone(run) }, event('run.started', { pipeline: pipeline.name, nodes: Object.keys(run.nodes).length })])

  const lease = opts.lease
  const ttl = lease?.ttlMs ?? 30_000
  if (lease) await claimLease(store, run.id, lease.owner, ttl, clock)
  const stopRenewing = lease ? every(clock, Math.max(10, ttl / 3), () => void store.claimRun(run.id, lease.owner, ttl).catch(() => {}), { unref: true }) : undefined
  opts.onStart?.(run.id)

  let finish!: () => void
  let reject!: (err: unknown) => void
  const finished = new Promise<void>((resolve, no) => ((finish = resolve), (reject = no)))
  /** The first error of the driver's own work (a store write): the run's promise rejects with it, even after the end. */
  let failure: { err: unknown } | undefined
  const fail = (err: unknown): void => {
    failure ??= { err }
    reject(err)
  }
  /** Attempts running here, by task key: aborted when a step ends their task (cancelled, failed fast). */
  const inFlight = new Map<string, { fence: number; stop: AbortController }>()
  const timers = new Set<() => void>()
  const asking = new AbortController()
  let steps: Promise<void> = Promise.resolve()

  /** Applies events one at a time, as the fleet's row lock does; `before` changes the state first (what a store would hold). */
  const apply = (e: StepEvent, before?: () => boolean): Promise<void> =>
    (steps = steps
      .then(async () => {
        if (TERMINAL_RUN.has(state.run.status)) return
        if (before && !before()) return
        // this driver holds the only copy of the state: each step changes it in place
        const out = await applyEvent(state, e, { ...env, now: clock.now() }, { owned: true })
        state = out.state
        await record(out.writes)
        for (const key of out.changed) {
          const a = inFlight.get(key)
          const t = state.tasks[key]
          if (a && (t?.status !== 'running' || t.fence !== a.fence)) a.stop.abort(new WeftError('CANCELLED', `task "${key}" was ended by the run`))
        }
        forgetEnded(state, out.changed)
        for (const w of out.writes) if (w.kind === 'approval.request') ask(w.request)
        for (const a of out.actions) act(a)
      })
      .catch(fail))

  const act = (a: StepAction): void => {
    if (a.type === 'dispatch') return dispatch(a.key, a.fence)
    if (a.type === 'later') {
      const cancel = clock.setTimer(() => (timers.delete(cancel), void apply(a.event)), Math.max(0, a.at - clock.now()))
      timers.add(cancel)
      return
    }
    if (a.type === 'decide') {
      // recorded in turn with the steps, so the run's end waits for it
      steps = steps.then(() => store.decideApproval(run.id, a.gate, a.revision, a.decision)).then(() => {}, fail)
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
    const mine = { fence: task.fence, stop: new AbortController() }
    inFlight.set(key, mine)
    const claimed = structuredClone(task)
    const spec = task.spec
    const progress = throttledProgress(
      async (p: Progress) => {
        await (steps = steps.then(async () => {
          if (!TERMINAL_RUN.has(state.run.status)) await record([event('node.progress', { ...p, ...spec.progress }, spec.reportAs)])
        }))
      },
      fail,
      100,
      clock,
    )
    void attemptOnce(executor, claimed, run.id, mine.stop.signal, progress.report, opts.cache)
      .then(async (outcome) => {
        await progress.close()
        inFlight.delete(key)
        const now = state.tasks[key]
        if (now?.status === 'running' && now.fence === mine.fence) await apply({ type: 'settled', key, fence: mine.fence, outcome })
      })
      .catch(fail)
  }

  /** A gate waits for a decision: from the decision source, recorded once in the store, then stepped. */
  const ask = (request: ApprovalRequest): void => {
    const k = gateKey(request.gate, request.revision)
    if (state.gates[k]?.decision) return // decided by its own policy (an automated run)
    if (!opts.decisions) {
      void apply({ type: 'cancel', reason: { code: 'NO_DECISION_SOURCE', message: `gate "${request.gate}" asks for a decision and this run has no way to get one` } })
      return
    }
    opts.decisions.decide(request, asking.signal).then(
      async (decision) => {
        const res = await store.decideApproval(run.id, request.gate, request.revision, decision)
        if (!res) return
        await apply({ type: 'decided', gate: request.gate, revision: request.revision }, () => {
          const gate = state.gates[k]
          if (!gate || gate.decision) return false
          gate.decision = res.decision
          return true
        })
      },
      (err) => {
        if (!asking.signal.aborted) void apply({ type: 'cancel', reason: toErrorInfo(err, 'CANCELLED') })
      },
    )
  }

  const onCancel = () => void apply({ type: 'cancel', reason: toErrorInfo(opts.signal!.reason ?? new WeftError('CANCELLED', 'run cancelled'), 'CANCELLED') })
  if (opts.signal?.aborted) onCancel()
  else opts.signal?.addEventListener('abort', onCancel, { once: true })
  try {
    await apply({ type: 'start' })
    await finished
    await steps
    if (failure) throw failure.err
  } finally {
    opts.signal?.removeEventListener('abort', onCancel)
    asking.abort(new WeftError('CANCELLED', 'the run ended'))
    for (const cancel of timers) cancel()
    for (const a of inFlight.values()) a.stop.abort(new WeftError('CANCELLED', 'the run ended'))
    stopRenewing?.()
    if (lease) await store.releaseRun(run.id, lease.owner).catch(() => {})
  }
  return structuredClone(state.run)
}
