// RunStore over drizzle-orm for Postgres and PGlite alike: each batch is one transaction of a few multi-row statements.
import { setTimeout as sleep } from 'node:timers/promises'
import { and, asc, desc, eq, getTableColumns, gt, inArray, isNull, lt, notInArray, or, sql, type SQL } from 'drizzle-orm'
import { PgDialect, type PgDatabase, type PgQueryResultHKT, type PgSelect } from 'drizzle-orm/pg-core'
import { WeftError } from '../errors.ts'
import type { ApprovalRecord, ApprovalRequest, Decision, RunEvent, RunQuery, RunRecord, RunStatus, RunStore, StoreWrite } from '../ports.ts'
import { eventRow, nodeRow, readEvent, readRun, runColumns, runRow, RUN_STATUSES, type EventInsert, type NodeInsert, type NodeRow, type RunInsert } from '../db/records.ts'
import { approvals, generationEvents, generationNodes, generations } from '../db/schema.ts'

/** A drizzle database on either driver (`drizzle-orm/pglite` or `drizzle-orm/postgres-js`). */
export type PgDb = PgDatabase<PgQueryResultHKT>

/** Which driver a store runs on. */
export type PgDriver = 'pglite' | 'postgres'

/** How a store rides out a lost connection to its database (a Postgres restart, a failover). */
/** Runs SQL text with its parameters as a prepared statement, answering the rows. */
export type PreparedExec = (text: string, params: unknown[]) => Promise<unknown[]>

export interface ReconnectPolicy {
  /** How long an operation keeps trying again once the connection is lost, in ms (0: it fails at once). */
  windowMs: number
  /** Whether an error means the connection was lost or could not be made, so that the same operation may be tried again. */
  lost(err: unknown): boolean
}

// Postgres takes at most 65535 parameters per statement; stay well below.
const MAX_PARAMS = 30_000
const RUN_CHUNK = Math.floor(MAX_PARAMS / Object.keys(getTableColumns(generations)).length)
const NODE_CHUNK = Math.floor(MAX_PARAMS / Object.keys(getTableColumns(generationNodes)).length)
const EVENT_CHUNK = Math.floor(MAX_PARAMS / Object.keys(getTableColumns(generationEvents)).length)

/** A node update replaces the whole row, except where the node stood in the run as created. */
const NODE_UPSERT: Record<string, SQL> = Object.fromEntries(
  Object.entries(getTableColumns(generationNodes))
    .filter(([key]) => key !== 'runId' && key !== 'nodeId' && key !== 'position')
    .map(([key, col]) => [key, sql.raw(`excluded."${col.name}"`)]),
)

const NODE_ORDER = [sql`${generationNodes.position} asc nulls last`, asc(generationNodes.nodeId)]
const RUN_ORDER = [desc(generations.createdAt), desc(generations.id)]
const READ = { isolationLevel: 'repeatable read', accessMode: 'read only' } as const

/** A batch turned into statements: new runs, one merged patch per existing run, node upserts, events. */
interface Plan {
  /** Runs written to before their run.create in this batch: the batch is refused either way (see `write`). */
  early: Set<string>
  runs: Map<string, RunInsert>
  updates: Map<string, Partial<RunInsert>>
  nodes: Map<string, NodeInsert>
  events: EventInsert[]
  approvals: Array<typeof approvals.$inferInsert>
}

/**
 * Groups a batch by kind while keeping its meaning: runs are created first, the patches of one run are
 * merged in order, the last update of a node wins (an update replaces the whole node), and events keep
 * their order. Pure; rejects a run created twice in the batch, and notes writes that come before their run's
 * run.create (there is no order to keep for them: the batch fails whether or not that run exists already).
 */
export function planBatch(batch: readonly StoreWrite[]): Plan {
  const plan: Plan = { early: new Set(), runs: new Map(), updates: new Map(), nodes: new Map(), events: [], approvals: [] }
  const createdLater = new Set<string>()
  for (const w of batch) if (w.kind === 'run.create') createdLater.add(w.run.id)
  const before = (runId: string) => {
    if (createdLater.has(runId) && !plan.runs.has(runId)) plan.early.add(runId)
  }
  for (const w of batch) {
    switch (w.kind) {
      case 'run.create': {
        if (plan.runs.has(w.run.id)) throw new WeftError('RUN_EXISTS', `run ${w.run.id} is created twice in one batch`, { retryable: false })
        plan.runs.set(w.run.id, runRow(w.run))
        let position = 0
        for (const node of Object.values(w.run.nodes)) plan.nodes.set(key(w.run.id, node.id), nodeRow(w.run.id, node, position++))
        break
      }
      case 'run.update': {
        before(w.runId)
        const set = runColumns(w.patch, w.runId)
        // a run created in this batch takes its patches before it is inserted
        const target = plan.runs.get(w.runId) ?? plan.updates.get(w.runId)
        if (target) Object.assign(target, set)
        else plan.updates.set(w.runId, set)
        break
      }
      case 'node.update': {
        before(w.runId)
        const k = key(w.runId, w.node.id)
        plan.nodes.set(k, nodeRow(w.runId, w.node, plan.nodes.get(k)?.position ?? null))
        break
      }
      case 'event':
        before(w.event.run_id)
        plan.events.push(eventRow(w.event))
        break
      case 'approval.request':
        before(w.request.runId)
        plan.approvals.push({ runId: w.request.runId, gate: w.request.gate, revision: w.request.revision, request: w.request })
        break
    }
  }
  return plan
}

const key = (runId: string, nodeId: string) => `${runId}\u0000${nodeId}`

function* chunks<T>(items: Iterable<T>, size: number): Generator<T[]> {
  let chunk: T[] = []
  for (const item of items) {
    chunk.push(item)
    if (chunk.length === size) {
      yield chunk
      chunk = []
    }
  }
  if (chunk.length) yield chunk
}

const limited = <Q extends PgSelect>(q: Q, limit: number | undefined): Q => (limit === undefined ? q : q.limit(limit))

/** The filter of `listRuns`: on the stored status; a status this version does not know counts as failed. */
function statusFilter(status: RunStatus | undefined): SQL | undefined {
  if (status === undefined) return undefined
  if (status === 'failed') return or(eq(generations.status, 'failed'), notInArray(generations.status, RUN_STATUSES))
  return eq(generations.status, status)
}

/** An operation that gave up on a lost connection: STORE_UNAVAILABLE, with the driver's error (the innermost cause) as the cause. */
function unavailable(err: unknown, lostMs: number): WeftError {
  let cause = err
  while ((cause as { cause?: unknown })?.cause) cause = (cause as { cause: unknown }).cause
  const why = cause instanceof Error ? cause.message : String(cause)
  return new WeftError('STORE_UNAVAILABLE', `the database has been unreachable for ${(lostMs / 1000).toFixed(1)} s (${why}); it may be restarting or down`, { cause })
}

/**
 * A batch that fits one statement of each kind, as a single statement (data-modifying CTEs, atomic by itself):
 * one round trip and no BEGIN/COMMIT of its own, where a transaction costs three. Undefined for a batch too
 * large for it (several chunks), which then goes through a transaction. Every row appears once (see planBatch).
 */
type Row = { updated: string[] | null }

/** Turns a statement into SQL text and parameters for the prepared path (the stores' drizzle instances use no casing). */
const dialect = new PgDialect()

function oneStatement(db: PgDb, plan: Plan): { statement: SQL; updates: string[] } | undefined {
  if (plan.runs.size > RUN_CHUNK || plan.nodes.size > NODE_CHUNK || plan.events.length > EVENT_CHUNK) return undefined
  // the statement checks a run.update's run exists by its returned id; a run changed twice goes through a transaction
  const parts: SQL[] = []
  // embedded with getSQL(): a query builder embedded as it is comes wrapped in parentheses
  if (plan.runs.size) parts.push(sql`r as (${db.insert(generations).values([...plan.runs.values()]).getSQL()})`)
  const updates = [...plan.updates.keys()]
  updates.forEach((runId, i) => {
    const set = plan.updates.get(runId)!
    parts.push(sql`${sql.raw(`u${i}`)} as (${db.update(generations).set({ ...set, updatedAt: sql`now()` }).where(eq(generations.id, runId)).returning({ id: generations.id }).getSQL()})`)
  })
  if (plan.nodes.size) parts.push(sql`n as (${db.insert(generationNodes).values([...plan.nodes.values()]).onConflictDoUpdate({ target: [generationNodes.runId, generationNodes.nodeId], set: NODE_UPSERT }).getSQL()})`)
  if (plan.events.length) parts.push(sql`e as (${db.insert(generationEvents).values(plan.events).getSQL()})`)
  if (plan.approvals.length) parts.push(sql`a as (${db.insert(approvals).values(plan.approvals).onConflictDoNothing().getSQL()})`)
  if (parts.length === 0) return undefined
  const updated = updates.length ? sql.join(updates.map((_, i) => sql`select id from ${sql.raw(`u${i}`)}`), sql` union all `) : undefined
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
 * The durable `RunStore`, on PGlite or Postgres through drizzle. Open it with `openPgliteStore`,
 * `openPostgresStore` or `openRunStore`; they run the migrations first.
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
/** How long closing waits for operations under way before it ends the connection under them. */
const CLOSE_GRACE_MS = 2000

export class DrizzleRunStore implements RunStore {
  readonly #db: PgDb
  readonly #close: () => Promise<void>
  readonly #reconnect: ReconnectPolicy | undefined
  /** Since when the connection has been lost (undefined while it works): every operation shares one outage's window. */
  #lostSince: number | undefined
  #closed: Promise<void> | undefined
  /** Operations under way: closing lets them finish (briefly) so that none is left queued on the driver. */
  readonly #busy = new Set<Promise<unknown>>()

  readonly #prepared: PreparedExec | undefined

  /** `prepared`: runs SQL text as a prepared statement (postgres.js caches one per text and connection). */
  constructor(db: PgDb, readonly driver: PgDriver, close: () => Promise<void>, reconnect?: ReconnectPolicy, prepared?: PreparedExec) {
    this.#db = db
    this.#close = close
    this.#reconnect = reconnect
    this.#prepared = prepared
  }

  /**
   * Runs `op`, again (with `again` true) after each lost connection until the connection has been lost for the
   * reconnect window: an outage longer than that fails each operation after a single try, until one succeeds.
   */
  #retrying<T>(op: (again: boolean) => Promise<T>): Promise<T> {
    if (this.#closed) return Promise.reject(new WeftError('STORE_CLOSED', 'the run store is closed', { retryable: false }))
    const p = this.#attempts(op)
    this.#busy.add(p)
    const done = () => void this.#busy.delete(p)
    p.then(done, done)
    return p
  }

  async #attempts<T>(op: (again: boolean) => Promise<T>): Promise<T> {
    let wait = 50
    for (let again = false; ; again = true) {
      try {
        const out = await op(again)
        this.#lostSince = undefined
        return out
      } catch (err) {
        const policy = this.#reconnect
        if (!policy || this.#closed) throw err
        if (!policy.lost(err)) {
          // the database answered (a constraint, say): the connection works
          this.#lostSince = undefined
          throw err
        }
        this.#lostSince ??= performance.now()
        const left = this.#lostSince + policy.windowMs - performance.now()
        if (left <= 0) throw unavailable(err, policy.windowMs - left)
        await sleep(Math.min(wait, left))
        wait = Math.min(wait * 2, 1000)
      }
    }
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
        const one = this.driver === 'postgres' ? oneStatement(this.#db, plan) : undefined
        if (one) {
          // a batch's shape (rows per table) recurs: prepared, its plan is made once per connection, not per write
          let res: Row[] | { rows: Row[] }
          if (this.#prepared) {
            const q = dialect.sqlToQuery(one.statement)
            res = (await this.#prepared(q.sql, q.params)) as Row[]
          } else res = (await this.#db.execute(one.statement)) as unknown as Row[] | { rows: Row[] }
          const [row] = Array.isArray(res) ? res : res.rows
          const missing = one.updates.filter((id) => !(row?.updated ?? []).includes(id))
          // nothing was kept: the statement is atomic, and this one is refused as a whole below
          if (missing.length) throw new WeftError('RUN_NOT_FOUND', `run.update for run ${missing[0]}, which does not exist`, { retryable: false })
          return
        }
        // PGlite, or a batch too large for one statement: a transaction of chunked statements
        await this.#db.transaction(async (tx) => {
          for (const rows of chunks(plan.runs.values(), RUN_CHUNK)) await tx.insert(generations).values(rows)
          for (const [runId, set] of plan.updates) {
            const hit = await tx.update(generations).set({ ...set, updatedAt: sql`now()` }).where(eq(generations.id, runId)).returning({ id: generations.id })
            if (hit.length === 0) throw new WeftError('RUN_NOT_FOUND', `run.update for run ${runId}, which does not exist`, { retryable: false })
          }
          for (const rows of chunks(plan.nodes.values(), NODE_CHUNK)) {
            await tx.insert(generationNodes).values(rows).onConflictDoUpdate({ target: [generationNodes.runId, generationNodes.nodeId], set: NODE_UPSERT })
          }
          for (const rows of chunks(plan.events, EVENT_CHUNK)) await tx.insert(generationEvents).values(rows)
          // a gate asking again after a resume finds its request (and maybe its decision) already there
          if (plan.approvals.length) await tx.insert(approvals).values(plan.approvals).onConflictDoNothing()
        })
      })
    } catch (err) {
      throw writeError(err)
    }
  }

  /** Whether `event` is stored already, as it is (same run, seq, type, node and time). */
  async #holds(event: EventInsert): Promise<boolean> {
    const [row] = await this.#db.select().from(generationEvents).where(and(eq(generationEvents.runId, event.runId), eq(generationEvents.seq, event.seq)))
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
    return this.#retrying(() => this.#db.transaction(async (tx) => {
      const [row] = await tx.select().from(generations).where(eq(generations.id, id))
      if (!row) return undefined
      const nodes = await tx.select().from(generationNodes).where(eq(generationNodes.runId, id)).orderBy(...NODE_ORDER)
      return readRun(row, nodes)
    }, READ))
  }

  /** Newest first (by `created_at`, then id). */
  async listRuns(query: RunQuery = {}): Promise<RunRecord[]> {
    if (query.limit !== undefined && query.limit <= 0) return []
    const where = and(statusFilter(query.status), query.sessionId === undefined ? undefined : eq(generations.sessionId, query.sessionId))
    // a session's runs read oldest first (in the order it started them)
    const order = query.sessionId === undefined ? RUN_ORDER : [asc(generations.createdAt), asc(generations.id)]
    const page = <Q extends PgSelect>(q: Q): Q => limited(query.offset ? q.offset(query.offset) : q, query.limit)
    return this.#retrying(() => this.#db.transaction(async (tx) => {
      const rows = await page(tx.select().from(generations).where(where).orderBy(...order).$dynamic())
      if (rows.length === 0) return []
      // the same page as a subquery: no parameter per listed run, however many there are
      const ids = page(tx.select({ id: generations.id }).from(generations).where(where).orderBy(...order).$dynamic())
      const nodeRows = await tx.select().from(generationNodes)
        .where(inArray(generationNodes.runId, ids))
        .orderBy(generationNodes.runId, ...NODE_ORDER)
      const byRun = new Map<string, NodeRow[]>()
      for (const n of nodeRows) {
        const list = byRun.get(n.runId)
        if (list) list.push(n)
        else byRun.set(n.runId, [n])
      }
      return rows.map((r) => readRun(r, byRun.get(r.id) ?? []))
    }, READ))
  }

  async listEvents(runId: string, afterSeq = 0): Promise<RunEvent[]> {
    const rows = await this.#retrying(() => this.#db.select().from(generationEvents)
      .where(and(eq(generationEvents.runId, runId), gt(generationEvents.seq, afterSeq)))
      .orderBy(generationEvents.seq))
    return rows.map(readEvent)
  }

  /** The lease lives on the run's row; expiry is judged by the database's clock, the same for every process. */
  async claimRun(runId: string, owner: string, ttlMs: number): Promise<boolean> {
    const ms = Math.max(1, Math.round(ttlMs))
    const rows = await this.#retrying(() => this.#db.update(generations)
      .set({ owner, leaseUntil: sql`now() + make_interval(secs => ${ms / 1000})` })
      .where(and(eq(generations.id, runId), or(isNull(generations.owner), eq(generations.owner, owner), isNull(generations.leaseUntil), lt(generations.leaseUntil, sql`now()`))))
      .returning({ id: generations.id }))
    return rows.length > 0
  }

  async releaseRun(runId: string, owner: string): Promise<void> {
    await this.#retrying(() => this.#db.update(generations).set({ owner: null, leaseUntil: null }).where(and(eq(generations.id, runId), eq(generations.owner, owner))))
  }

  async getApproval(runId: string, gate: string, revision: number): Promise<ApprovalRecord | undefined> {
    const [row] = await this.#retrying(() => this.#db.select().from(approvals).where(and(eq(approvals.runId, runId), eq(approvals.gate, gate), eq(approvals.revision, revision))))
    return row && readApproval(row)
  }

  async pendingApprovals(runId: string): Promise<ApprovalRecord[]> {
    const rows = await this.#retrying(() => this.#db.select().from(approvals).where(and(eq(approvals.runId, runId), isNull(approvals.decision))).orderBy(approvals.requestedAt, approvals.gate, approvals.revision))
    return rows.map(readApproval)
  }

  /**
   * One conditional update: of two processes deciding at once, exactly one is `applied`. (Should the connection
   * be lost just as that update commits, the try after reconnecting finds the decision and says not `applied`.)
   */
  async decideApproval(runId: string, gate: string, revision: number, decision: Decision): Promise<{ applied: boolean; decision: Decision } | undefined> {
    const match = and(eq(approvals.runId, runId), eq(approvals.gate, gate), eq(approvals.revision, revision))
    return this.#retrying(async () => {
      const hit = await this.#db.update(approvals).set({ decision, decidedAt: sql`now()` }).where(and(match, isNull(approvals.decision))).returning({ gate: approvals.gate })
      if (hit.length) return { applied: true, decision }
      const [row] = await this.#db.select().from(approvals).where(match)
      if (!row) return undefined
      return { applied: false, decision: row.decision as Decision }
    })
  }

  /** Closes the connection (PGlite: the database; an open one keeps the process alive). Idempotent. */
  close(): Promise<void> {
    return (this.#closed ??= (async () => {
      // postgres.js reconnects for queries still queued when it is ended, and then keeps those connections (and
      // the process) alive: new operations are refused above, and those under way get a moment to finish
      if (this.#busy.size) await Promise.race([Promise.allSettled([...this.#busy]), sleep(CLOSE_GRACE_MS, undefined, { ref: false })])
      await this.#close()
    })())
  }
}

function readApproval(row: typeof approvals.$inferSelect): ApprovalRecord {
  return {
    request: row.request as ApprovalRequest,
    decision: (row.decision ?? null) as Decision | null,
    requested_at: row.requestedAt.toISOString(),
    decided_at: row.decidedAt ? row.decidedAt.toISOString() : null,
  }
}
