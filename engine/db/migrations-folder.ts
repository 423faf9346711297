// Where the drizzle-kit migrations are, from the sources (tsx) or from the compiled dist/ (tsc copies no .sql files).
import { existsSync } from 'node:fs'
import { fileURLToPath } from 'node:url'

/** The folder holding `meta/_journal.json` and the `.sql` migrations, for drizzle's migrator. */
export function migrationsFolder(): string {
  const beside = fileURLToPath(new URL('./migrations', import.meta.url))
  if (existsSync(`${beside}/meta/_journal.json`)) return beside
  // compiled to dist/engine/db/: the migrations stay in the sources, engine/db/migrations
  return fileURLToPath(new URL('../../../engine/db/migrations', import.meta.url))
}
