// The PGlite store: the RunStore contract, migrations, corrupt rows, and opening by data directory.
import { after, describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import path from 'node:path'
import { PGlite } from '@electric-sql/pglite'
import { defaultDbDir, openRunStore, weftDataDir } from '../../../engine/adapters/open-store.ts'
import { pgliteRunStore } from '../../../engine/adapters/pglite-store.ts'
import type { DrizzleRunStore } from '../../../engine/adapters/pg-store.ts'
import { newRun, runStoreContract } from '../../contracts/run-store.ts'
import { sqlStoreCases, type SqlDatabase } from './sql-store-cases.ts'

// A new PGlite database costs ~3.5 s (initdb in WebAssembly); a copy of an empty one ~0.5 s and reopening
// a directory ~0.2 s. So: one initdb per file, dumped while empty; the contract cases share that database
// (each case uses its own run ids), and every other case gets a fresh directory loaded from the dump.
const dirs: string[] = []
const tempDir = () => {
  const dir = mkdtempSync(path.join(tmpdir(), 'weft-pglite-'))
  dirs.push(dir)
  return dir
}
let template: Promise<{ client: PGlite; dump: File | Blob }> | undefined
const getTemplate = () => (template ??= (async () => {
  const client = await PGlite.create(tempDir())
  return { client, dump: await client.dumpDataDir('none') }
})())
let shared: Promise<DrizzleRunStore> | undefined

after(async () => {
  if (shared) await (await shared).close()
  else if (template) await (await template).client.close()
  for (const dir of dirs) rmSync(dir, { recursive: true, force: true })
})

/** A new directory holding an empty database (no migrations yet), and a client open on it. */
async function emptyDb(): Promise<{ dir: string; client: PGlite }> {
  const dir = tempDir()
  return { dir, client: await PGlite.create({ dataDir: dir, loadDataDir: (await getTemplate()).dump }) }
}

runStoreContract('pglite', async () => {
  shared ??= getTemplate().then(({ client }) => pgliteRunStore(client))
  return { store: await shared, cleanup: async () => {} }
})

sqlStoreCases('pglite', async (): Promise<SqlDatabase> => {
  // one PGlite per directory at a time: SQL beside the store goes through the store's client
  const db = await emptyDb()
  let client = db.client
  const live = async () => (client.closed ? (client = await PGlite.create(db.dir)) : client)
  return {
    query: async (text) => (await (await live()).query<Record<string, unknown>>(text)).rows,
    open: async () => pgliteRunStore(await live()),
    cleanup: async () => {
      if (!client.closed) await client.close()
    },
  }
})

describe('openRunStore without DATABASE_URL', () => {
  it('puts the database in .weft/db, or under WEFT_DATA_DIR', () => {
    assert.equal(weftDataDir({}, '/work/app'), path.resolve('/work/app/.weft'))
    assert.equal(defaultDbDir({}, '/work/app'), path.resolve('/work/app/.weft/db'))
    assert.equal(defaultDbDir({ WEFT_DATA_DIR: 'data' }, '/work/app'), path.resolve('/work/app/data/db'))
    assert.equal(defaultDbDir({ WEFT_DATA_DIR: '/var/weft' }, '/work/app'), path.resolve('/var/weft/db'))
  })

  it('opens PGlite in the data directory, migrated, and keeps runs across reopening', async () => {
    const { dir, client } = await emptyDb()
    await client.close()
    const env = { WEFT_DATA_DIR: path.dirname(dir) }
    const cwd = path.dirname(dir)
    const run = newRun()
    const first = await openRunStore({ dataDir: path.basename(dir), env, cwd })
    assert.equal(first.driver, 'pglite')
    await first.write([{ kind: 'run.create', run }])
    await first.close()
    await first.close()
    const again = await openRunStore({ dataDir: dir, env: {} })
    try {
      assert.equal(again.driver, 'pglite')
      assert.deepEqual(await again.getRun(run.id), run)
    } finally {
      await again.close()
    }
  })
})
