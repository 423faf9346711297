import { describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { MemoryRunStore } from '../../engine/adapters/memory-store.ts'
import { endUndriven } from '../../engine/end-run.ts'
import { event, newRun } from '../contracts/run-store.ts'

const cancelled = { code: 'CANCELLED', message: 'cancelled by request' }

describe('ending a run nobody drives', () => {
  it('records the end, its nodes ended with it, and the closing events after the log, once it holds the lease', async () => {
    const store = new MemoryRunStore()
    const run = newRun({ status: 'awaiting_approval' })
    run.nodes.story = { ...run.nodes.story!, status: 'succeeded', attempts: 1 }
    run.nodes.scenes = { ...run.nodes.scenes!, status: 'waiting', attempts: 1, started_at: run.started_at }
    run.nodes.videos = { ...run.nodes.story!, id: 'videos', status: 'pending', attempts: 0 }
    await store.write([{ kind: 'run.create', run }, ...[1, 2].map((seq) => ({ kind: 'event' as const, event: event(run.id, seq) }))])
    assert.equal(await endUndriven(store, 'me', 30_000, run.id, 'cancelled', cancelled), 'ended')
    const ended = (await store.getRun(run.id))!
    assert.equal(ended.status, 'cancelled')
    assert.deepEqual(ended.error, cancelled)
    assert.deepEqual(
      Object.values(ended.nodes).map((n) => [n.id, n.status]),
      [
        ['story', 'succeeded'],
        ['scenes', 'cancelled'],
        ['videos', 'skipped'],
      ],
    )
    assert.deepEqual(
      (await store.listEvents(run.id)).map((e) => [e.seq, e.type, e.node ?? null]),
      [
        [1, 'node.progress', null],
        [2, 'node.progress', null],
        [3, 'node.cancelled', 'scenes'],
        [4, 'node.skipped', 'videos'],
        [5, 'run.cancelled', null],
      ],
    )
    assert.equal(await store.leaseHolder(run.id), undefined, 'the lease is given back')
  })

  it('leaves a run that another process drives, and one that ended meanwhile, as they are', async () => {
    const store = new MemoryRunStore()
    const driven = newRun()
    const over = newRun({ status: 'completed' })
    await store.write([
      { kind: 'run.create', run: driven },
      { kind: 'run.create', run: over },
    ])
    assert.ok(await store.claimRun(driven.id, 'driver', 30_000))
    assert.equal(await endUndriven(store, 'me', 30_000, driven.id, 'cancelled', cancelled), 'held')
    assert.equal((await store.getRun(driven.id))?.status, 'running')
    // its driver finished it and let the lease go between the caller's look and the claim
    assert.equal(await endUndriven(store, 'me', 30_000, over.id, 'cancelled', cancelled), 'over')
    assert.equal((await store.getRun(over.id))?.status, 'completed')
    assert.deepEqual(await store.listEvents(over.id), [])
  })
})
