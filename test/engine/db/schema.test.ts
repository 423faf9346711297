// The two schemas are one logical schema: SQLite's tables, columns, keys and indexes match Postgres's.
import { describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { getTableConfig as pgConfig } from 'drizzle-orm/pg-core'
import { getTableConfig as sqliteConfig } from 'drizzle-orm/sqlite-core'
import { execFileSync } from 'node:child_process'
import { cpSync, mkdtempSync, readdirSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import path from 'node:path'
import { migrationsFolder } from '../../../engine/db/migrations-folder.ts'
import * as pg from '../../../engine/db/schema.ts'
import * as lite from '../../../engine/db/sqlite-schema.ts'

type Config = ReturnType<typeof pgConfig> | ReturnType<typeof sqliteConfig>

/** What must agree between the dialects, per table. */
function shape(config: Config) {
  return {
    name: config.name,
    // dataType is drizzle's own kind (string, number, boolean, date, custom), the same across dialects
    columns: config.columns.map((c) => ({ name: c.name, kind: c.dataType, notNull: c.notNull, hasDefault: c.hasDefault, primary: c.primary })),
    primaryKeys: config.primaryKeys.map((pk) => pk.columns.map((c) => c.name)),
    foreignKeys: config.foreignKeys.map((fk) => {
      const ref = fk.reference()
      return { columns: ref.columns.map((c) => c.name), to: ref.foreignColumns.map((c) => c.name), onDelete: fk.onDelete }
    }),
    // index names and the columns they lead with (sort direction is Postgres's alone: SQLite walks an index either way)
    indexes: config.indexes.map((i) => ({ name: i.config.name, columns: i.config.columns.map((c) => ('name' in c ? c.name : String(c))) })),
  }
}

describe('schema: SQLite and Postgres', () => {
  const tables = ['generations', 'generationNodes', 'generationEvents', 'approvals', 'taskResults'] as const

  // the fleet's tables exist on Postgres alone: workers share a server database, never an embedded file
  const fleetOnly = ['fleetRuns', 'fleetTasks', 'fleetWorkers']

  it("define the same tables (besides the fleet's, on Postgres only)", () => {
    const names = (m: object) => Object.keys(m).sort()
    assert.deepEqual(
      names(lite),
      names(pg).filter((n) => !fleetOnly.includes(n)),
    )
    assert.deepEqual(names(pg), [...tables, ...fleetOnly].sort())
  })

  // and so are the fleet's columns in the shared tables: the step that last wrote a node's row
  const fleetColumns: Record<string, string[]> = { generationNodes: ['fleet_step'] }

  for (const t of tables) {
    it(`agree on ${t}: columns, nullability, defaults, keys, indexes`, () => {
      const postgres = shape(pgConfig(pg[t]))
      const fleet = fleetColumns[t] ?? []
      assert.deepEqual(
        postgres.columns.filter((c) => fleet.includes(c.name)).map((c) => c.name),
        fleet,
      )
      assert.deepEqual(shape(sqliteConfig(lite[t])), { ...postgres, columns: postgres.columns.filter((c) => !fleet.includes(c.name)) })
    })
  }
})

describe('committed migrations', () => {
  for (const [dialect, schema, folder] of [
    ['postgresql', 'engine/db/schema.ts', migrationsFolder('postgres')],
    ['sqlite', 'engine/db/sqlite-schema.ts', migrationsFolder('sqlite')],
  ] as const) {
    it(`hold every change of the ${dialect} schema (drizzle-kit generates nothing new)`, () => {
      const out = mkdtempSync(path.join(tmpdir(), 'weft-migrations-'))
      try {
        cpSync(folder, out, { recursive: true })
        const before = readdirSync(out).sort()
        // drizzle-kit reads --out relative to the working directory (it prefixes ./), and exits 0 on its own errors
        const said = execFileSync(process.execPath, ['node_modules/drizzle-kit/bin.cjs', 'generate', '--dialect', dialect, '--schema', schema, '--out', path.relative(process.cwd(), out)], {
          encoding: 'utf8',
          stdio: ['ignore', 'pipe', 'pipe'],
        })
        assert.match(said, /No schema changes/, `drizzle-kit said: ${said}`)
        assert.deepEqual(readdirSync(out).sort(), before, 'run `npm run db:generate` and commit the new migration')
      } finally {
        rmSync(out, { recursive: true, force: true })
      }
    })
  }
})
