// The Postgres store riding out a lost connection: tried again within the reconnect window, written once even when
// the lost attempt had committed, STORE_UNAVAILABLE past the window. A connection is lost on demand around a
// database of its own on DATABASE_URL (test/cli/postgres-restart.test.ts restarts a real Postgres).
import { after, before, describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { randomBytes } from 'node:crypto'
import postgres, { type Sql } from 'postgres'
import { drizzle } from 'drizzle-orm/postgres-js'
import { migrate } from 'drizzle-orm/postgres-js/migrator'
import { WeftError } from '../../../engine/errors.ts'
import { migrationsFolder } from '../../../engine/db/migrations-folder.ts'
import { PgRunStore, type PgDb } from '../../../engine/adapters/pg-store.ts'
import type { StoreWrite } from '../../../engine/ports.ts'
import { event, newRun, node } from '../../contracts/run-store.ts'

const lostError = () => Object.assign(new Error('connection lost'), { code: 'LOST' })

const url = process.env.DATABASE_URL

describe('Postgres store with a reconnect policy', { skip: url ? false : 'DATABASE_URL is not set; this runs in CI, where it is set' }, () => {
  let admin: Sql
  let client: Sql
  let name: string
  let store: PgRunStore
  /** Every database call fails as a lost connection while this is `down`; `once` fails the next transaction only, before or after it commits. */
  const net = { down: false, once: undefined as 'before' | 'after' | undefined, calls: 0 }

  before(async () => {
    admin = postgres(url!, { max: 1, onnotice: () => {} })
    name = `weft_test_${randomBytes(6).toString('hex')}`
    await admin.unsafe(`create database ${name}`)
    const dbUrl = new URL(url!)
    dbUrl.pathname = `/${name}`
    client = postgres(dbUrl.href, { max: 2, onnotice: () => {} })
    const db = drizzle({ client })
    await migrate(db, { migrationsFolder: migrationsFolder('postgres') })
    const flaky = new Proxy(db, {
      get(target, prop, receiver) {
        const value = Reflect.get(target, prop, receiver) as unknown
        if (typeof value !== 'function') return value
        // `execute` carries a whole batch as one statement, as `transaction` does (see oneStatement)
        if (prop !== 'transaction' && prop !== 'execute' && prop !== 'select' && prop !== 'update') return value.bind(target)
        return (...args: unknown[]) => {
          net.calls++
          if (net.down) throw lostError()
          if ((prop !== 'transaction' && prop !== 'execute') || !net.once) return value.apply(target, args)
          const mode = net.once
          net.once = undefined
          if (mode === 'before') throw lostError()
          return (value.apply(target, args) as Promise<unknown>).then(() => Promise.reject(lostError()))
        }
      },
    })
    const reconnect = {
      windowMs: 300,
      lost: (err: unknown) => (err as { code?: unknown }).code === 'LOST',
      unavailable: (err: unknown) => new WeftError('STORE_UNAVAILABLE', 'unreachable', { cause: err }),
    }
    store = new PgRunStore(flaky as unknown as PgDb, { close: () => client.end(), reconnect })
  })

  after(async () => {
    await store?.close()
    await admin?.unsafe(`drop database if exists ${name} with (force)`)
    await admin?.end()
  })

  const started = (runId: string, seq: number): StoreWrite[] => [
    { kind: 'node.update', runId, node: node('story', { status: 'running', stage: 'story' }) },
    { kind: 'event', event: event(runId, seq, 'node.started', { node: 'story' }) },
  ]

  it('writes a batch whose connection was lost before it committed once the connection is back', async () => {
    const run = newRun()
    await store.write([{ kind: 'run.create', run }])
    net.once = 'before'
    await store.write(started(run.id, 1))
    assert.equal(net.once, undefined, 'the lost attempt happened')
    assert.deepEqual(
      (await store.listEvents(run.id)).map((e) => [e.seq, e.type]),
      [[1, 'node.started']],
    )
    assert.equal((await store.getRun(run.id))?.nodes.story?.status, 'running')
  })

  it('does not write twice a batch whose connection was lost after it committed', async () => {
    const run = newRun()
    await store.write([{ kind: 'run.create', run }])
    net.once = 'after'
    // the try after reconnecting finds event 1 stored as it is: no STORE_CONFLICT, nothing written again
    await store.write(started(run.id, 1))
    assert.equal(net.once, undefined, 'the lost attempt happened')
    await store.write([{ kind: 'event', event: event(run.id, 2, 'node.completed', { node: 'story' }) }])
    assert.deepEqual(
      (await store.listEvents(run.id)).map((e) => e.seq),
      [1, 2],
    )
  })

  it('still refuses a batch whose first event was stored by another write, after a lost connection', async () => {
    const run = newRun()
    await store.write([
      { kind: 'run.create', run },
      { kind: 'event', event: event(run.id, 1, 'run.started') },
    ])
    net.once = 'before'
    await assert.rejects(store.write(started(run.id, 1)), { code: 'STORE_CONFLICT' })
  })

  it('rejects with STORE_UNAVAILABLE past the window, fails at once while the outage lasts, and waits again after a success', async () => {
    const run = newRun()
    await store.write([{ kind: 'run.create', run }])
    net.down = true
    net.calls = 0
    await assert.rejects(store.write(started(run.id, 1)), (err: Error & { code?: string }) => {
      assert.equal(err.code, 'STORE_UNAVAILABLE')
      assert.equal((err.cause as { code?: string }).code, 'LOST')
      return true
    })
    assert.ok(net.calls >= 3, `tried ${net.calls} times within the window`)
    net.calls = 0
    await assert.rejects(store.claimRun(run.id, 'me', 1000), { code: 'STORE_UNAVAILABLE' })
    assert.equal(net.calls, 1, 'the outage has outlasted the window: one try')
    net.down = false
    assert.equal(await store.claimRun(run.id, 'me', 1000), true)
    // a new outage, a new window; the connection back within it, the read succeeds
    net.down = true
    net.calls = 0
    setTimeout(() => (net.down = false), 120)
    assert.equal((await store.getRun(run.id))?.id, run.id)
    assert.ok(net.calls >= 2)
    assert.deepEqual(await store.listEvents(run.id), [])
  })

  it('does not retry an error that is not a lost connection', async () => {
    net.calls = 0
    await assert.rejects(store.write([{ kind: 'event', event: event('no-such-run', 1) }]), { code: 'RUN_NOT_FOUND' })
    assert.equal(net.calls, 1)
  })
})
