// Chooses the durable store: Postgres when DATABASE_URL is set, otherwise the embedded PGlite under the data directory.
import path from 'node:path'
import type { DrizzleRunStore } from './pg-store.ts'
import { openPgliteStore } from './pglite-store.ts'
import { openPostgresStore } from './postgres-store.ts'

export interface OpenStoreOptions {
  /** A `postgres://` URL; defaults to `DATABASE_URL`. When there is none, the store is PGlite. */
  databaseUrl?: string
  /** The PGlite directory; defaults to `defaultDbDir()`. */
  dataDir?: string
  /** Environment to read `DATABASE_URL` and `WEFT_DATA_DIR` from (default: `process.env`). */
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

/** Opens the run store for this process and applies pending migrations. The caller must `close()` it. */
export async function openRunStore(opts: OpenStoreOptions = {}): Promise<DrizzleRunStore> {
  const env = opts.env ?? process.env
  const cwd = opts.cwd ?? process.cwd()
  const url = opts.databaseUrl || env.DATABASE_URL
  if (url) return openPostgresStore(url)
  const dir = opts.dataDir === undefined ? defaultDbDir(env, cwd) : opts.dataDir.includes('://') ? opts.dataDir : path.resolve(cwd, opts.dataDir)
  return openPgliteStore(dir)
}
