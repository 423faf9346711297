// drizzle-kit settings for the Postgres store: `npm run db:generate` writes Postgres migrations from schema.ts.
import { defineConfig } from 'drizzle-kit'

export default defineConfig({
  dialect: 'postgresql',
  schema: './engine/db/schema.ts',
  out: './engine/db/migrations',
})
