// The embedded store: SQLite in the data directory through drizzle and better-sqlite3, shared by every weft process on the machine.
import { mkdirSync } from 'node:fs'
import path from 'node:path'
import Database from 'better-sqlite3'
import {
  and,
  asc,
  desc,
  drizzle,
  eq,
  getTableColumns,
  gt,
  inArray,
  isNull,
  ne,
  notInArray,
  or,
  readMigrationFiles,
  sql,
  type BetterSQLite3Database,
  type Placeholder,
  type SQL,
  type SQLiteSelect,
  type Table,
} from '../db/drizzle-sqlite.ts'
import { WeftError } from '../errors.ts'
import type { ApprovalRecord, Decision, LeaseHolder, RunEvent, RunQuery, RunRecord, RunStatus, RunStore, StoreWrite, TaskResult } from '../ports.ts'
import { readApproval, readEvent, readResult, readRun, RUN_STATUSES, type NodeRow } from '../db/records.ts'
import { chunks, chunkSize, excludedColumns, planBatch, type Plan } from '../db/batch.ts'
import { migrationsFolder } from '../db/migrations-folder.ts'
import { approvals, generationEvents, generationNodes, generations, taskResults } from '../db/sqlite-schema.ts'
import { DEFAULT_RECONNECT_MS, rootCause, StoreOps } from './store-ops.ts'
import { holderGone, thisProcess, type ProcessIdentity } from './lease-holder.ts'
import { sqliteError } from './sqlite-errors.ts'

/**
 * How long SQLite itself waits for another process's write lock before answering SQLITE_BUSY. The wait blocks this
 * thread (better-sqlite3 is synchronous), so it is short; past it the operation is tried again without blocking.
 */
const BUSY_TIMEOUT_MS = 250

/** How long an operation keeps trying while other processes hold the database busy, past SQLite's own wait. */
const DEFAULT_BUSY_MS = DEFAULT_RECONNECT_MS

const RUN_CHUNK = chunkSize(Object.keys(getTableColumns(generations)).length)
const NODE_UPSERT = Object.fromEntries(excludedColumns(getTableColumns(generationNodes)).map(([key, text]) => [key, sql.raw(text)]))
const RESULT_CHUNK = chunkSize(Object.keys(getTableColumns(taskResults)).length)
const RESULT_UPSERT = Object.fromEntries(excludedColumns(getTableColumns(taskResults)).map(([key, text]) => [key, sql.raw(text)]))
const NODE_ORDER = [sql`${generationNodes.position} is null`, asc(generationNodes.position), asc(generationNodes.nodeId)]
const RUN_ORDER = [desc(generations.createdAt), desc(generations.id)]

type SqliteDb = BetterSQLite3Database

export interface SqliteStoreOptions {
  /** How long an operation keeps trying while the database is busy, in ms (default `DEFAULT_BUSY_MS`). */
  busyMs?: number
  /** The clock leases expire by (default `Date.now`): SQLite has no server clock, so it is this machine's. */
  now?: () => number
  /** This process, as lease holders are recorded (default: the real one). */
  identity?: ProcessIdentity
  /**
   * When a commit reaches the disk (default `normal`). In WAL mode `normal` loses nothing when a process is killed
   * (a commit is in the WAL file, in the operating system's hands, before it returns) and never corrupts the file;
   * only a power loss or an OS crash may take back the last commits. `full` syncs the WAL on every commit, which
   * survives that too and costs ~0.4 ms a commit here (a 1,000-node chain: 0.8 s → 1.2 s).
   */
  synchronous?: 'normal' | 'full'
}

/** Whether an error is SQLite answering that another connection holds the lock it needs. */
function isBusy(err: unknown): boolean {
  const code = (rootCause(err) as { code?: unknown })?.code
  return typeof code === 'string' && (code.startsWith('SQLITE_BUSY') || code.startsWith('SQLITE_LOCKED'))
}

/**
 * Opens (creating it and its folder if needed) the SQLite database at `file` and applies the pending migrations.
 * WAL journal (readers never wait for the writer), `synchronous` as `opts.synchronous` says (NORMAL: a commit survives
 * a killed process), foreign keys on. Any number of processes may open
 * one file at once. Rejects with STORE_NOT_WRITABLE, STORE_NOT_SQLITE, STORE_CORRUPT, STORE_DISK_FULL or
 * STORE_IO_ERROR, naming the file and what to do.
 */
export async function openSqliteStore(file: string, opts: SqliteStoreOptions = {}): Promise<SqliteRunStore> {
  try {
    mkdirSync(path.dirname(file), { recursive: true })
  } catch (err) {
    throw sqliteError(err, file)
  }
  let client: Database.Database
  try {
    client = new Database(file, { timeout: BUSY_TIMEOUT_MS })
  } catch (err) {
    throw sqliteError(err, file)
  }
  const store = new SqliteRunStore(client, file, opts)
  try {
    await store.prepare()
  } catch (err) {
    await store.close()
    throw err
  }
  return store
}

/**
 * The durable `RunStore` on SQLite. Every write batch is one `BEGIN IMMEDIATE` transaction (the write lock taken
 * up front, so two writers queue instead of failing on an upgrade); reads see one snapshot. Operations are
 * synchronous underneath (better-sqlite3): a batch commits in well under a millisecond, and SQLite's own
 * busy wait is capped at 250 ms, past which the operation is tried again asynchronously until `busyMs`.
 * Stored rows that do not read come back as failed runs (`RUN_RECORD_CORRUPT`), as on Postgres.
 */
export class SqliteRunStore implements RunStore {
  readonly driver = 'sqlite'
  readonly #client: Database.Database
  readonly #db: SqliteDb
  readonly #file: string
  readonly #ops: StoreOps
  readonly #now: () => number
  readonly #me: ProcessIdentity
  readonly #synchronous: 'NORMAL' | 'FULL'
  /** The write transaction (better-sqlite3's: BEGIN … COMMIT, or ROLLBACK when it throws). */
  readonly #apply: Database.Transaction<(plan: Plan) => void>
  // prepared on first use (the tables exist only once migrated)
  #nodeStatement: RowStatement | undefined
  #eventStatement: RowStatement | undefined

  constructor(client: Database.Database, file: string, opts: SqliteStoreOptions = {}) {
    this.#client = client
    this.#db = drizzle({ client })
    this.#apply = client.transaction((plan: Plan) => this.#applyPlan(plan))
    this.#file = file
    this.#now = opts.now ?? Date.now
    this.#me = opts.identity ?? thisProcess
    this.#synchronous = opts.synchronous === 'full' ? 'FULL' : 'NORMAL'
    this.#ops = new StoreOps({
      windowMs: opts.busyMs ?? DEFAULT_BUSY_MS,
      lost: isBusy,
      unavailable: (err, ms) => new WeftError('STORE_UNAVAILABLE', `${file} has been locked by other processes for ${(ms / 1000).toFixed(1)} s; one of them may be stuck`, { cause: rootCause(err) }),
    })
  }

  get #upsertNode() {
    return (this.#nodeStatement ??= prepareNodeUpsert(this.#client, this.#db))
  }

  get #insertEvent() {
    return (this.#eventStatement ??= prepareEventInsert(this.#client, this.#db))
  }

  /** Runs a synchronous operation with the store's retries; SQLite's errors become the engine's codes (`map`). */
  #run<T>(op: () => T, map: (err: unknown, file: string) => unknown = sqliteError): Promise<T> {
    return this.#ops.run(() => {
      try {
        return op()
      } catch (err) {
        if (err instanceof WeftError || isBusy(err)) throw err
        throw map(err, this.#file)
      }
    })
  }

  /** Sets the connection up and migrates: the pragmas first (WAL needs a lock once, when the file is new). */
  async prepare(): Promise<void> {
    await this.#run(() => {
      this.#client.pragma('journal_mode = WAL')
      this.#client.pragma(`synchronous = ${this.#synchronous}`)
    })
    // foreign keys off while migrating (SQLite ignores the pragma inside a transaction): a migration that rebuilds a
    // table drops it, which would cascade to every row that refers to it; the keys are checked before it commits
    this.#client.pragma('foreign_keys = OFF')
    await this.#run(() => this.#migrate())
    this.#client.pragma('foreign_keys = ON')
  }

  /**
   * drizzle's migrations, applied inside one `BEGIN IMMEDIATE`: drizzle's own SQLite migrator reads which are applied
   * before it takes the write lock, so two processes opening a new file at once would both apply the first one. The
   * bookkeeping table is drizzle's (`__drizzle_migrations`, same columns), so drizzle-kit reads it as its own.
   */
  #migrate(): void {
    const migrations = readMigrationFiles({ migrationsFolder: migrationsFolder('sqlite') })
    this.#client
      .transaction(() => {
        this.#client.exec('CREATE TABLE IF NOT EXISTS "__drizzle_migrations" (id SERIAL PRIMARY KEY, hash text NOT NULL, created_at numeric)')
        const last = this.#client.prepare('SELECT created_at FROM "__drizzle_migrations" ORDER BY created_at DESC LIMIT 1').pluck().get() as number | string | undefined
        const record = this.#client.prepare('INSERT INTO "__drizzle_migrations" ("hash", "created_at") VALUES (?, ?)')
        for (const m of migrations) {
          if (last !== undefined && Number(last) >= m.folderMillis) continue
          for (const statement of m.sql) if (statement.trim()) this.#client.exec(statement)
          record.run(m.hash, m.folderMillis)
        }
        const broken = this.#client.pragma('foreign_key_check') as unknown[]
        if (broken.length)
          throw new WeftError('STORE_MIGRATION_FAILED', `migrating ${this.#file} would leave ${broken.length} rows whose run is gone; nothing was changed`, {
            retryable: false,
            details: { rows: broken.slice(0, 10) },
          })
      })
      .immediate()
  }

  /**
   * Applies the batch in one transaction; rejects with RUN_EXISTS, RUN_NOT_FOUND, STORE_CONFLICT, STORE_DISK_FULL,
   * STORE_UNAVAILABLE (busy past the window) or STORE_WRITE_FAILED, and then nothing of it is kept.
   */
  async write(batch: readonly StoreWrite[]): Promise<void> {
    if (batch.length === 0) return
    const plan = planBatch(batch)
    await this.#run(() => this.#apply.immediate(plan), writeError)
  }

  /**
   * One batch, inside the caller's transaction. Nodes and events (most of every batch) go through statements
   * prepared once: SQLite runs a prepared single-row insert in microseconds, where building the SQL each time costs
   * several times that. Runs and approvals (a few per run) are built each time.
   */
  #applyPlan(plan: Plan): void {
    const db = this.#db
    if (plan.early.size) {
      const [found] = db
        .select({ id: generations.id })
        .from(generations)
        .where(inArray(generations.id, [...plan.early]))
        .limit(1)
        .all()
      if (found) throw new WeftError('RUN_EXISTS', `run ${found.id} already exists`, { retryable: false })
      throw new WeftError('RUN_NOT_FOUND', `run ${[...plan.early][0]} is written to before it is created, in the same batch`, { retryable: false })
    }
    for (const rows of chunks(plan.runs.values(), RUN_CHUNK)) db.insert(generations).values(rows).run()
    const updatedAt = new Date(this.#now())
    for (const [runId, set] of plan.updates) {
      const hit = db
        .update(generations)
        .set({ ...set, updatedAt })
        .where(eq(generations.id, runId))
        .returning({ id: generations.id })
        .all()
      if (hit.length === 0) throw new WeftError('RUN_NOT_FOUND', `run.update for run ${runId}, which does not exist`, { retryable: false })
    }
    for (const row of plan.nodes.values()) this.#upsertNode.run(row)
    for (const row of plan.events) this.#insertEvent.run(row)
    // a gate asking again after a resume finds its request (and maybe its decision) already there
    if (plan.approvals.length) db.insert(approvals).values(plan.approvals).onConflictDoNothing().run()
    for (const rows of chunks(plan.results.values(), RESULT_CHUNK))
      db.insert(taskResults)
        .values(rows)
        .onConflictDoUpdate({ target: [taskResults.runId, taskResults.key], set: RESULT_UPSERT })
        .run()
  }

  async getRun(id: string): Promise<RunRecord | undefined> {
    return this.#run(() =>
      this.#db.transaction((tx) => {
        const row = tx.select().from(generations).where(eq(generations.id, id)).get()
        if (!row) return undefined
        return readRun(
          row,
          tx
            .select()
            .from(generationNodes)
            .where(eq(generationNodes.runId, id))
            .orderBy(...NODE_ORDER)
            .all(),
        )
      }),
    )
  }

  /** Newest first (by `created_at`, then id); a session's runs oldest first. */
  async listRuns(query: RunQuery = {}): Promise<RunRecord[]> {
    if (query.limit !== undefined && query.limit <= 0) return []
    const where = and(
      statusFilter(query.status),
      query.sessionId === undefined ? undefined : eq(generations.sessionId, query.sessionId),
      query.excludeOwner === undefined ? undefined : or(isNull(generations.owner), ne(generations.owner, query.excludeOwner)),
    )
    const order = query.sessionId === undefined ? RUN_ORDER : [asc(generations.createdAt), asc(generations.id)]
    // SQLite takes an OFFSET only after a LIMIT (-1: none)
    const page = <Q extends SQLiteSelect>(q: Q): Q => (query.limit === undefined && !query.offset ? q : q.limit(query.limit ?? -1).offset(query.offset ?? 0))
    return this.#run(() =>
      this.#db.transaction((tx) => {
        const rows = page(
          tx
            .select()
            .from(generations)
            .where(where)
            .orderBy(...order)
            .$dynamic(),
        ).all()
        if (rows.length === 0) return []
        const ids = page(
          tx
            .select({ id: generations.id })
            .from(generations)
            .where(where)
            .orderBy(...order)
            .$dynamic(),
        )
        const byRun = new Map<string, NodeRow[]>()
        for (const n of tx
          .select()
          .from(generationNodes)
          .where(inArray(generationNodes.runId, ids))
          .orderBy(generationNodes.runId, ...NODE_ORDER)
          .all()) {
          const list = byRun.get(n.runId)
          if (list) list.push(n)
          else byRun.set(n.runId, [n])
        }
        return rows.map((r) => readRun(r, byRun.get(r.id) ?? []))
      }),
    )
  }

  async listEvents(runId: string, afterSeq = 0): Promise<RunEvent[]> {
    const rows = await this.#run(() =>
      this.#db
        .select()
        .from(generationEvents)
        .where(and(eq(generationEvents.runId, runId), gt(generationEvents.seq, afterSeq)))
        .orderBy(generationEvents.seq)
        .all(),
    )
    return rows.map(readEvent)
  }

  /**
   * The lease lives on the run's row and expires by this machine's clock (one machine shares a SQLite file). A lease
   * whose holder's process is gone from this host is taken over at once.
   */
  async claimRun(runId: string, owner: string, ttlMs: number): Promise<boolean> {
    return this.#run(() =>
      this.#db.transaction(
        (tx) => {
          const now = this.#now()
          const row = tx
            .select({ owner: generations.owner, until: generations.leaseUntil, host: generations.ownerHost, pid: generations.ownerPid })
            .from(generations)
            .where(eq(generations.id, runId))
            .get()
          if (!row) return false
          const held = row.owner !== null && row.owner !== owner && row.until !== null && row.until.getTime() > now
          if (held && !holderGone({ host: row.host, pid: row.pid }, this.#me)) return false
          tx.update(generations)
            .set({ owner, leaseUntil: new Date(now + Math.max(1, Math.round(ttlMs))), ownerHost: this.#me.host, ownerPid: this.#me.pid })
            .where(eq(generations.id, runId))
            .run()
          return true
        },
        { behavior: 'immediate' },
      ),
    )
  }

  async leaseHolder(runId: string): Promise<LeaseHolder | undefined> {
    return this.#run(() => {
      const row = this.#db
        .select({ owner: generations.owner, until: generations.leaseUntil, host: generations.ownerHost, pid: generations.ownerPid })
        .from(generations)
        .where(eq(generations.id, runId))
        .get()
      if (!row?.owner || !row.until || row.until.getTime() <= this.#now()) return undefined
      return { owner: row.owner, host: row.host, pid: row.pid, until: row.until.toISOString() }
    })
  }

  async releaseRun(runId: string, owner: string): Promise<void> {
    await this.#run(() =>
      this.#db
        .update(generations)
        .set({ owner: null, leaseUntil: null, ownerHost: null, ownerPid: null })
        .where(and(eq(generations.id, runId), eq(generations.owner, owner)))
        .run(),
    )
  }

  async lastApproval(runId: string, gate: string): Promise<ApprovalRecord | undefined> {
    const row = await this.#run(() =>
      this.#db
        .select()
        .from(approvals)
        .where(and(eq(approvals.runId, runId), eq(approvals.gate, gate)))
        .orderBy(desc(approvals.revision))
        .limit(1)
        .get(),
    )
    return row && readApproval(row)
  }

  async getApproval(runId: string, gate: string, revision: number): Promise<ApprovalRecord | undefined> {
    const row = await this.#run(() =>
      this.#db
        .select()
        .from(approvals)
        .where(and(eq(approvals.runId, runId), eq(approvals.gate, gate), eq(approvals.revision, revision)))
        .get(),
    )
    return row && readApproval(row)
  }

  async taskResults(runId: string): Promise<TaskResult[]> {
    const rows = await this.#run(() => this.#db.select().from(taskResults).where(eq(taskResults.runId, runId)).all())
    return rows.flatMap((row) => readResult(row) ?? [])
  }

  async pendingApprovals(runId: string): Promise<ApprovalRecord[]> {
    const rows = await this.#run(() =>
      this.#db
        .select()
        .from(approvals)
        .where(and(eq(approvals.runId, runId), isNull(approvals.decision)))
        .orderBy(approvals.requestedAt, approvals.gate, approvals.revision)
        .all(),
    )
    return rows.map(readApproval)
  }

  /** One conditional update under the write lock: of two processes deciding at once, exactly one is `applied`. */
  async decideApproval(runId: string, gate: string, revision: number, decision: Decision): Promise<{ applied: boolean; decision: Decision } | undefined> {
    const match = and(eq(approvals.runId, runId), eq(approvals.gate, gate), eq(approvals.revision, revision))
    return this.#run(() =>
      this.#db.transaction(
        (tx) => {
          const hit = tx
            .update(approvals)
            .set({ decision, decidedAt: new Date(this.#now()) })
            .where(and(match, isNull(approvals.decision)))
            .returning({ gate: approvals.gate })
            .all()
          if (hit.length) return { applied: true, decision }
          const row = tx.select().from(approvals).where(match).get()
          if (!row) return undefined
          return { applied: false, decision: row.decision as Decision }
        },
        { behavior: 'immediate' },
      ),
    )
  }

  /** Closes the database (the last connection to close checkpoints the WAL into the file). Idempotent. */
  close(): Promise<void> {
    return this.#ops.close(() => void this.#client.close())
  }
}

/** Every column of a table as a named placeholder, for statements prepared once and run with a row. */
function placeholders(table: Table): Record<string, Placeholder> {
  return Object.fromEntries(Object.keys(getTableColumns(table)).map((key) => [key, sql.placeholder(key)]))
}

/** A statement with one placeholder per column, prepared once; runs with a row, each value encoded by its column. */
interface RowStatement {
  run(row: object): void
}

/**
 * The SQL drizzle builds for `query`, prepared once on the client. Values are encoded by their columns here
 * (drizzle's own prepared statements would also encode a NULL, which its timestamp columns cannot take).
 */
function rowStatement(client: Database.Database, query: { toSQL(): { sql: string; params: unknown[] } }): RowStatement {
  const { sql: text, params } = query.toSQL()
  const slots = params.map((p) => {
    const { value, encoder } = p as { value: Placeholder; encoder: { mapToDriverValue(v: unknown): unknown } }
    return { name: value.name, encoder }
  })
  const statement = client.prepare(text)
  return {
    run(row) {
      const values = row as Record<string, unknown>
      statement.run(slots.map(({ name, encoder }) => (values[name] == null ? null : encoder.mapToDriverValue(values[name]))))
    },
  }
}

/** Inserts a node row, or replaces the stored one but for its position (see excludedSet). */
function prepareNodeUpsert(client: Database.Database, db: SqliteDb): RowStatement {
  return rowStatement(
    client,
    db
      .insert(generationNodes)
      .values(placeholders(generationNodes) as never)
      .onConflictDoUpdate({ target: [generationNodes.runId, generationNodes.nodeId], set: NODE_UPSERT }),
  )
}

function prepareEventInsert(client: Database.Database, db: SqliteDb): RowStatement {
  return rowStatement(client, db.insert(generationEvents).values(placeholders(generationEvents) as never))
}

/** The filter of `listRuns`: on the stored status; a status this version does not know counts as failed. */
function statusFilter(status: RunStatus | undefined): SQL | undefined {
  if (status === undefined) return undefined
  if (status === 'failed') return or(eq(generations.status, 'failed'), notInArray(generations.status, RUN_STATUSES))
  return eq(generations.status, status)
}

/** Constraint errors of a write as the engine's codes; the rest as sqliteError says. */
function writeError(err: unknown, file: string): unknown {
  const cause = rootCause(err) as { code?: unknown; message?: unknown }
  const message = String(cause?.message ?? '')
  if (cause?.code === 'SQLITE_CONSTRAINT_FOREIGNKEY') return new WeftError('RUN_NOT_FOUND', 'write for a run that does not exist', { cause, retryable: false })
  if (cause?.code === 'SQLITE_CONSTRAINT_PRIMARYKEY' && message.includes('generations.id')) return new WeftError('RUN_EXISTS', `run already exists (${message})`, { cause, retryable: false })
  if (cause?.code === 'SQLITE_CONSTRAINT_PRIMARYKEY' || cause?.code === 'SQLITE_CONSTRAINT_UNIQUE')
    return new WeftError('STORE_CONFLICT', `write conflicts with a stored row (${message})`, { cause, retryable: false })
  const mapped = sqliteError(err, file)
  // what needs a person (a full disk, a damaged file) keeps its code; any other failure is a failed write
  return mapped.code === 'STORE_FAILED' ? new WeftError('STORE_WRITE_FAILED', `store write failed: ${message}`, { cause, retryable: false }) : mapped
}
