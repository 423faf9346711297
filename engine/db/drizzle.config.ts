// drizzle-kit settings: `npm run db:generate` writes a new migration into engine/db/migrations from schema.ts.
import { defineConfig } from 'drizzle-kit'

export default defineConfig({
  dialect: 'postgresql',
  schema: './engine/db/schema.ts',
  out: './engine/db/migrations',
})
