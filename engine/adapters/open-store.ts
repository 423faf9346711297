// Chooses the durable store: Postgres when DATABASE_URL is set, otherwise the embedded SQLite file in the data directory.
import { existsSync } from 'node:fs'
import path from 'node:path'
import { parseDuration } from '../duration.ts'
import type { PgRunStore } from './pg-store.ts'
import { openSqliteStore, type SqliteRunStore } from './sqlite-store.ts'
import { DEFAULT_RECONNECT_MS } from './store-ops.ts'

/** A durable store: SQLite (embedded) or Postgres. */
export type SqlRunStore = SqliteRunStore | PgRunStore

export interface OpenStoreOptions {
  /** A `postgres://` URL; defaults to `DATABASE_URL`. When there is none, the store is SQLite. */
  databaseUrl?: string
  /** The SQLite file; defaults to `defaultDbFile()`. */
  dbFile?: string
  /** Environment to read `DATABASE_URL`, `WEFT_DATA_DIR`, `WEFT_DB_RECONNECT` and `WEFT_SQLITE_SYNC` from (default: `process.env`). */
  env?: Record<string, string | undefined>
  /** Directory that relative paths are resolved against (default: the working directory). */
  cwd?: string
  /** Told things a person should know once (an older version's store left in the data directory). */
  onNotice?: (message: string) => void
}

/** Weft's data directory: `WEFT_DATA_DIR`, or `.weft` in the working directory. Run media go under it too. */
export function weftDataDir(env: Record<string, string | undefined> = process.env, cwd = process.cwd()): string {
  return path.resolve(cwd, env.WEFT_DATA_DIR || '.weft')
}

/** Where the embedded database lives: `weft.db` in the data directory (`.weft/weft.db` by default). */
export function defaultDbFile(env: Record<string, string | undefined> = process.env, cwd = process.cwd()): string {
  return path.join(weftDataDir(env, cwd), 'weft.db')
}

/**
 * How long a store operation keeps trying while the database is out of reach: a Postgres restart, or a SQLite file
 * locked by other processes. `WEFT_DB_RECONNECT` (e.g. `30s`; `0` fails at once), default 15 s.
 */
function reconnectMs(env: Record<string, string | undefined> = process.env): number {
  const ms = env.WEFT_DB_RECONNECT ? parseDuration(env.WEFT_DB_RECONNECT) : undefined
  return ms ?? DEFAULT_RECONNECT_MS
}

/** Opens the run store for this process and applies pending migrations. The caller must `close()` it. */
export async function openRunStore(opts: OpenStoreOptions = {}): Promise<SqlRunStore> {
  const env = opts.env ?? process.env
  const cwd = opts.cwd ?? process.cwd()
  const url = opts.databaseUrl || env.DATABASE_URL
  // loaded only for Postgres: a quick command on the embedded store does not load its driver
  if (url) return (await import('./postgres-store.ts')).openPostgresStore(url, { reconnectMs: reconnectMs(env) })
  const file = opts.dbFile === undefined ? defaultDbFile(env, cwd) : path.resolve(cwd, opts.dbFile)
  const isNew = !existsSync(file)
  const store = await openSqliteStore(file, {
    busyMs: reconnectMs(env),
    synchronous: env.WEFT_SQLITE_SYNC?.toLowerCase() === 'full' ? 'full' : 'normal',
  })
  // said when the new store is created beside the old one: the runs there are not lost, but not shown either
  const old = path.join(path.dirname(file), 'db')
  if (isNew && existsSync(path.join(old, 'PG_VERSION'))) {
    opts.onNotice?.(
      `note: ${old} holds runs recorded by an earlier version of weft (PGlite), which this version no longer reads; runs are now recorded in ${file}. Remove ${old} once you no longer need it.`,
    )
  }
  return store
}
