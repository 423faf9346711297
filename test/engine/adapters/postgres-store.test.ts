// The Postgres store: the RunStore contract, migrations and corrupt rows, each test in a database of its own.
import { after, describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { randomBytes } from 'node:crypto'
import postgres, { type Sql } from 'postgres'
import { openRunStore } from '../../../engine/adapters/open-store.ts'
import { isConnectionLost, openPostgresStore } from '../../../engine/adapters/postgres-store.ts'
import { newRun, runStoreContract } from '../../contracts/run-store.ts'
import { sqlStoreCases, type SqlDatabase } from './sql-store-cases.ts'
import { readFileSync } from 'node:fs'
import path from 'node:path'
import { migrationsFolder } from '../../../engine/db/migrations-folder.ts'

/** Migrations committed in the repository (drizzle-kit's journal). */
const migrationCount = (JSON.parse(readFileSync(path.join(migrationsFolder(), 'meta', '_journal.json'), 'utf8')) as { entries: unknown[] }).entries.length

const url = process.env.DATABASE_URL
const quiet = { onnotice: () => {} }

let admin: Sql | undefined
after(async () => {
  await admin?.end()
})

/** Creates `weft_test_<random>` through an admin connection to DATABASE_URL; `drop()` removes it. */
async function createDatabase(): Promise<{ url: string; drop(): Promise<void> }> {
  admin ??= postgres(url!, { max: 1, ...quiet })
  const name = `weft_test_${randomBytes(6).toString('hex')}`
  await admin.unsafe(`create database ${name}`)
  const dbUrl = new URL(url!)
  dbUrl.pathname = `/${name}`
  return { url: dbUrl.href, drop: async () => void (await admin!.unsafe(`drop database if exists ${name} with (force)`)) }
}

async function fresh(): Promise<SqlDatabase & { url: string }> {
  const db = await createDatabase()
  const sql = postgres(db.url, { max: 1, ...quiet })
  const query = (text: string) => sql.unsafe(text) as Promise<Record<string, unknown>[]>
  return {
    url: db.url,
    query,
    open: (opts) => openPostgresStore(db.url, opts),
    cleanup: async () => {
      await sql.end()
      await db.drop()
    },
    tables: async () => (await query(`select table_name from information_schema.tables where table_schema = 'public'`)).map((r) => String(r.table_name)),
    columns: async () =>
      (await query(`select table_name, column_name, data_type from information_schema.columns where table_schema = 'public' order by table_name, ordinal_position`)).map(
        (r) => `${r.table_name}.${r.column_name} ${r.data_type}`,
      ),
    migrations: () => query(`select hash, created_at::text as created_at from drizzle.__drizzle_migrations order by id`),
    migrationsFolder: migrationsFolder('postgres'),
    sql: { now: 'now()', badTime: `'infinity'` },
  }
}

if (url) {
  runStoreContract('postgres', async () => {
    const db = await createDatabase()
    const store = await openPostgresStore(db.url)
    return {
      store,
      cleanup: async () => {
        await store.close()
        await db.drop()
      },
    }
  })

  sqlStoreCases('postgres', fresh)

  describe('Postgres store, opening', () => {
    it("a database that does not exist is refused in a line that says to create it, not with the driver's error", async () => {
      const missing = new URL(url)
      missing.pathname = `/weft_missing_${randomBytes(6).toString('hex')}`
      await assert.rejects(openPostgresStore(missing.href), (err: Error & { code?: string }) => {
        assert.equal(err.code, 'STORE_UNAVAILABLE')
        assert.match(err.message, /database "weft_missing_[0-9a-f]+" does not exist\): create it/)
        return true
      })
    })

    it('lets processes that start together migrate one after the other', async () => {
      const db = await fresh()
      try {
        const opened = await Promise.allSettled([1, 2, 3].map(() => openPostgresStore(db.url)))
        const stores = opened.flatMap((o) => (o.status === 'fulfilled' ? [o.value] : []))
        try {
          assert.deepEqual(
            opened.map((o) => (o.status === 'rejected' ? String(o.reason) : 'ok')),
            ['ok', 'ok', 'ok'],
          )
          const run = newRun()
          await stores[0]!.write([{ kind: 'run.create', run }])
          for (const s of stores) assert.deepEqual(await s.getRun(run.id), run)
        } finally {
          await Promise.all(stores.map((s) => s.close()))
        }
        assert.equal((await db.query('select count(*)::int as n from drizzle.__drizzle_migrations'))[0]!.n, migrationCount)
      } finally {
        await db.cleanup()
      }
    })

    it('closing with operations queued leaves no connection behind, and refuses what comes after', async () => {
      const db = await fresh()
      try {
        const store = await openPostgresStore(db.url, { max: 2 })
        const run = newRun()
        await store.write([{ kind: 'run.create', run }])
        // far more reads than connections: most wait in the driver's queue when closing starts
        const reads = Array.from({ length: 60 }, () =>
          store.getRun(run.id).then(
            () => 'read',
            (e: { code?: string }) => e.code ?? 'error',
          ),
        )
        await store.close()
        const outcomes = await Promise.all(reads)
        assert.ok(
          outcomes.every((o) => o === 'read' || o === 'STORE_CLOSED' || o === 'STORE_READ_FAILED' || o === 'CONNECTION_ENDED'),
          outcomes.join(','),
        )
        await assert.rejects(store.getRun(run.id), { code: 'STORE_CLOSED' })
        const dbName = new URL(db.url).pathname.slice(1)
        const open = async () => Number((await db.query(`select count(*)::int as n from pg_stat_activity where datname = '${dbName}' and pid <> pg_backend_pid()`))[0]!.n)
        for (let i = 0; i < 40 && (await open()) > 0; i++) await new Promise((r) => setTimeout(r, 50))
        assert.equal(await open(), 0, 'connections left open after close (they keep a process alive)')
      } finally {
        await db.cleanup()
      }
    })

    it('is what openRunStore opens when a database URL is given', async () => {
      const db = await createDatabase()
      try {
        const store = await openRunStore({ env: { DATABASE_URL: db.url }, dbFile: '/nonexistent/never-used.db' })
        assert.equal(store.driver, 'postgres')
        const run = newRun()
        await store.write([{ kind: 'run.create', run }])
        assert.deepEqual(await store.getRun(run.id), run)
        await store.close()
      } finally {
        await db.drop()
      }
    })
  })
} else {
  // an `it` with a reason, so that the skip is counted and says why (a skipped describe counts no test)
  describe('Postgres store', () => {
    it('runs the RunStore contract, migrations and corrupt-row cases against Postgres', {
      skip: 'DATABASE_URL is not set; this runs in CI, where it is set (locally: DATABASE_URL=postgres://postgres@127.0.0.1:5432/test)',
    }, () => {})
  })
}

describe('isConnectionLost', () => {
  const err = (code: string, cause?: unknown) => Object.assign(new Error(code), { code }, cause === undefined ? {} : { cause })
  it("knows a server going down or coming up, a refused or reset socket, and the driver's closed connection, also as a cause", () => {
    for (const code of ['ECONNREFUSED', 'ECONNRESET', 'CONNECTION_CLOSED', 'CONNECT_TIMEOUT', '57P01', '57P03', '08006']) assert.equal(isConnectionLost(err(code)), true, code)
    // drizzle wraps the driver's error in a DrizzleQueryError, without a code of its own
    assert.equal(isConnectionLost(Object.assign(new Error('Failed query: select 1'), { cause: err('ECONNREFUSED') })), true)
  })
  it('does not take our own end(), or an answer from the database, for a lost connection', () => {
    for (const code of ['CONNECTION_ENDED', 'CONNECTION_DESTROYED', '23505', '42P01', '40001']) assert.equal(isConnectionLost(err(code)), false, code)
    assert.equal(isConnectionLost(new Error('no code')), false)
    assert.equal(isConnectionLost(undefined), false)
  })
})
