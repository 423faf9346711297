import { describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { MemoryRunStore } from '../../engine/adapters/memory-store.ts'
import { endUndriven } from '../../engine/end-run.ts'
import { newRun } from '../contracts/run-store.ts'

const cancelled = { code: 'CANCELLED', message: 'cancelled by request' }

describe('ending a run nobody drives', () => {
  it('records the end and its closing event once it holds the lease', async () => {
    const store = new MemoryRunStore()
    const run = newRun()
    await store.write([{ kind: 'run.create', run }])
    assert.equal(await endUndriven(store, 'me', 30_000, run.id, 'cancelled', cancelled), 'ended')
    assert.equal((await store.getRun(run.id))?.status, 'cancelled')
    assert.deepEqual(
      (await store.listEvents(run.id)).map((e) => e.type),
      ['run.cancelled'],
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
