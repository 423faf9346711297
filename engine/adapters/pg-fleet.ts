// The fleet on Postgres: a run's state read under its row lock, a step applied, and the result committed with the
// jobs it enqueues (graphile-worker's `add_job`) in the same transaction, so no crash can strand a run between them.
import path from 'node:path'
import { and, eq, getTableColumns, inArray, notInArray, sql, type SQL } from 'drizzle-orm'
import { drizzle } from 'drizzle-orm/postgres-js'
import { LRUCache } from 'lru-cache'
import type { Sql } from 'postgres'
import { pipelinedTx } from '../db/pipelined-tx.ts'
import { Statement, type PgConn } from '../db/statement.ts'
import type { Pipeline } from '../dsl/pipeline.ts'
import type { RunRecord, StoreWrite, TaskOutcome } from '../ports.ts'
import { toErrorInfo, WeftError, type ErrorInfo } from '../errors.ts'
import { planBatch } from '../db/batch.ts'
import { approvals, fleetRuns, fleetTasks, fleetWorkers, generationEvents, generationNodes, generations } from '../db/schema.ts'
import { readRun } from '../db/records.ts'
import { endRunWrites } from '../end-run-writes.ts'
import { NODE_ORDER, settledInOrder, writePlanIn, type PgDb } from './pg-store.ts'
import type { FleetState, FleetTask } from '../fleet/state.ts'
import { DONE, FINISHED_TASK, loadState, readOneTask, readTask, RUNNING, StateCheckFailed, taskRow, type Cached, type Loaded } from './pg-fleet-state.ts'
import { newRunState, TERMINAL_RUN, type StepAction, type StepEnv, type StepEvent } from '../fleet/step.ts'
import { applyEvent, type Applied } from '../fleet/apply.ts'
import { attemptTask, EVENTS_CHANNEL, FLEET_LEASE_UNTIL, FLEET_OWNER, QUEUE_SCHEMA, type Job } from '../fleet/queue.ts'
import { jobCall } from '../db/add-job.ts'

export { QUEUE_SCHEMA }

export type { Job }

export interface FleetEnv {
  /**
   * The pipeline a run was started from (workers load it from the recorded file). `recheck`: the pipeline last loaded
   * does not fit the run; read the file's version now, not the one read within the last second.
   */
  pipelineOf(run: RunRecord, opts?: { recheck?: boolean }): Promise<Pipeline>
  now?: () => number
  random?: () => number
  lostLimit?: number
  /** How many runs' states a process keeps between their steps (default 64). */
  cachedRuns?: number
  /** Checks each kept state brought up to date against a whole read (default: `WEFT_FLEET_CHECK=1`); a test's guard. */
  checkCached?: boolean
}

type Tx = PgConn

const run = sql.placeholder('run')
const key = sql.placeholder('key')
const fence = sql.placeholder('fence')

// statements sent for every node of a run, each built once
const statements = {
  hasDone: new Statement({ key: fleetTasks.key }, (db) =>
    db
      .select({ key: fleetTasks.key })
      .from(fleetTasks)
      .where(and(eq(fleetTasks.runId, run), DONE))
      .limit(1),
  ),
  claim: new Statement(getTableColumns(fleetTasks), (db) =>
    db
      .update(fleetTasks)
      .set({ status: 'running', fence: sql`${fleetTasks.fence} + 1`, worker: sql`${sql.placeholder('worker')}`, heartbeatAt: sql`now()` })
      .where(and(eq(fleetTasks.runId, run), eq(fleetTasks.key, key), eq(fleetTasks.status, 'queued'), eq(fleetTasks.fence, fence)))
      .returning(),
  ),
}

/** Whether attempts of the run ended that no step has settled yet. */
async function hasDone(db: Tx, runId: string): Promise<boolean> {
  const [row] = await statements.hasDone.run(db, { run: runId })
  return row !== undefined
}

/** The seq of a run's next event (call it with the run's row locked). */
async function nextSeq(tx: PgDb, runId: string): Promise<number> {
  const [last] = await tx
    .select({ seq: sql<number>`coalesce(max(${generationEvents.seq}), 0)` })
    .from(generationEvents)
    .where(eq(generationEvents.runId, runId))
  return Number(last?.seq ?? 0) + 1
}

/** Adds a graphile-worker job inside the transaction. */
async function addJob(tx: PgDb, job: Job, opts: { runAt?: number } = {}): Promise<void> {
  await tx.execute(sql`select ${jobCall(job, opts)}`)
}

/**
 * Commits what steps produced: records, events, tasks, decisions, jobs; and tells listeners which events are new.
 * Every statement is sent at once (Postgres runs them in order) and their answers awaited together.
 */
async function persist(
  tx: Tx,
  state: FleetState,
  step: number,
  writes: StoreWrite[],
  changed: Set<string>,
  actions: StepAction[],
  positionBefore: number,
  take?: Take,
): Promise<FleetTask | undefined> {
  const sent: Promise<unknown>[] = []
  if (writes.length) sent.push(writePlanIn(tx, planBatch(writes), { fleetStep: step }))
  const runId = state.run.id
  const rows = [...changed].map((k) => taskRow(runId, state.tasks[k]!, step))
  // the state is kept as the rows read back (a later step of this process starts from it)
  for (const r of rows) state.tasks[r.key] = readTask(r)
  if (rows.length) {
    sent.push(
      tx
        .insert(fleetTasks)
        .values(rows)
        .onConflictDoUpdate({
          target: [fleetTasks.runId, fleetTasks.key],
          set: {
            status: sql`excluded.status`,
            attempt: sql`excluded.attempt`,
            fence: sql`excluded.fence`,
            spec: sql`excluded.spec`,
            outcome: sql`excluded.outcome`,
            memo: sql`excluded.memo`,
            step: sql`excluded.step`,
          },
          // an outcome a worker recorded after this step read the task is kept for the next step to settle, unless this
          // one ended the task (settled it, or cancelled it)
          setWhere: sql`${fleetTasks.status} <> 'done' or excluded.status in ('succeeded', 'failed', 'cancelled')`,
        })
        .execute(),
    )
  }
  sent.push(
    tx
      .update(fleetRuns)
      .set({ step, ...(state.nextPosition !== positionBefore ? { nextPosition: state.nextPosition } : {}) })
      .where(eq(fleetRuns.runId, runId))
      .execute(),
  )
  // the first attempt dispatched that the stepping worker can run is claimed for it here, without a job
  const taken = take ? actions.find((a) => a.type === 'dispatch' && take.tasks.has(attemptTask(a.queue))) : undefined
  const claimed = taken?.type === 'dispatch' ? claimIn(tx, runId, taken.key, taken.fence, take!.worker) : undefined
  if (claimed) sent.push(claimed)
  // the jobs and the notification in one statement
  const calls: SQL[] = []
  for (const a of actions) {
    if (a === taken) continue
    if (a.type === 'dispatch') calls.push(jobCall({ task: attemptTask(a.queue), payload: { run: runId, key: a.key, fence: a.fence } }))
    else if (a.type === 'later') calls.push(jobCall({ task: 'weft_advance', payload: { run: runId, event: a.event } }, { runAt: a.at }))
    else if (a.type === 'decide') {
      sent.push(
        tx
          .update(approvals)
          .set({ decision: a.decision, decidedAt: sql`now()` })
          .where(and(eq(approvals.runId, runId), eq(approvals.gate, a.gate), eq(approvals.revision, a.revision), sql`${approvals.decision} is null`))
          .execute(),
      )
    }
  }
  if (writes.some((w) => w.kind === 'event')) calls.push(sql`pg_notify(${EVENTS_CHANNEL}, ${JSON.stringify({ run: runId, seq: state.seq })})`)
  for (let i = 0; i < calls.length; i += 500) sent.push(tx.execute(sql`select ${sql.join(calls.slice(i, i + 500), sql`, `)}`).execute())
  await settledInOrder(sent)
  return claimed ? await claimed : undefined
}

/** A worker stepping a run, which may take one of the attempts the step dispatches (the tasks it runs: `weft_attempt…`). */
interface Take {
  worker: string
  tasks: ReadonlySet<string>
}

/** Takes a queued task for `worker` (only under `fence`): its new fence and what to run, or undefined. */
async function claimIn(db: Tx, runId: string, key: string, fence: number, worker: string): Promise<FleetTask | undefined> {
  const [row] = await statements.claim.run(db, { run: runId, key, fence, worker })
  if (!row) return undefined
  return {
    key: row.key,
    kind: row.kind as FleetTask['kind'],
    node: row.node,
    position: row.position,
    status: 'running',
    attempt: row.attempt,
    fence: row.fence,
    spec: row.spec as FleetTask['spec'],
    outcome: null,
    memo: null,
  }
}

interface ApplyOptions {
  /** The state of a run created in the same transaction (nothing to read). */
  fresh?: FleetState
  /** The run's state as this process committed it last (changed in place), and whether to check it against a whole read. */
  cached?: Cached
  check?: boolean
  /** Told whether the state was brought up to date (true) or read whole. */
  read?: (merged: boolean) => void
  /** Gives way when another step holds the run's lock (answers 'busy'). */
  skipLocked?: boolean
  /** Told the task the event names as it was read, before any step changed it. */
  holds?: (task: FleetTask | undefined) => void
  /** The stepping worker may take an attempt the step dispatches: told what it took. */
  take?: Take & { took: (task: FleetTask | undefined) => void }
}

/**
 * Applies `event` to the run and every replay it leads to, then commits the lot. With `fresh`, the run was created in the
 * same transaction (a new fleet run). Returns the run's state after the step, 'busy' when it gave way, or undefined when
 * the fleet does not drive the run.
 */
async function applyIn(tx: Tx, env: FleetEnv, runId: string, event: StepEvent | undefined, opts: ApplyOptions = {}): Promise<Cached | 'busy' | undefined> {
  const loaded: Loaded | 'busy' | undefined = opts.fresh ? { state: opts.fresh, settled: [], step: 0, merged: false } : await loadState(tx, runId, opts)
  if (loaded === undefined || loaded === 'busy') return loaded
  opts.read?.(loaded.merged)
  if (opts.holds && event && 'key' in event) opts.holds(loaded.state.tasks[event.key])
  // an attempt the run stopped (a cancel, a failure elsewhere) coming back with what it used: its task, which steps no
  // longer consult, is read for it, so that the step adds that usage to its node (it was paid for)
  if (event?.type === 'settled' && event.outcome.usage && !loaded.state.tasks[event.key]) {
    const stopped = await readOneTask(tx, runId, event.key)
    if (stopped?.status === 'cancelled' && stopped.fence === event.fence) loaded.state.tasks[event.key] = stopped
  }
  const ids = Object.keys(loaded.state.run.nodes)
  const fits = (p: Pipeline) => ids.length === p.nodes.size && ids.every((id) => p.nodes.has(id))
  let pipeline = await env.pipelineOf(loaded.state.run)
  // a file edited within the last second may have been read before the edit (the run was started from the new one)
  if (!fits(pipeline)) pipeline = await env.pipelineOf(loaded.state.run, { recheck: true })
  if (!fits(pipeline)) {
    throw new WeftError('PIPELINE_CHANGED', `${pipeline.file} no longer has the nodes run ${runId} was started with; a running fleet run needs its pipeline file unchanged`, { retryable: false })
  }
  const stepEnv: StepEnv = { pipeline, now: (env.now ?? Date.now)(), random: env.random ?? Math.random, ...(env.lostLimit !== undefined ? { lostLimit: env.lostLimit } : {}) }
  // every attempt that ended since the last step is settled by this one, then the event it was called for
  const events: StepEvent[] = [...loaded.settled, ...(event ? [event] : [])]
  // read before the steps: they change the loaded state in place
  const positionBefore = opts.fresh ? -1 : loaded.state.nextPosition
  const all: Applied = { state: loaded.state, writes: [], changed: new Set(), actions: [] }
  for (const e of events) {
    // the state was read for this step: it is changed in place
    const out = await applyEvent(all.state, e, stepEnv, { owned: true })
    all.state = out.state
    all.writes.push(...out.writes)
    for (const k of out.changed) all.changed.add(k)
    all.actions.push(...out.actions)
  }
  // a task settled here is no longer `done`; one no step took up (its run had ended) is recorded as it ended; so is
  // the attempt this step was called to settle, when it is still its worker's
  for (const e of [...loaded.settled, ...(event?.type === 'settled' ? [event] : [])]) {
    const t = all.state.tasks[e.key]
    if (!t || t.fence !== e.fence) continue
    if (t.status === 'running') Object.assign(t, { status: e.outcome.ok ? 'succeeded' : 'failed', outcome: e.outcome })
    all.changed.add(e.key)
  }
  const step = loaded.step + 1
  const took = await persist(tx, all.state, step, all.writes, all.changed, all.actions, positionBefore, opts.take)
  opts.take?.took(took)
  return { state: all.state, step }
}

/** What came of settling an attempt: whether it was still the worker's, and an attempt the step claimed for it. */
export interface Settled {
  mine: boolean
  /** Claimed for the settling worker (under its new fence): it runs it next, with no queue job between. */
  next?: FleetTask
}

/** The fleet's side of a Postgres database: start runs, apply events, record decisions and cancellations. */
export class PgFleet {
  readonly db: PgConn
  /**
   * The state of each run this process stepped last, as committed: its next step here reads only what other steps
   * wrote since. Taken out while a step uses it (a step that fails leaves none), put back once the step commits.
   */
  readonly #states: LRUCache<string, Cached>
  /** Checks every state brought up to date against a whole read (tests: `WEFT_FLEET_CHECK=1`). */
  readonly #check: boolean
  /** How the states of this process's steps were read: whole, or brought up to date from a kept one (`differed`: found wrong by the check). */
  readonly reads = { whole: 0, merged: 0, differed: 0 }

  constructor(
    /** A client that prepares its statements (`preparingClient`), as the fleet's steps are pipelined. */
    readonly client: Sql,
    readonly env: FleetEnv,
  ) {
    this.db = drizzle({ client })
    this.#states = new LRUCache({ max: env.cachedRuns ?? 64 })
    this.#check = env.checkCached ?? process.env.WEFT_FLEET_CHECK === '1'
  }

  /** Records a new run and its first step (the jobs of its first nodes) in one transaction. */
  async submit(run: RunRecord, workDir: string, rerun?: { of: string; kept: string[]; refresh: string[] }): Promise<void> {
    // where its nodes write (each attempt's folder): recorded with the run
    run.folder = path.join(workDir, run.id)
    const state = newRunState(run, workDir, rerun?.refresh)
    // nothing to read: the whole transaction is one flight, and its COMMIT the next
    await pipelinedTx(this.client, async (tx) => {
      const created: StoreWrite[] = [
        { kind: 'run.create', run },
        {
          kind: 'event',
          event: {
            seq: ++state.seq,
            run_id: run.id,
            type: 'run.started',
            timestamp: run.started_at ?? run.created_at,
            payload: { pipeline: run.pipeline.name, nodes: Object.keys(run.nodes).length, ...(rerun ? { rerun_of: rerun.of, kept: rerun.kept } : {}) },
          },
        },
      ]
      const written = writePlanIn(tx, planBatch(created))
      // the fleet's row, and the fleet's own lease, which never runs out: no single process resumes a fleet run as
      // its own (one statement; the first step's commit notifies listeners of every event so far)
      const fleetRow = tx
        .insert(fleetRuns)
        .values({ runId: run.id, workDir, ...(rerun?.refresh.length ? { refresh: rerun.refresh } : {}) })
        .getSQL()
      const lease = tx
        .update(generations)
        .set({ owner: FLEET_OWNER, leaseUntil: new Date(FLEET_LEASE_UNTIL) })
        .where(eq(generations.id, run.id))
        .getSQL()
      const leased = tx.execute(sql`with f as (${fleetRow}) ${lease}`).execute()
      const stepped = applyIn(tx, this.env, run.id, { type: 'start' }, { fresh: state })
      // the first statement to fail is the error (those after it fail only as aborted)
      await settledInOrder([written, leased, stepped])
    })
  }

  /** Applies one event to a run (a lapsed heartbeat, a timer, a cancel), waiting for the run's lock; then settles what ended meanwhile. */
  async apply(runId: string, event: StepEvent): Promise<void> {
    await this.#applyThenDrain(runId, event, {})
  }

  /** One step of `event`, waiting for the run's lock; then what ended meanwhile is settled. Answers the step's state. */
  async #applyThenDrain(runId: string, event: StepEvent, opts: Pick<ApplyOptions, 'holds'>): Promise<Cached | 'busy' | undefined> {
    const res = await this.#stepping(runId, () => this.#step(runId, event, opts))
    // the event is committed: a failure to settle what ended meanwhile must not have it applied again (the sweep settles it)
    if (res?.more) await this.drain(runId, true).catch(() => {})
    return res?.state
  }

  /**
   * Hands a task whose worker's heartbeat lapsed on to another worker (a `lost` step); true when this call did, false
   * when another worker's sweep had already (or the task ended meanwhile).
   */
  async handOn(runId: string, key: string, fence: number): Promise<boolean> {
    let held = false
    const holds = (t: FleetTask | undefined) => void (held = t?.fence === fence && t.status === 'running')
    const state = await this.#applyThenDrain(runId, { type: 'lost', key, fence }, { holds })
    return held && state !== undefined && state !== 'busy'
  }

  /**
   * One step in one transaction, sent as two flights: BEGIN with the row lock and every read, then the writes with the
   * COMMIT and, read once it has committed, whether attempts ended meanwhile that nobody settled (`more`).
   */
  async #step(runId: string, event: StepEvent | undefined, opts: Pick<ApplyOptions, 'skipLocked' | 'holds' | 'take'>): Promise<{ state: Cached | 'busy' | undefined; more: boolean }> {
    const cached = this.#states.get(runId)
    this.#states.delete(runId)
    const read = (merged: boolean) => void (merged ? this.reads.merged++ : this.reads.whole++)
    const { value, after } = await pipelinedTx(
      this.client,
      (tx) => applyIn(tx, this.env, runId, event, { ...opts, ...(cached ? { cached } : {}), check: this.#check, read }),
      // unknown (the read failed after the commit): assumed, so that a drain looks
      (db) => hasDone(db, runId).catch(() => true),
    ).catch((err: unknown) => {
      // the step is taken again from a whole read; a test's check must not be missed for that
      if (err instanceof StateCheckFailed) {
        this.reads.differed++
        process.stderr.write(`weft: ${err.message}\n`)
      }
      throw err
    })
    if (value === 'busy' && cached) this.#keep(runId, cached)
    else if (value && value !== 'busy' && !TERMINAL_RUN.has(value.state.run.status)) this.#keep(runId, value)
    return { state: value, more: after }
  }

  /** Keeps a run's state as committed, unless a later one is kept already (two steps of one run in this process). */
  #keep(runId: string, stepped: Cached): void {
    const kept = this.#states.get(runId)
    if (!kept || kept.step < stepped.step) this.#states.set(runId, stepped)
  }

  /** A step that cannot be taken because the run's pipeline is gone, invalid or changed ends the run, instead of failing forever. */
  async #stepping<T>(runId: string, fn: () => Promise<T>): Promise<T | undefined> {
    try {
      return await fn()
    } catch (err) {
      const code = (err as { code?: unknown })?.code
      if (code !== 'PIPELINE_NOT_FOUND' && code !== 'PIPELINE_INVALID' && code !== 'PIPELINE_CHANGED') throw err
      await this.failRun(runId, toErrorInfo(err))
      return undefined
    }
  }

  /** Ends a run as failed without a step (its pipeline cannot be loaded): its nodes ended, open tasks cancelled, workers fenced out. */
  async failRun(runId: string, error: ErrorInfo): Promise<void> {
    await this.db.transaction(async (tx) => {
      const [row] = await tx.select().from(generations).where(eq(generations.id, runId)).for('update')
      if (!row || ['completed', 'failed', 'cancelled'].includes(row.status)) return
      const nodes = await tx
        .select()
        .from(generationNodes)
        .where(eq(generationNodes.runId, runId))
        .orderBy(...NODE_ORDER)
      const seq = await nextSeq(tx, runId)
      // counted as a step, and its rows stamped with it: a worker keeping the run's state reads what this ended
      const [counted] = await tx
        .update(fleetRuns)
        .set({ step: sql`${fleetRuns.step} + 1` })
        .where(eq(fleetRuns.runId, runId))
        .returning({ step: fleetRuns.step })
      const writes = endRunWrites(readRun(row, nodes), 'failed', error, { now: (this.env.now ?? Date.now)(), seq: seq - 1 })
      await writePlanIn(tx, planBatch(writes), counted ? { fleetStep: counted.step } : {})
      const last = writes.findLast((w) => w.kind === 'event')
      await tx
        .update(fleetTasks)
        .set({ status: 'cancelled', outcome: { ok: false, error: { code: 'CANCELLED', message: error.message } }, ...(counted ? { step: counted.step } : {}) })
        .where(and(eq(fleetTasks.runId, runId), notInArray(fleetTasks.status, FINISHED_TASK)))
      await tx.execute(sql`select pg_notify(${EVENTS_CHANNEL}, ${JSON.stringify({ run: runId, seq: last?.kind === 'event' ? last.event.seq : seq })})`)
    })
  }

  /**
   * Records an attempt's outcome (only under the worker's current fence) and settles it: by a step taken here if the
   * run's lock is free, else by the step holding it, which settles every ended attempt before it lets go. False when
   * the task was no longer this worker's.
   */
  async settle(runId: string, key: string, fence: number, outcome: TaskOutcome, take?: Take): Promise<Settled> {
    // the lock free (as it mostly is): the outcome is settled by a step, in one transaction with it
    let mine = false
    let next: FleetTask | undefined
    const holds = (t: FleetTask | undefined) => void (mine = t?.fence === fence && t.status === 'running')
    const taking = take && { ...take, took: (t: FleetTask | undefined) => void (next = t) }
    let stepped: { state: Cached | 'busy' | undefined; more: boolean } | undefined
    try {
      stepped = await this.#stepping(runId, () => this.#step(runId, { type: 'settled', key, fence, outcome }, { skipLocked: true, holds, ...(taking ? { take: taking } : {}) }))
    } catch (err) {
      // the step failed before it committed: the outcome is recorded for the sweep to settle, if it can be
      if (!(await this.#markDone(runId, key, fence, outcome).catch(() => false))) throw err
      return { mine: true }
    }
    if (stepped && stepped.state !== 'busy' && stepped.state !== undefined) {
      // committed, with the next attempt claimed for this worker: what else ended is settled by the sweep if not here
      if (stepped.more) await this.drain(runId, true).catch(() => {})
      return { mine, ...(next ? { next } : {}) }
    }
    // the lock held by another step: the outcome is recorded for that step (or the next) to settle
    if (!(await this.#markDone(runId, key, fence, outcome))) {
      // no longer this worker's (its run stopped it): what it used is still added to its node, by a step that waits its turn
      if (outcome.usage && stepped?.state === 'busy') await this.#stepping(runId, () => this.#step(runId, { type: 'settled', key, fence, outcome }, {}))
      return { mine: false }
    }
    await this.drain(runId, true).catch(() => {})
    return { mine: true }
  }

  /** Records an attempt's outcome as ended (`done`) under its fence, for a step to settle; false when the task is not the worker's. */
  async #markDone(runId: string, key: string, fence: number, outcome: TaskOutcome): Promise<boolean> {
    const rows = await this.db
      .update(fleetTasks)
      .set({ status: 'done', outcome })
      .where(and(eq(fleetTasks.runId, runId), eq(fleetTasks.key, key), eq(fleetTasks.fence, fence), RUNNING))
      .returning({ key: fleetTasks.key })
    return rows.length > 0
  }

  /** Steps the run while attempts wait to be settled and nobody else holds its lock (who does settles them); `known`: some do. */
  async drain(runId: string, known = false): Promise<void> {
    if (!known && !(await hasDone(this.db, runId))) return
    for (let round = 0; round < 1000; round++) {
      const res = await this.#stepping(runId, () => this.#step(runId, undefined, { skipLocked: true }))
      if (!res || res.state === 'busy' || res.state === undefined || !res.more) return
    }
  }

  /** Runs with attempts that ended but were not settled (their worker gone before it could): each is drained by the sweep. */
  async undrained(): Promise<string[]> {
    const rows = await this.db.selectDistinct({ run: fleetTasks.runId }).from(fleetTasks).where(DONE).limit(100)
    return rows.map((r) => r.run)
  }

  /**
   * Takes a dispatched task for this worker: only while it is still queued under `fence`. Answers the new fence and
   * what to run, or undefined (cancelled meanwhile, or claimed by another worker after a redelivery).
   */
  async claim(runId: string, key: string, fence: number, worker: string): Promise<FleetTask | undefined> {
    return claimIn(this.db, runId, key, fence, worker)
  }

  /** Renews a claim; false once the task is no longer this worker's (cancelled, or handed on). */
  async heartbeat(runId: string, key: string, fence: number): Promise<boolean> {
    const rows = await this.db
      .update(fleetTasks)
      .set({ heartbeatAt: sql`now()` })
      .where(and(eq(fleetTasks.runId, runId), eq(fleetTasks.key, key), eq(fleetTasks.fence, fence), eq(fleetTasks.status, 'running')))
      .returning({ key: fleetTasks.key })
    return rows.length > 0
  }

  /** Appends an event written outside a step (an attempt's progress), in sequence. */
  async progress(runId: string, node: string, payload: Record<string, unknown>): Promise<void> {
    await this.db.transaction(async (tx) => {
      const [row] = await tx.select({ status: generations.status }).from(generations).where(eq(generations.id, runId)).for('update')
      if (!row || ['completed', 'failed', 'cancelled'].includes(row.status)) return
      const seq = await nextSeq(tx, runId)
      await writePlanIn(tx, planBatch([{ kind: 'event', event: { seq, run_id: runId, type: 'node.progress', node, timestamp: new Date().toISOString(), payload } }]))
      await tx.execute(sql`select pg_notify(${EVENTS_CHANNEL}, ${JSON.stringify({ run: runId, seq })})`)
    })
    // an attempt that ended while this held the run's lock gave way to it: settle it now
    await this.drain(runId)
  }

  /** Tasks whose worker stopped renewing its heartbeat for `ttlMs`: each is handed to another worker by a `lost` step. */
  async lapsed(ttlMs: number): Promise<Array<{ run: string; key: string; fence: number }>> {
    // each task by its holder's own TTL, as that worker recorded it (`ttlMs` for a holder that recorded none, or is gone)
    const rows = await this.db
      .select({ run: fleetTasks.runId, key: fleetTasks.key, fence: fleetTasks.fence })
      .from(fleetTasks)
      .leftJoin(fleetWorkers, eq(fleetWorkers.id, fleetTasks.worker))
      .where(and(RUNNING, sql`${fleetTasks.heartbeatAt} < now() - make_interval(secs => coalesce(${fleetWorkers.ttlMs}, ${ttlMs}) / 1000.0)`))
      .limit(100)
    return rows
  }

  /** Asks for the run to be cancelled: the next step ends it. */
  async cancel(runId: string, reason: ErrorInfo): Promise<void> {
    await this.db.transaction(async (tx) => {
      await tx.update(fleetRuns).set({ cancel: reason }).where(eq(fleetRuns.runId, runId))
      await addJob(tx, { task: 'weft_advance', payload: { run: runId, event: { type: 'cancel', reason } } })
    })
  }

  /**
   * Records that worker `id` (holding these queue workers, with this heartbeat TTL) is alive. Each worker's tasks and
   * row are judged by its own TTL, so that a worker started with a shorter one (a mismatched `WEFT_HEARTBEAT_TTL`)
   * does not take a live worker's tasks, or unlock its jobs, between its heartbeats. Answers the longest TTL recorded.
   */
  async alive(id: string, queueWorkers: string[], ttlMs: number): Promise<number> {
    const [row] = await this.db
      .insert(fleetWorkers)
      .values({ id, queueWorkers, heartbeatAt: sql`now()`, ttlMs })
      .onConflictDoUpdate({ target: fleetWorkers.id, set: { queueWorkers, heartbeatAt: sql`now()`, ttlMs } })
      // one statement per heartbeat: the longest TTL as recorded before it (this worker's own is counted below)
      .returning({ longest: sql<number | null>`(select max(${fleetWorkers.ttlMs}) from ${fleetWorkers})` })
    return Math.max(ttlMs, Number(row?.longest ?? 0))
  }

  /**
   * Queue workers that hold a job locked for longer than `ttlMs` and belong to no live `weft worker` (killed, or
   * killed before they first said they were alive). graphile-worker itself frees such jobs only after 4 hours.
   */
  async orphanedQueueWorkers(ttlMs: number): Promise<string[]> {
    const secs = ttlMs / 1000
    // a worker is gone once its own TTL has passed without a heartbeat
    await this.db.delete(fleetWorkers).where(sql`${fleetWorkers.heartbeatAt} < now() - make_interval(secs => coalesce(${fleetWorkers.ttlMs}, ${ttlMs}) / 1000.0)`)
    const rows = (await this.db.execute(sql`
      select distinct j.locked_by from ${sql.raw(QUEUE_SCHEMA)}._private_jobs j
      where j.locked_by is not null and j.locked_at < now() - make_interval(secs => ${secs})
        and not exists (select 1 from ${fleetWorkers} w where jsonb_exists(w.queue_workers, j.locked_by))`)) as unknown as Array<{ locked_by: string }>
    return rows.map((r) => r.locked_by)
  }

  async gone(id: string): Promise<void> {
    await this.db.delete(fleetWorkers).where(eq(fleetWorkers.id, id))
  }

  /** Which of these runs the fleet drives. */
  async fleetRuns(ids: readonly string[]): Promise<Set<string>> {
    if (ids.length === 0) return new Set()
    const rows = await this.db
      .select({ id: fleetRuns.runId })
      .from(fleetRuns)
      .where(inArray(fleetRuns.runId, [...ids]))
    return new Set(rows.map((r) => r.id))
  }

  /** Whether the fleet drives this run. */
  async drives(runId: string): Promise<boolean> {
    const [row] = await this.db.select({ id: fleetRuns.runId }).from(fleetRuns).where(eq(fleetRuns.runId, runId))
    return row !== undefined
  }
}
