// RunStore on Postgres through drizzle-orm: each batch is one statement (or one transaction of chunked statements).
import { and, asc, desc, eq, getTableColumns, gt, inArray, isNull, lt, ne, notInArray, or, sql, type SQL } from 'drizzle-orm'
import type { PgDatabase, PgQueryResultHKT, PgSelect } from 'drizzle-orm/pg-core'
import { WeftError } from '../errors.ts'
import type { ApprovalRecord, Decision, LeaseHolder, RunEvent, RunQuery, RunRecord, RunStatus, RunStore, StoreWrite, TaskResult } from '../ports.ts'
import { readApproval, readEvent, readResult, readRun, RUN_STATUSES, type EventInsert, type NodeRow } from '../db/records.ts'
import { chunks, chunkSize, excludedColumns, planBatch, type Plan } from '../db/batch.ts'
import { approvals, fleetRuns, fleetTasks, generationEvents, generationNodes, generations, taskResults } from '../db/schema.ts'
import { jobCall } from '../db/add-job.ts'
import { StoreOps, type ReconnectPolicy } from './store-ops.ts'
import { holderGone, thisProcess, type ProcessIdentity } from './lease-holder.ts'

/** A drizzle database on postgres.js (`drizzle-orm/postgres-js`). */
// biome-ignore lint/suspicious/noExplicitAny: the schema type differs between the drizzle drivers this accepts
export type PgDb = PgDatabase<PgQueryResultHKT, any>

const RUN_CHUNK = chunkSize(Object.keys(getTableColumns(generations)).length)
const NODE_CHUNK = chunkSize(Object.keys(getTableColumns(generationNodes)).length)
const EVENT_CHUNK = chunkSize(Object.keys(getTableColumns(generationEvents)).length)
const RESULT_CHUNK = chunkSize(Object.keys(getTableColumns(taskResults)).length)

/** A node update replaces the whole row, except where the node stood in the run as created. */
const NODE_UPSERT = Object.fromEntries(excludedColumns(getTableColumns(generationNodes)).map(([key, text]) => [key, sql.raw(text)]))
/** A task's later result replaces its earlier one. */
const RESULT_UPSERT = Object.fromEntries(excludedColumns(getTableColumns(taskResults)).map(([key, text]) => [key, sql.raw(text)]))

export const NODE_ORDER = [sql`${generationNodes.position} asc nulls last`, asc(generationNodes.nodeId)]
const RUN_ORDER = [desc(generations.createdAt), desc(generations.id)]
const READ = { isolationLevel: 'repeatable read', accessMode: 'read only' } as const

const limited = <Q extends PgSelect>(q: Q, limit: number | undefined): Q => (limit === undefined ? q : q.limit(limit))

/** The filter of `listRuns`: on the stored status; a status this version does not know counts as failed. */
function statusFilter(status: RunStatus | undefined): SQL | undefined {
  if (status === undefined) return undefined
  if (status === 'failed') return or(eq(generations.status, 'failed'), notInArray(generations.status, RUN_STATUSES))
  return eq(generations.status, status)
}

/**
 * A batch that fits one statement of each kind, as a single statement (data-modifying CTEs, atomic by itself):
 * one round trip and no BEGIN/COMMIT of its own, where a transaction costs three. Undefined for a batch too
 * large for it (several chunks), which then goes through a transaction. Every row appears once (see planBatch).
 */
type Row = { updated: string[] | null }

function oneStatement(db: PgDb, plan: Plan): { statement: SQL; updates: string[] } | undefined {
  if (plan.runs.size > RUN_CHUNK || plan.nodes.size > NODE_CHUNK || plan.events.length > EVENT_CHUNK || plan.results.size > RESULT_CHUNK) return undefined
  // the statement checks a run.update's run exists by its returned id; a run changed twice goes through a transaction
  const parts: SQL[] = []
  // embedded with getSQL(): a query builder embedded as it is comes wrapped in parentheses
  if (plan.runs.size)
    parts.push(
      sql`r as (${db
        .insert(generations)
        .values([...plan.runs.values()])
        .getSQL()})`,
    )
  const updates = [...plan.updates.keys()]
  updates.forEach((runId, i) => {
    const set = plan.updates.get(runId)!
    parts.push(
      sql`${sql.raw(`u${i}`)} as (${db
        .update(generations)
        .set({ ...set, updatedAt: sql`now()` })
        .where(eq(generations.id, runId))
        .returning({ id: generations.id })
        .getSQL()})`,
    )
  })
  if (plan.nodes.size)
    parts.push(
      sql`n as (${db
        .insert(generationNodes)
        .values([...plan.nodes.values()])
        .onConflictDoUpdate({ target: [generationNodes.runId, generationNodes.nodeId], set: NODE_UPSERT })
        .getSQL()})`,
    )
  if (plan.events.length) parts.push(sql`e as (${db.insert(generationEvents).values(plan.events).getSQL()})`)
  if (plan.approvals.length) parts.push(sql`a as (${db.insert(approvals).values(plan.approvals).onConflictDoNothing().getSQL()})`)
  if (plan.results.size)
    parts.push(
      sql`t as (${db
        .insert(taskResults)
        .values([...plan.results.values()])
        .onConflictDoUpdate({ target: [taskResults.runId, taskResults.key], set: RESULT_UPSERT })
        .getSQL()})`,
    )
  if (parts.length === 0) return undefined
  const updated = updates.length
    ? sql.join(
        updates.map((_, i) => sql`select id from ${sql.raw(`u${i}`)}`),
        sql` union all `,
      )
    : undefined
  const statement = sql`with ${sql.join(parts, sql`, `)} select ${updated ? sql`array(${updated})` : sql`null::text[]`} as updated`
  return { statement, updates }
}

/** Database errors of a write as the engine's codes (the driver's error stays as the cause). */
function writeError(err: unknown): unknown {
  if (err instanceof WeftError) return err
  const cause = (err as { cause?: unknown })?.cause ?? err
  const e = cause as { code?: unknown; constraint?: unknown; constraint_name?: unknown; table?: unknown; table_name?: unknown; detail?: unknown }
  const constraint = String(e?.constraint_name ?? e?.constraint ?? '')
  const detail = typeof e?.detail === 'string' ? `: ${e.detail}` : ''
  if (e?.code === '23503') return new WeftError('RUN_NOT_FOUND', `write for a run that does not exist${detail}`, { cause, retryable: false })
  if (e?.code === '23505' && constraint === 'generations_pkey') return new WeftError('RUN_EXISTS', `run already exists${detail}`, { cause, retryable: false })
  if (e?.code === '23505') return new WeftError('STORE_CONFLICT', `write conflicts with a stored row (${constraint})${detail}`, { cause, retryable: false })
  return new WeftError('STORE_WRITE_FAILED', `store write failed: ${cause instanceof Error ? cause.message : String(cause)}`, { cause })
}

/**
 * Applies a planned batch inside the caller's transaction: chunked statements, refused as a whole on a missing run.
 * The statements are sent together (Postgres runs them in order) and their answers awaited together. `fleetStep`: the
 * fleet step writing the node rows, stamped on them.
 */
export async function writePlanIn(tx: PgDb, plan: Plan, opts: { fleetStep?: number } = {}): Promise<void> {
  const sent: Promise<unknown>[] = []
  for (const rows of chunks(plan.runs.values(), RUN_CHUNK)) sent.push(tx.insert(generations).values(rows).execute())
  const updated = [...plan.updates].map(([runId, set]) =>
    tx
      .update(generations)
      .set({ ...set, updatedAt: sql`now()` })
      .where(eq(generations.id, runId))
      .returning({ id: generations.id })
      .execute()
      .then((hit) => {
        if (hit.length === 0) throw new WeftError('RUN_NOT_FOUND', `run.update for run ${runId}, which does not exist`, { retryable: false })
      }),
  )
  sent.push(...updated)
  const nodes = opts.fleetStep === undefined ? plan.nodes.values() : [...plan.nodes.values()].map((row) => ({ ...row, fleetStep: opts.fleetStep }))
  for (const rows of chunks(nodes, NODE_CHUNK)) {
    sent.push(
      tx
        .insert(generationNodes)
        .values(rows)
        .onConflictDoUpdate({ target: [generationNodes.runId, generationNodes.nodeId], set: NODE_UPSERT })
        .execute(),
    )
  }
  for (const rows of chunks(plan.events, EVENT_CHUNK)) sent.push(tx.insert(generationEvents).values(rows).execute())
  // a gate asking again after a resume finds its request (and maybe its decision) already there
  if (plan.approvals.length) sent.push(tx.insert(approvals).values(plan.approvals).onConflictDoNothing().execute())
  for (const rows of chunks(plan.results.values(), RESULT_CHUNK))
    sent.push(
      tx
        .insert(taskResults)
        .values(rows)
        .onConflictDoUpdate({ target: [taskResults.runId, taskResults.key], set: RESULT_UPSERT })
        .execute(),
    )
  await settledInOrder(sent)
}

/**
 * Awaits statements sent together: the first to fail (in the order sent, which is the order Postgres ran them) is
 * the error; the others are awaited too, so that none rejects unobserved.
 */
export async function settledInOrder(sent: readonly Promise<unknown>[]): Promise<void> {
  const results = await Promise.allSettled(sent)
  const failed = results.find((r) => r.status === 'rejected')
  if (failed) throw failed.reason
}

/** What a Postgres store is built from besides its database. */
export interface PgStoreParts {
  /** Ends the driver. */
  close: () => Promise<void>
  reconnect?: ReconnectPolicy
  /** This process, as lease holders are recorded (default: the real one). */
  identity?: ProcessIdentity
}

/**
 * The durable `RunStore` on Postgres through drizzle. Open it with `openPostgresStore` or `openRunStore`; they
 * run the migrations first.
 *
 * Reads see one snapshot (a read-only repeatable-read transaction). A stored run that does not read as a
 * valid record is returned with status `failed` and error `RUN_RECORD_CORRUPT` (see `readRun`); the row
 * itself is left as it is. `listRuns({ status })` filters on the stored status, so such a run is listed
 * under the status it was stored with (under `failed` when that status is not one this version knows).
 *
 * With a `ReconnectPolicy`, an operation that loses its connection is tried again (backing off from 50 ms to
 * 1 s) until the connection has been lost for the policy's window: a run pauses while the database restarts,
 * then goes on. Past the window, operations reject with STORE_UNAVAILABLE.
 */
export class PgRunStore implements RunStore {
  readonly driver = 'postgres'
  readonly #db: PgDb
  readonly #close: () => Promise<void>
  readonly #ops: StoreOps
  readonly #me: ProcessIdentity

  constructor(db: PgDb, parts: PgStoreParts) {
    this.#db = db
    this.#close = parts.close
    this.#ops = new StoreOps(parts.reconnect)
    this.#me = parts.identity ?? thisProcess
  }

  #retrying<T>(op: (again: boolean) => Promise<T>): Promise<T> {
    return this.#ops.run(op)
  }

  /**
   * Applies the batch in one transaction; rejects with RUN_EXISTS, RUN_NOT_FOUND, STORE_CONFLICT, STORE_UNAVAILABLE (the
   * connection lost for longer than the reconnect window) or STORE_WRITE_FAILED, and then nothing of it is kept.
   */
  async write(batch: readonly StoreWrite[]): Promise<void> {
    if (batch.length === 0) return
    const plan = planBatch(batch)
    if (plan.early.size) await this.#retrying(() => this.#refuseEarly(plan.early))
    const first = plan.events[0]
    try {
      await this.#retrying(async (again) => {
        // an attempt cut off while committing may have committed all the same: its first event tells
        if (again && first && (await this.#holds(first))) return
        const one = oneStatement(this.#db, plan)
        if (one) {
          // a batch's shape (rows per table) recurs: prepared (by the client), its plan is made once per connection
          const res = (await this.#db.execute(one.statement)) as unknown as Row[] | { rows: Row[] }
          const [row] = Array.isArray(res) ? res : res.rows
          const missing = one.updates.filter((id) => !(row?.updated ?? []).includes(id))
          // nothing was kept: the statement is atomic, and this one is refused as a whole below
          if (missing.length) throw new WeftError('RUN_NOT_FOUND', `run.update for run ${missing[0]}, which does not exist`, { retryable: false })
          return
        }
        // a batch too large for one statement: a transaction of chunked statements
        await this.#db.transaction((tx) => writePlanIn(tx, plan))
      })
    } catch (err) {
      throw writeError(err)
    }
  }

  /** Whether `event` is stored already, as it is (same run, seq, type, node and time). */
  async #holds(event: EventInsert): Promise<boolean> {
    const [row] = await this.#db
      .select()
      .from(generationEvents)
      .where(and(eq(generationEvents.runId, event.runId), eq(generationEvents.seq, event.seq)))
    return row !== undefined && row.type === event.type && row.node === (event.node ?? null) && row.timestamp.getTime() === event.timestamp.getTime()
  }

  /** A write before its run's run.create: the create fails if the run exists, the write fails if it does not. */
  async #refuseEarly(runIds: Set<string>): Promise<never> {
    const ids = [...runIds]
    const [found] = await this.#db.select({ id: generations.id }).from(generations).where(inArray(generations.id, ids)).limit(1)
    if (found) throw new WeftError('RUN_EXISTS', `run ${found.id} already exists`, { retryable: false })
    throw new WeftError('RUN_NOT_FOUND', `run ${ids[0]} is written to before it is created, in the same batch`, { retryable: false })
  }

  async getRun(id: string): Promise<RunRecord | undefined> {
    return this.#retrying(() =>
      this.#db.transaction(async (tx) => {
        const [row] = await tx.select().from(generations).where(eq(generations.id, id))
        if (!row) return undefined
        const nodes = await tx
          .select()
          .from(generationNodes)
          .where(eq(generationNodes.runId, id))
          .orderBy(...NODE_ORDER)
        return readRun(row, nodes)
      }, READ),
    )
  }

  /** Newest first (by `created_at`, then id). */
  async listRuns(query: RunQuery = {}): Promise<RunRecord[]> {
    if (query.limit !== undefined && query.limit <= 0) return []
    const where = and(
      statusFilter(query.status),
      query.sessionId === undefined ? undefined : eq(generations.sessionId, query.sessionId),
      query.excludeOwner === undefined ? undefined : or(isNull(generations.owner), ne(generations.owner, query.excludeOwner)),
    )
    // a session's runs read oldest first (in the order it started them)
    const order = query.sessionId === undefined ? RUN_ORDER : [asc(generations.createdAt), asc(generations.id)]
    const page = <Q extends PgSelect>(q: Q): Q => limited(query.offset ? q.offset(query.offset) : q, query.limit)
    return this.#retrying(() =>
      this.#db.transaction(async (tx) => {
        const rows = await page(
          tx
            .select()
            .from(generations)
            .where(where)
            .orderBy(...order)
            .$dynamic(),
        )
        if (rows.length === 0) return []
        // the same page as a subquery: no parameter per listed run, however many there are
        const ids = page(
          tx
            .select({ id: generations.id })
            .from(generations)
            .where(where)
            .orderBy(...order)
            .$dynamic(),
        )
        const nodeRows = await tx
          .select()
          .from(generationNodes)
          .where(inArray(generationNodes.runId, ids))
          .orderBy(generationNodes.runId, ...NODE_ORDER)
        const byRun = new Map<string, NodeRow[]>()
        for (const n of nodeRows) {
          const list = byRun.get(n.runId)
          if (list) list.push(n)
          else byRun.set(n.runId, [n])
        }
        return rows.map((r) => readRun(r, byRun.get(r.id) ?? []))
      }, READ),
    )
  }

  async waitingForWorker(runId: string): Promise<string[]> {
    const rows = await this.#retrying(() =>
      this.#db
        .select({ node: fleetTasks.node })
        .from(fleetTasks)
        .where(and(eq(fleetTasks.runId, runId), ne(fleetTasks.kind, 'control'), inArray(fleetTasks.status, ['queued', 'running', 'done'])))
        .groupBy(fleetTasks.node)
        // the tasks workers run (a control node's own is the steps'): one queued, and none taken (running, or ended and not settled)
        .having(sql`bool_or(${fleetTasks.status} = 'queued') and not bool_or(${fleetTasks.status} in ('running', 'done'))`)
        .orderBy(fleetTasks.node),
    )
    return rows.map((r) => r.node)
  }

  async listEvents(runId: string, afterSeq = 0): Promise<RunEvent[]> {
    const rows = await this.#retrying(() =>
      this.#db
        .select()
        .from(generationEvents)
        .where(and(eq(generationEvents.runId, runId), gt(generationEvents.seq, afterSeq)))
        .orderBy(generationEvents.seq),
    )
    return rows.map(readEvent)
  }

  /**
   * The lease lives on the run's row; expiry is judged by the database's clock, the same for every process. A lease
   * held by a process that is gone from this host is taken over at once (see `holderGone`).
   */
  async claimRun(runId: string, owner: string, ttlMs: number): Promise<boolean> {
    const ms = Math.max(1, Math.round(ttlMs))
    const take = (cond: SQL | undefined) =>
      this.#db
        .update(generations)
        .set({ owner, leaseUntil: sql`now() + make_interval(secs => ${ms / 1000})`, ownerHost: this.#me.host, ownerPid: this.#me.pid })
        .where(and(eq(generations.id, runId), cond))
        .returning({ id: generations.id })
    return this.#retrying(async () => {
      const rows = await take(or(isNull(generations.owner), eq(generations.owner, owner), isNull(generations.leaseUntil), lt(generations.leaseUntil, sql`now()`)))
      if (rows.length) return true
      const holder = await this.#holder(runId)
      if (!holder || !holderGone(holder, this.#me)) return false
      // only if the dead holder still holds it: of two processes taking over at once, one does
      return (await take(and(eq(generations.owner, holder.owner), eq(generations.ownerPid, holder.pid!)))).length > 0
    })
  }

  async #holder(runId: string): Promise<LeaseHolder | undefined> {
    const [row] = await this.#db
      .select({ owner: generations.owner, host: generations.ownerHost, pid: generations.ownerPid, until: generations.leaseUntil, expired: sql<boolean>`${generations.leaseUntil} < now()` })
      .from(generations)
      .where(eq(generations.id, runId))
    if (!row?.owner || !row.until || row.expired) return undefined
    return { owner: row.owner, host: row.host, pid: row.pid, until: row.until.toISOString() }
  }

  leaseHolder(runId: string): Promise<LeaseHolder | undefined> {
    return this.#retrying(() => this.#holder(runId))
  }

  async releaseRun(runId: string, owner: string): Promise<void> {
    await this.#retrying(() =>
      this.#db
        .update(generations)
        .set({ owner: null, leaseUntil: null, ownerHost: null, ownerPid: null })
        .where(and(eq(generations.id, runId), eq(generations.owner, owner))),
    )
  }

  async lastApproval(runId: string, gate: string): Promise<ApprovalRecord | undefined> {
    const [row] = await this.#retrying(() =>
      this.#db
        .select()
        .from(approvals)
        .where(and(eq(approvals.runId, runId), eq(approvals.gate, gate)))
        .orderBy(desc(approvals.revision))
        .limit(1),
    )
    return row && readApproval(row)
  }

  async getApproval(runId: string, gate: string, revision: number): Promise<ApprovalRecord | undefined> {
    const [row] = await this.#retrying(() =>
      this.#db
        .select()
        .from(approvals)
        .where(and(eq(approvals.runId, runId), eq(approvals.gate, gate), eq(approvals.revision, revision))),
    )
    return row && readApproval(row)
  }

  async taskResults(runId: string): Promise<TaskResult[]> {
    const rows = await this.#retrying(() => this.#db.select().from(taskResults).where(eq(taskResults.runId, runId)))
    return rows.flatMap((row) => readResult(row) ?? [])
  }

  async pendingApprovals(runId: string): Promise<ApprovalRecord[]> {
    const rows = await this.#retrying(() =>
      this.#db
        .select()
        .from(approvals)
        .where(and(eq(approvals.runId, runId), isNull(approvals.decision)))
        .orderBy(approvals.requestedAt, approvals.gate, approvals.revision),
    )
    return rows.map(readApproval)
  }

  /**
   * One conditional update: of two processes deciding at once, exactly one is `applied`. (Should the connection
   * be lost just as that update commits, the try after reconnecting finds the decision and says not `applied`.)
   */
  async decideApproval(runId: string, gate: string, revision: number, decision: Decision): Promise<{ applied: boolean; decision: Decision } | undefined> {
    const match = and(eq(approvals.runId, runId), eq(approvals.gate, gate), eq(approvals.revision, revision))
    return this.#retrying(() =>
      this.#db.transaction(async (tx) => {
        const hit = await tx
          .update(approvals)
          .set({ decision, decidedAt: sql`now()` })
          .where(and(match, isNull(approvals.decision)))
          .returning({ gate: approvals.gate })
        if (hit.length) {
          // a run the fleet drives goes on from the step this enqueues, in the same transaction as the decision
          const [fleet] = await tx.select({ id: fleetRuns.runId }).from(fleetRuns).where(eq(fleetRuns.runId, runId))
          if (fleet) await tx.execute(sql`select ${jobCall({ task: 'weft_advance', payload: { run: runId, event: { type: 'decided', gate, revision } } })}`)
          return { applied: true, decision }
        }
        const [row] = await tx.select().from(approvals).where(match)
        if (!row) return undefined
        return { applied: false, decision: row.decision as Decision }
      }),
    )
  }

  /** Closes the connection. Idempotent. */
  close(): Promise<void> {
    // postgres.js reconnects for queries still queued when it is ended, and then keeps those connections (and
    // the process) alive: new operations are refused, and those under way get a moment to finish
    return this.#ops.close(this.#close)
  }
}
