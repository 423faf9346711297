// The fleet's settling step on Postgres: a worker that settles an attempt may take the attempt the step dispatches
// (claimed in the same commit, with no queue job), only for a queue it serves; others get a job as before; a
// fenced-out outcome is refused; with the run's lock held elsewhere the outcome waits as `done` for a drain.
// Needs DATABASE_URL (CI sets it).
import { after, before, describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { mkdtempSync, rmSync, utimesSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import path from 'node:path'
import postgres, { type Sql } from 'postgres'
import { closeAdmin, createDatabase } from '../../support/pg-database.ts'
import { openFleet, type OpenFleet } from '../../../engine/adapters/open-fleet.ts'
import { loadPipeline } from '../../../engine/dsl/load.ts'
import { newRunRecord } from '../../../engine/fleet/new-run.ts'
import { QUEUE_SCHEMA } from '../../../engine/fleet/queue.ts'
import type { Pipeline } from '../../../engine/dsl/pipeline.ts'

const url = process.env.DATABASE_URL
const work = path.resolve(import.meta.dirname, '..', '..', '..', 'bench', 'nodes', 'work.mjs')

describe('PgFleet.settle', { skip: url ? false : 'DATABASE_URL is not set; this runs in CI, where it is set' }, () => {
  let db: { url: string; drop(): Promise<void> }
  let opened: OpenFleet
  let sql: Sql
  let pipeline: Pipeline
  const dir = mkdtempSync(path.join(tmpdir(), 'weft-pg-fleet-'))

  before(async () => {
    db = await createDatabase()
    opened = await openFleet(db.url, { max: 3 })
    sql = postgres(db.url, { max: 1, onnotice: () => {} })
    const file = path.join(dir, 'chain.yaml')
    writeFileSync(file, `pipeline: chain\nplugins: [${work}]\nnodes:\n  a: { type: bench_noop }\n  b: { type: bench_noop, needs: [a] }\n  c: { type: bench_noop, needs: [b] }\n`)
    const loaded = await loadPipeline(file)
    assert.ok(loaded.pipeline, JSON.stringify(loaded.diagnostics))
    pipeline = loaded.pipeline
  })
  after(async () => {
    await sql.end()
    await opened.close()
    await db.drop()
    await closeAdmin()
    rmSync(dir, { recursive: true, force: true })
  })

  const jobsFor = async (run: string) =>
    (await sql.unsafe(`select payload->>'key' as key from ${QUEUE_SCHEMA}._private_jobs where payload->>'run' = $1 order by id`, [run])).map((r) => r.key as string)
  const task = async (run: string, key: string) => (await sql`select status, fence, worker from fleet_tasks where run_id = ${run} and key = ${key}`)[0]
  const start = async () => {
    const run = newRunRecord(pipeline, { inputs: {}, config: {} })
    await opened.fleet.submit(run, dir)
    return run.id
  }
  const claimFirst = async (run: string, worker: string) => {
    const queued = await task(run, 'a')
    const claimed = await opened.fleet.claim(run, 'a', queued!.fence as number, worker)
    assert.ok(claimed)
    return claimed
  }

  it('starts a run of a pipeline file edited since its last version was read, within the second that version is kept', async () => {
    const file = path.join(dir, 'edited.yaml')
    const submitted = async (yaml: string, mtime: number) => {
      writeFileSync(file, yaml)
      utimesSync(file, mtime, mtime)
      const loaded = await loadPipeline(file)
      assert.ok(loaded.pipeline, JSON.stringify(loaded.diagnostics))
      const run = newRunRecord(loaded.pipeline, { inputs: {}, config: {} })
      await opened.fleet.submit(run, dir)
      return run.id
    }
    await submitted(`pipeline: edited\nplugins: [${work}]\nnodes:\n  a: { type: bench_noop }\n`, 1000)
    // a node more: the fleet's loader still holds the version it read a moment ago, which does not fit this run
    const id = await submitted(`pipeline: edited\nplugins: [${work}]\nnodes:\n  a: { type: bench_noop }\n  b: { type: bench_noop, needs: [a] }\n`, 2000)
    assert.equal((await task(id, 'a'))?.status, 'queued')
    assert.equal((await opened.store.getRun(id))?.status, 'running')
  })

  it('claims the next attempt for the settling worker, in the same commit and with no job', async () => {
    const run = await start()
    assert.deepEqual(await jobsFor(run), ['a'])
    const a = await claimFirst(run, 'w1')
    const settled = await opened.fleet.settle(run, 'a', a.fence, { ok: true, output: {} }, { worker: 'w1', tasks: new Set(['weft_attempt']) })
    assert.equal(settled.mine, true)
    assert.equal(settled.next?.key, 'b')
    assert.deepEqual(await task(run, 'b'), { status: 'running', fence: settled.next!.fence, worker: 'w1' })
    // no job was added for b: only a's (taken, then worked by nobody here) is there
    assert.deepEqual(await jobsFor(run), ['a'])

    // settled without taking: c is queued with a job, for any worker
    const again = await opened.fleet.settle(run, 'b', settled.next!.fence, { ok: true, output: {} })
    assert.deepEqual(again, { mine: true })
    assert.equal((await task(run, 'c'))!.status, 'queued')
    assert.deepEqual(await jobsFor(run), ['a', 'c'])
  })

  it("judges each task by its holder's own heartbeat TTL, and answers the longest recorded", async () => {
    assert.equal(await opened.fleet.alive('ttl-long', [], 60_000), 60_000)
    assert.equal(await opened.fleet.alive('ttl-short', [], 100), 60_000)
    const [long, short] = [await start(), await start()]
    await claimFirst(long, 'ttl-long')
    await claimFirst(short, 'ttl-short')
    await new Promise((r) => setTimeout(r, 300))
    // asked by a worker whose own TTL is 100 ms: the 60 s worker's task is not lapsed, the 100 ms one's is
    const lapsed = (await opened.fleet.lapsed(100)).map((t) => t.run)
    assert.ok(lapsed.includes(short), 'the short-TTL holder is late')
    assert.ok(!lapsed.includes(long), 'the long-TTL holder is not')
    await opened.fleet.gone('ttl-long')
    await opened.fleet.gone('ttl-short')
  })

  it('takes nothing for a queue the worker does not serve', async () => {
    const run = await start()
    const a = await claimFirst(run, 'w2')
    const settled = await opened.fleet.settle(run, 'a', a.fence, { ok: true, output: {} }, { worker: 'w2', tasks: new Set(['weft_attempt:gpu']) })
    assert.deepEqual(settled, { mine: true })
    assert.equal((await task(run, 'b'))!.status, 'queued')
    assert.deepEqual(await jobsFor(run), ['a', 'b'])
  })

  it('refuses the outcome of a worker whose task was handed on while it ran', async () => {
    const run = await start()
    const a = await claimFirst(run, 'w3')
    // its heartbeat lapsed: the task is queued again, and another worker claims it under a new fence
    // two sweeps find it lapsed at once: one hands it on, and only that one says so
    const swept = await Promise.all([opened.fleet.handOn(run, 'a', a.fence), opened.fleet.handOn(run, 'a', a.fence)])
    assert.deepEqual(swept.sort(), [false, true])
    assert.equal((await task(run, 'a'))!.status, 'queued')
    const b = await claimFirst(run, 'w3b')
    assert.ok(b.fence > a.fence)
    const handed = await task(run, 'a')
    assert.deepEqual(handed, { status: 'running', fence: b.fence, worker: 'w3b' })
    const stale = await opened.fleet.settle(run, 'a', a.fence, { ok: true, output: {} }, { worker: 'w3', tasks: new Set(['weft_attempt']) })
    assert.deepEqual(stale, { mine: false })
    assert.deepEqual(await task(run, 'a'), handed)
    // b was never made ready
    assert.equal(await task(run, 'b'), undefined)
  })

  it('adds what an attempt the run stopped used to its node, once, with the run over; a stale fence adds nothing', async () => {
    const paid = { model_calls: 1, input_tokens: 100, output_tokens: 50, images: 0, video_s: 0, cost_usd: 2.5, unpriced: 0 }
    const usageOfA = async (run: string) => (await opened.store.getRun(run))!.nodes.a!.usage?.cost_usd
    for (const locked of [false, true]) {
      const run = await start()
      const a = await claimFirst(run, 'w5')
      await opened.fleet.apply(run, { type: 'cancel', reason: { code: 'CANCELLED', message: 'cancelled by request' } })
      assert.equal((await opened.store.getRun(run))!.status, 'cancelled')
      assert.equal((await task(run, 'a'))!.status, 'cancelled')
      const stopped = { ok: false as const, error: { code: 'CANCELLED', message: 'stopped' }, usage: paid }
      // a stale fence (an attempt handed on before) adds nothing
      assert.deepEqual(await opened.fleet.settle(run, 'a', a.fence - 1, stopped), { mine: false })
      assert.equal(await usageOfA(run), undefined)
      if (!locked) assert.deepEqual(await opened.fleet.settle(run, 'a', a.fence, stopped), { mine: false })
      else {
        // another step holds the run's lock: the settling waits its turn
        await sql`begin`
        let settled: Promise<unknown>
        try {
          await sql`select id from generations where id = ${run} for update`
          settled = opened.fleet.settle(run, 'a', a.fence, stopped)
          await new Promise((resolve) => setTimeout(resolve, 200))
          assert.equal(await usageOfA(run), undefined, 'not before the lock is free')
        } finally {
          await sql`commit`
        }
        assert.deepEqual(await settled, { mine: false })
      }
      assert.equal(await usageOfA(run), 2.5, locked ? 'after the lock was free' : 'at once')
      // the same attempt again counts nothing more
      await opened.fleet.settle(run, 'a', a.fence, stopped)
      assert.equal(await usageOfA(run), 2.5)
      assert.equal((await opened.store.getRun(run))!.status, 'cancelled', 'the run stays as it ended')
    }
  })

  it('records the outcome for the lock holder when another step holds the run, and a drain settles it', async () => {
    const run = await start()
    const a = await claimFirst(run, 'w4')
    await sql`begin`
    try {
      await sql`select id from generations where id = ${run} for update`
      const settled = await opened.fleet.settle(run, 'a', a.fence, { ok: true, output: {} }, { worker: 'w4', tasks: new Set(['weft_attempt']) })
      // nothing taken: no step could run
      assert.deepEqual(settled, { mine: true })
      assert.equal((await task(run, 'a'))!.status, 'done')
    } finally {
      await sql`commit`
    }
    await opened.fleet.drain(run)
    assert.equal((await task(run, 'a'))!.status, 'succeeded')
    assert.equal((await task(run, 'b'))!.status, 'queued')
    assert.deepEqual(await jobsFor(run), ['a', 'b'])
  })
})
