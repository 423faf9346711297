// Chooses the durable store: Postgres when DATABASE_URL is set, otherwise the embedded PGlite under the data directory.
import path from 'node:path'
import { parseDuration } from '../duration.ts'
import type { DrizzleRunStore } from './pg-store.ts'
import { openPgliteStore } from './pglite-store.ts'
import { DEFAULT_RECONNECT_MS, openPostgresStore } from './postgres-store.ts'

export interface OpenStoreOptions {
  /** A `postgres://` URL; defaults to `DATABASE_URL`. When there is none, the store is PGlite. */
  databaseUrl?: string
  /** The PGlite directory; defaults to `defaultDbDir()`. */
  dataDir?: string
  /** Environment to read `DATABASE_URL`, `WEFT_DATA_DIR` and `WEFT_DB_RECONNECT` from (default: `process.env`). */
  env?: Record<string, string | undefined>
  /** Directory that relative paths are resolved against (default: the working directory). */
  cwd?: string
}

/** Weft's data directory: `WEFT_DATA_DIR`, or `.weft` in the working directory. Run media go under it too. */
export function weftDataDir(env: Record<string, string | undefined> = process.env, cwd = process.cwd()): string {
  return path.resolve(cwd, env.WEFT_DATA_DIR || '.weft')
}

/** Where the embedded database lives: `db` in the data directory (`.weft/db` by default). */
export function defaultDbDir(env: Record<string, string | undefined> = process.env, cwd = process.cwd()): string {
  return path.join(weftDataDir(env, cwd), 'db')
}

/**
 * How long a Postgres store operation keeps retrying once the connection is lost (a database restart):
 * `WEFT_DB_RECONNECT` (e.g. `30s`; `0` fails at once), default 15 s. Past it, the operation fails.
 */
export function reconnectMs(env: Record<string, string | undefined> = process.env): number {
  const ms = env.WEFT_DB_RECONNECT ? parseDuration(env.WEFT_DB_RECONNECT) : undefined
  return ms ?? DEFAULT_RECONNECT_MS
}

/** Opens the run store for this process and applies pending migrations. The caller must `close()` it. */
export async function openRunStore(opts: OpenStoreOptions = {}): Promise<DrizzleRunStore> {
  const env = opts.env ?? process.env
  const cwd = opts.cwd ?? process.cwd()
  const url = opts.databaseUrl || env.DATABASE_URL
  if (url) return openPostgresStore(url, { reconnectMs: reconnectMs(env) })
  const dir = opts.dataDir === undefined ? defaultDbDir(env, cwd) : opts.dataDir.includes('://') ? opts.dataDir : path.resolve(cwd, opts.dataDir)
  return openPgliteStore(dir)
}
