// The server store: Postgres through the postgres.js driver and drizzle, for DATABASE_URL.
import postgres, { type Sql } from 'postgres'
import { drizzle } from 'drizzle-orm/postgres-js'
import { migrate } from 'drizzle-orm/postgres-js/migrator'
import { WeftError } from '../errors.ts'
import { migrationsFolder } from '../db/migrations-folder.ts'
import { DrizzleRunStore } from './pg-store.ts'

/** Advisory lock key held while migrating, so that processes starting together migrate one after the other. */
const MIGRATION_LOCK = 0x77656674 // "weft"

/** Connects to `url` (a `postgres://` URL), applies the pending migrations and returns the store. */
export async function openPostgresStore(url: string, opts: { max?: number } = {}): Promise<DrizzleRunStore> {
  // postgres.js would fall back to PG* variables and defaults: never migrate a database nobody named
  if (!url) throw new WeftError('STORE_CONFIG_INVALID', 'openPostgresStore needs a database URL (postgres://user@host:port/database)', { retryable: false })
  // notices such as `schema "drizzle" already exists, skipping` are not worth printing
  return postgresRunStore(postgres(url, { max: opts.max ?? 10, onnotice: () => {} }))
}

/** A store over a postgres.js client, after migrating; closing the store ends the client. Needs `max` ≥ 2. */
export async function postgresRunStore(client: Sql): Promise<DrizzleRunStore> {
  const db = drizzle({ client })
  try {
    const lock = await client.reserve()
    try {
      await lock`select pg_advisory_lock(${MIGRATION_LOCK})`
      try {
        await migrate(db, { migrationsFolder: migrationsFolder() })
      } finally {
        await lock`select pg_advisory_unlock(${MIGRATION_LOCK})`
      }
    } finally {
      lock.release()
    }
  } catch (err) {
    await client.end()
    throw err
  }
  return new DrizzleRunStore(db, 'postgres', () => client.end())
}
