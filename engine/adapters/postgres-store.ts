// The server store: Postgres through the postgres.js driver and drizzle, for DATABASE_URL.
import postgres, { type Sql } from 'postgres'
import { drizzle } from 'drizzle-orm/postgres-js'
import { preparingClient } from '../db/prepared-client.ts'
import { migrate } from 'drizzle-orm/postgres-js/migrator'
import { WeftError } from '../errors.ts'
import { migrationsFolder } from '../db/migrations-folder.ts'
import { PgRunStore } from './pg-store.ts'
import { DEFAULT_RECONNECT_MS, rootCause } from './store-ops.ts'
import type { ProcessIdentity } from './lease-holder.ts'

/** Advisory lock key held while migrating, so that processes starting together migrate one after the other. */
const MIGRATION_LOCK = 0x77656674 // "weft"

/** How long closing waits for queries still running before it cuts their connections, in seconds. */
const CLOSE_TIMEOUT_S = 2

// socket errors, the driver's own (postgres.js), and SQLSTATEs of a server going down or coming up
const LOST = new Set(['ECONNREFUSED', 'ECONNRESET', 'EPIPE', 'ETIMEDOUT', 'EHOSTUNREACH', 'ENETUNREACH', 'EAI_AGAIN', 'CONNECTION_CLOSED', 'CONNECT_TIMEOUT', '57P01', '57P02', '57P03'])

/**
 * Whether an error (or one of its causes) says the connection to Postgres was lost or could not be made, in
 * which case the transaction did not commit (or, cut off during COMMIT, may have) and may be tried again.
 * Not `CONNECTION_ENDED` or `CONNECTION_DESTROYED`: those follow our own `end()`.
 */
export function isConnectionLost(err: unknown): boolean {
  for (let e = err, depth = 0; e && typeof e === 'object' && depth < 5; e = (e as { cause?: unknown }).cause, depth++) {
    const code = (e as { code?: unknown }).code
    if (typeof code === 'string' && (LOST.has(code) || code.startsWith('08'))) return true
  }
  return false
}

export interface PostgresStoreOptions {
  /** Most connections the store opens (default 10; at least 2). */
  max?: number
  /** How long an operation keeps retrying once the connection is lost, in ms (default `DEFAULT_RECONNECT_MS`; 0: never). */
  reconnectMs?: number
  /** This process, as lease holders are recorded (default: the real one). */
  identity?: ProcessIdentity
}

/** An operation that gave up on a lost connection: STORE_UNAVAILABLE, with the driver's error (the innermost cause) as the cause. */
function unavailable(err: unknown, lostMs: number): WeftError {
  const cause = rootCause(err)
  const why = cause instanceof Error ? cause.message : String(cause)
  return new WeftError('STORE_UNAVAILABLE', `the database has been unreachable for ${(lostMs / 1000).toFixed(1)} s (${why}); it may be restarting or down`, { cause })
}

/** Connects to `url` (a `postgres://` URL), applies the pending migrations and returns the store. */
/**
 * Refuses a database URL postgres.js cannot use (it would throw a bare TypeError, or read `mysql://…` as Postgres),
 * naming what is wrong without echoing the URL (it may hold a password).
 */
export function checkDatabaseUrl(url: string): void {
  const refuse = (why: string) => new WeftError('STORE_CONFIG_INVALID', `DATABASE_URL ${why}: expected postgres://user@host:port/database`, { retryable: false })
  // postgres.js would fall back to PG* variables and defaults: never migrate a database nobody named
  if (!url) throw refuse('is empty')
  let parsed: URL
  try {
    // postgres.js takes several hosts (`postgres://u@h1:5432,h2:5432/db`) and reads the URL with the first: so is it checked
    parsed = new URL(url.replace(/^([a-z][a-z0-9+.-]*:\/\/(?:[^@/?#]*@)?)([^/?#]*)/i, (_, start: string, hosts: string) => start + hosts.split(',')[0]))
  } catch {
    throw refuse('is not a URL')
  }
  if (parsed.protocol !== 'postgres:' && parsed.protocol !== 'postgresql:') throw refuse(`is a ${parsed.protocol}// URL`)
}

export async function openPostgresStore(url: string, opts: PostgresStoreOptions = {}): Promise<PgRunStore> {
  checkDatabaseUrl(url)
  // the driver's own wait before reconnecting grows to 20 s after a few refused connections (a restart makes
  // many): capped at 1 s, a store that retries gets going again within a second of the database coming back
  const backoff = (retries: number) => Math.min(0.05 * 2 ** retries, 1)
  // notices such as `schema "drizzle" already exists, skipping` are not worth printing
  return postgresRunStore(postgres(url, { max: opts.max ?? 10, onnotice: () => {}, backoff }), opts)
}

/** A store over a postgres.js client, after migrating; closing the store ends the client. Needs `max` ≥ 2. */
export async function postgresRunStore(client: Sql, opts: Pick<PostgresStoreOptions, 'reconnectMs' | 'identity'> = {}): Promise<PgRunStore> {
  const db = drizzle({ client: preparingClient(client) })
  // postgres.js 3.4's end() never settles once a connection has died under a query (porsager/postgres#1097):
  // past the timeout it destroys the connections instead of waiting for them
  const end = () => client.end({ timeout: CLOSE_TIMEOUT_S })
  try {
    const lock = await client.reserve()
    try {
      await lock`select pg_advisory_lock(${MIGRATION_LOCK})`
      try {
        await migrate(db, { migrationsFolder: migrationsFolder('postgres') })
      } finally {
        await lock`select pg_advisory_unlock(${MIGRATION_LOCK})`
      }
    } finally {
      lock.release()
    }
  } catch (err) {
    await end()
    // a database that cannot be reached at all (down, a wrong host or port): said in a line, not as the driver's error
    if (isConnectionLost(err)) {
      const cause = rootCause(err)
      throw new WeftError('STORE_UNAVAILABLE', `cannot reach the database (${cause instanceof Error ? cause.message : String(cause)}): check DATABASE_URL and that PostgreSQL is running`, {
        cause,
        retryable: false,
      })
    }
    // reached, but refused: no such database, or its credentials (Postgres's classes 3D and 28)
    const refused = rootCause(err) as { code?: unknown; message?: unknown }
    if (typeof refused?.code === 'string' && (refused.code === '3D000' || refused.code.startsWith('28'))) {
      const hint = refused.code === '3D000' ? 'create it (`createdb`, or `create database …` in psql) or fix DATABASE_URL' : 'check the user and password in DATABASE_URL'
      throw new WeftError('STORE_UNAVAILABLE', `the database refused the connection (${String(refused.message)}): ${hint}`, { cause: refused, retryable: false })
    }
    throw err
  }
  const reconnect = { windowMs: opts.reconnectMs ?? DEFAULT_RECONNECT_MS, lost: isConnectionLost, unavailable }
  return new PgRunStore(db, { close: end, reconnect, ...(opts.identity ? { identity: opts.identity } : {}) })
}
