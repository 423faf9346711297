// The SQLite store's one door to drizzle-orm. `npm run build` bundles this module with the drizzle code it uses
// into a single file (dist/engine/db/drizzle-sqlite.js): loading drizzle's few hundred modules one by one is most
// of a quick command's start-up (`weft show`), and one file loads in a fraction of that. From the sources (tsx),
// it is a plain re-export.
export { and, asc, desc, eq, getTableColumns, gt, inArray, isNull, ne, notInArray, or, sql } from 'drizzle-orm'
export type { Placeholder, SQL, Table } from 'drizzle-orm'
export { drizzle } from 'drizzle-orm/better-sqlite3'
export type { BetterSQLite3Database } from 'drizzle-orm/better-sqlite3'
export { readMigrationFiles } from 'drizzle-orm/migrator'
export { customType, index, integer, primaryKey, real, sqliteTable, text } from 'drizzle-orm/sqlite-core'
export type { SQLiteSelect } from 'drizzle-orm/sqlite-core'
