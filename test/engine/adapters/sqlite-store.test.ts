// The SQLite store: the RunStore contract, migrations, corrupt rows, opening by data directory, files it cannot use.
import { after, describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { execFile } from 'node:child_process'
import { existsSync, mkdirSync, mkdtempSync, openSync, rmSync, writeFileSync, writeSync, closeSync } from 'node:fs'
import { tmpdir } from 'node:os'
import path from 'node:path'
import Database from 'better-sqlite3'
import { defaultDbFile, openRunStore, weftDataDir } from '../../../engine/adapters/open-store.ts'
import { openSqliteStore, SqliteRunStore } from '../../../engine/adapters/sqlite-store.ts'
import { migrationsFolder } from '../../../engine/db/migrations-folder.ts'
import { event, newRun, node, runStoreContract } from '../../contracts/run-store.ts'
import { sqlStoreCases, type SqlDatabase } from './sql-store-cases.ts'

const dirs: string[] = []
const tempDir = () => {
  const dir = mkdtempSync(path.join(tmpdir(), 'weft-sqlite-'))
  dirs.push(dir)
  return dir
}
after(() => {
  for (const dir of dirs) rmSync(dir, { recursive: true, force: true })
})

runStoreContract('sqlite', async () => {
  const store = await openSqliteStore(path.join(tempDir(), 'weft.db'))
  return { store, cleanup: () => store.close() }
})

sqlStoreCases('sqlite', async (): Promise<SqlDatabase> => {
  const file = path.join(tempDir(), 'weft.db')
  // a connection of its own beside the store's, as another process would have
  let side: Database.Database | undefined
  const conn = () => (side ??= new Database(file))
  const query = async (text: string) => {
    const statement = conn().prepare(text)
    return statement.reader ? (statement.all() as Record<string, unknown>[]) : (statement.run(), [])
  }
  return {
    query,
    open: (opts) => openSqliteStore(file, opts),
    cleanup: async () => {
      side?.close()
    },
    tables: async () => (await query(`select name from sqlite_master where type = 'table'`)).map((r) => String(r.name)),
    columns: async () => {
      const out: string[] = []
      for (const t of ['approvals', 'generation_events', 'generation_nodes', 'generations']) {
        for (const c of await query(`select name, type from pragma_table_info('${t}')`)) out.push(`${t}.${c.name} ${c.type}`)
      }
      return out
    },
    migrations: () => query(`select hash, created_at from __drizzle_migrations order by id`),
    migrationsFolder: migrationsFolder('sqlite'),
    sql: { now: `(cast(unixepoch('subsec') * 1000 as integer))`, badTime: `'infinity'` },
  }
})

describe('openRunStore without DATABASE_URL', () => {
  it('puts the database in .weft/weft.db, or under WEFT_DATA_DIR', () => {
    assert.equal(weftDataDir({}, '/srv/app'), path.resolve('/srv/app/.weft'))
    assert.equal(defaultDbFile({}, '/srv/app'), path.resolve('/srv/app/.weft/weft.db'))
    assert.equal(defaultDbFile({ WEFT_DATA_DIR: 'data' }, '/srv/app'), path.resolve('/srv/app/data/weft.db'))
    assert.equal(defaultDbFile({ WEFT_DATA_DIR: '/var/weft' }, '/srv/app'), path.resolve('/var/weft/weft.db'))
  })

  it('opens SQLite in the data directory, migrated, in WAL mode, and keeps runs across reopening', async () => {
    const dir = tempDir()
    const run = newRun()
    const first = await openRunStore({ env: { WEFT_DATA_DIR: 'data' }, cwd: dir })
    assert.equal(first.driver, 'sqlite')
    await first.write([{ kind: 'run.create', run }])
    await first.close()
    await first.close()
    const file = path.join(dir, 'data', 'weft.db')
    const side = new Database(file, { readonly: true })
    try {
      assert.equal(side.pragma('journal_mode', { simple: true }), 'wal')
    } finally {
      side.close()
    }
    const again = await openRunStore({ dbFile: file, env: {} })
    try {
      assert.equal(again.driver, 'sqlite')
      assert.deepEqual(await again.getRun(run.id), run)
    } finally {
      await again.close()
    }
  })

  it("says once that an older version's PGlite folder is no longer read, when the new database is created beside it", async () => {
    const dir = tempDir()
    mkdirSync(path.join(dir, 'db'))
    writeFileSync(path.join(dir, 'db', 'PG_VERSION'), '17\n')
    const notices: string[] = []
    const onNotice = (m: string) => notices.push(m)
    await (await openRunStore({ env: { WEFT_DATA_DIR: dir }, onNotice })).close()
    assert.equal(notices.length, 1)
    assert.ok(notices[0]!.includes(path.join(dir, 'db')) && notices[0]!.includes(path.join(dir, 'weft.db')), notices[0])
    await (await openRunStore({ env: { WEFT_DATA_DIR: dir }, onNotice })).close()
    assert.equal(notices.length, 1, 'not said again')
    // a folder named db that is not PGlite's says nothing
    const plain = tempDir()
    mkdirSync(path.join(plain, 'db'))
    await (await openRunStore({ env: { WEFT_DATA_DIR: plain }, onNotice })).close()
    assert.equal(notices.length, 1)
  })

  it('lets processes that open a new file together migrate it once', async () => {
    const file = path.join(tempDir(), 'weft.db')
    const stores = await Promise.all([1, 2, 3].map(() => openSqliteStore(file)))
    try {
      const run = newRun()
      await stores[0]!.write([{ kind: 'run.create', run }])
      for (const s of stores) assert.deepEqual(await s.getRun(run.id), run)
    } finally {
      await Promise.all(stores.map((s) => s.close()))
    }
    // separate processes, the way several `weft` commands start at once
    const other = path.join(tempDir(), 'weft.db')
    const script = `import { openSqliteStore } from ${JSON.stringify(path.resolve('engine/adapters/sqlite-store.ts'))}; const s = await openSqliteStore(${JSON.stringify(other)}); await s.close()`
    const children = Array.from(
      { length: 4 },
      () =>
        new Promise<number>((resolve) => {
          const child = execFileAsync(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', script])
          child.then(
            () => resolve(0),
            () => resolve(1),
          )
        }),
    )
    assert.deepEqual(await Promise.all(children), [0, 0, 0, 0])
    const side = new Database(other, { readonly: true })
    try {
      const journal = (await import(path.join(migrationsFolder('sqlite'), 'meta', '_journal.json'), { with: { type: 'json' } })).default as { entries: unknown[] }
      assert.equal((side.prepare('select count(*) as n from __drizzle_migrations').get() as { n: number }).n, journal.entries.length)
    } finally {
      side.close()
    }
  })
})

/** Runs a command, resolving on exit 0 and rejecting with its stderr otherwise. */
function execFileAsync(file: string, args: string[]): Promise<void> {
  return new Promise<void>((resolve, reject) => {
    execFile(file, args, { cwd: process.cwd() }, (err, _out, stderr) => (err ? reject(new Error(stderr)) : resolve()))
  })
}

describe('SQLite store: files it cannot use', () => {
  const codeOf = async (p: Promise<unknown>) => {
    try {
      await p
      return 'opened'
    } catch (err) {
      const e = err as { code?: string; message: string; details?: { path?: string } }
      return { code: e.code, path: e.details?.path, message: e.message }
    }
  }

  it('refuses a file that is not SQLite, naming it and what to do, and leaves it as it was', async () => {
    const file = path.join(tempDir(), 'weft.db')
    writeFileSync(file, 'these are my notes, not a database\n'.repeat(200))
    const out = await codeOf(openSqliteStore(file))
    assert.equal(typeof out === 'object' && out.code, 'STORE_NOT_SQLITE')
    assert.equal(typeof out === 'object' && out.path, file)
    assert.match(typeof out === 'object' ? out.message : '', /move it aside/)
    assert.equal(existsSync(`${file}-wal`), false)
  })

  it('refuses a damaged database as STORE_CORRUPT, naming it', async () => {
    const file = path.join(tempDir(), 'weft.db')
    const store = await openSqliteStore(file)
    const runs = Array.from({ length: 200 }, () => newRun())
    await store.write(runs.map((run) => ({ kind: 'run.create' as const, run })))
    await store.close()
    // scribble over the pages past the first (the schema stays readable; the tables do not)
    const fd = openSync(file, 'r+')
    for (let page = 2; page < 40; page++) writeSync(fd, Buffer.alloc(4096, 0xa5), 0, 4096, page * 4096)
    closeSync(fd)
    const reopened = await openSqliteStore(file).catch((err: { code?: string }) => err)
    if (reopened instanceof SqliteRunStore) {
      try {
        const out = await codeOf(reopened.listRuns())
        assert.equal(typeof out === 'object' && out.code, 'STORE_CORRUPT')
        assert.equal(typeof out === 'object' && out.path, file)
      } finally {
        await reopened.close()
      }
    } else {
      assert.equal((reopened as { code?: string }).code, 'STORE_CORRUPT')
    }
  })

  it('refuses a data directory it cannot create as STORE_NOT_WRITABLE', async () => {
    const dir = tempDir()
    writeFileSync(path.join(dir, 'file'), 'x')
    const file = path.join(dir, 'file', '.weft', 'weft.db')
    const out = await codeOf(openSqliteStore(file))
    assert.equal(typeof out === 'object' && out.code, 'STORE_NOT_WRITABLE')
    assert.equal(typeof out === 'object' && out.path, file)
    // the database path taken by a folder
    const taken = path.join(tempDir(), 'weft.db')
    mkdirSync(taken)
    assert.equal(((await codeOf(openSqliteStore(taken))) as { code?: string }).code, 'STORE_NOT_WRITABLE')
  })

  it('fails a write on a full database as STORE_DISK_FULL, keeping every batch committed before it', async () => {
    const file = path.join(tempDir(), 'weft.db')
    const client = new Database(file)
    const store = new SqliteRunStore(client, file)
    await store.prepare()
    const run = newRun()
    await store.write([
      { kind: 'run.create', run },
      { kind: 'event', event: event(run.id, 1, 'run.started') },
    ])
    // no page beyond those in use: the next batch that needs one cannot be written
    const pages = client.pragma('page_count', { simple: true }) as number
    client.pragma(`max_page_count = ${pages}`)
    const big = { text: 'x'.repeat(64 * 1024) }
    const out = await codeOf(
      store.write([
        { kind: 'node.update', runId: run.id, node: node('story', { status: 'succeeded', output: big }) },
        { kind: 'event', event: event(run.id, 2, 'node.completed', { node: 'story' }) },
      ]),
    )
    assert.equal(typeof out === 'object' && out.code, 'STORE_DISK_FULL')
    assert.equal(typeof out === 'object' && out.path, file)
    assert.deepEqual(await store.getRun(run.id), run, 'the failed batch left nothing behind')
    assert.deepEqual(
      (await store.listEvents(run.id)).map((e) => e.seq),
      [1],
    )
    await store.close()
  })
})

describe('SQLite store: several connections on one file', () => {
  it('waits for a writer that holds the lock instead of failing with SQLITE_BUSY, and gives up with STORE_UNAVAILABLE past its window', async () => {
    const file = path.join(tempDir(), 'weft.db')
    const store = await openSqliteStore(file, { busyMs: 3000 })
    const run = newRun()
    await store.write([{ kind: 'run.create', run }])
    // another process holding the write lock for 1.5 s (far longer than SQLite's own busy wait of 250 ms)
    const holder = new Database(file)
    holder.exec('BEGIN IMMEDIATE')
    setTimeout(() => holder.exec('COMMIT'), 1500)
    await store.write([{ kind: 'event', event: event(run.id, 1, 'run.started') }])
    assert.deepEqual(
      (await store.listEvents(run.id)).map((e) => e.seq),
      [1],
    )
    await store.close()

    const impatient = await openSqliteStore(file, { busyMs: 200 })
    holder.exec('BEGIN IMMEDIATE')
    try {
      await assert.rejects(impatient.write([{ kind: 'event', event: event(run.id, 2) }]), { code: 'STORE_UNAVAILABLE' })
    } finally {
      holder.exec('ROLLBACK')
      holder.close()
    }
    // readers never wait for a writer (WAL): the run reads while nothing more was written
    assert.deepEqual(
      (await impatient.listEvents(run.id)).map((e) => e.seq),
      [1],
    )
    await impatient.close()
  })
})
