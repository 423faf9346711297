// The embedded store: PGlite (Postgres compiled to WebAssembly) persisted in a directory, through drizzle.
import { mkdir } from 'node:fs/promises'
import { PGlite } from '@electric-sql/pglite'
import { drizzle } from 'drizzle-orm/pglite'
import { migrate } from 'drizzle-orm/pglite/migrator'
import { migrationsFolder } from '../db/migrations-folder.ts'
import { DrizzleRunStore } from './pg-store.ts'

/**
 * Opens (creating it if needed) the PGlite database in `dataDir` and applies the pending migrations.
 * `memory://` gives a database that lives only as long as the store. Always `close()` the store:
 * an open PGlite keeps the process alive. One process at a time may open a directory.
 */
export async function openPgliteStore(dataDir: string): Promise<DrizzleRunStore> {
  if (!dataDir.includes('://')) await mkdir(dataDir, { recursive: true })
  return pgliteRunStore(await PGlite.create(dataDir))
}

/** A store over an open PGlite client, after migrating it; closing the store closes the client. */
export async function pgliteRunStore(client: PGlite): Promise<DrizzleRunStore> {
  const db = drizzle({ client })
  try {
    await migrate(db, { migrationsFolder: migrationsFolder() })
  } catch (err) {
    await client.close()
    throw err
  }
  return new DrizzleRunStore(db, 'pglite', () => client.close())
}
