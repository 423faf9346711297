// drizzle-kit settings for the embedded store: `npm run db:generate` writes SQLite migrations from sqlite-schema.ts.
import { defineConfig } from 'drizzle-kit'

export default defineConfig({
  dialect: 'sqlite',
  schema: './engine/db/sqlite-schema.ts',
  out: './engine/db/sqlite-migrations',
})
