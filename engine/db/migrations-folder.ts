// Where the drizzle-kit migrations are, from the sources (tsx) or from the compiled dist/ (tsc copies no .sql files).
import { existsSync } from 'node:fs'
import { fileURLToPath } from 'node:url'

/** The migrations of each store's dialect: `migrations` (Postgres) and `sqlite-migrations` (SQLite). */
const FOLDER = { postgres: 'migrations', sqlite: 'sqlite-migrations' } as const

/** The folder holding `meta/_journal.json` and the `.sql` migrations of a dialect, for drizzle's migrator. */
export function migrationsFolder(dialect: keyof typeof FOLDER = 'postgres'): string {
  const beside = fileURLToPath(new URL(`./${FOLDER[dialect]}`, import.meta.url))
  if (existsSync(`${beside}/meta/_journal.json`)) return beside
  // compiled to dist/engine/db/: the migrations stay in the sources, engine/db/<folder>
  return fileURLToPath(new URL(`../../../engine/db/${FOLDER[dialect]}`, import.meta.url))
}
