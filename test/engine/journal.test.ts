import { manualClock } from '../helpers.ts'
import { runRecord } from '../support/run-record.ts'
import { describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { Journal } from '../../engine/journal.ts'
import { MemoryRunStore } from '../../engine/adapters/memory-store.ts'
import type { RunRecord, StoreWrite } from '../../engine/ports.ts'

const run = (id: string): RunRecord => runRecord([], { id, pipeline: { name: 'p', version: 1, file: 'p.yaml' }, started_at: null })
const event = (runId: string, seq: number): StoreWrite => ({ kind: 'event', event: { seq, run_id: runId, type: 'node.progress', timestamp: '2026-01-01T00:00:00.000Z', payload: {} } })

describe('journal', () => {
  it('after a failed write, later writes fail with the same error unwritten: the log never continues past a hole', async () => {
    const store = new MemoryRunStore()
    const write = store.write.bind(store)
    let down = false
    store.write = async (b) => {
      if (down) throw Object.assign(new Error('connection lost'), { code: 'STORE_UNAVAILABLE' })
      return write(b)
    }
    const j = new Journal(store)
    await j.commit([{ kind: 'run.create', run: run('r') }, event('r', 1)])
    down = true
    await assert.rejects(j.commit([event('r', 2)]), { code: 'STORE_UNAVAILABLE' })
    // the database is back: still nothing is written after the lost event 2
    down = false
    const errors: unknown[] = []
    j.push([event('r', 3)], (err) => errors.push(err))
    await assert.rejects(j.commit([event('r', 4)]), { message: 'connection lost' })
    assert.equal((errors[0] as Error).message, 'connection lost')
    assert.deepEqual(
      (await store.listEvents('r')).map((e) => e.seq),
      [1],
    )
  })

  it('groups writes queued together, and those queued during a flight, into one batch each, in order', async () => {
    const store = new MemoryRunStore()
    const batches: number[] = []
    const write = store.write.bind(store)
    store.write = async (b) => {
      batches.push(b.length)
      return write(b)
    }
    const j = new Journal(store)
    await j.commit([{ kind: 'run.create', run: run('r') }])
    await Promise.all([1, 2, 3].map((i) => j.commit([event('r', i)])))
    const first = j.commit([event('r', 4)])
    await Promise.resolve()
    const during = [5, 6].map((i) => j.commit([event('r', i)]))
    await Promise.all([first, ...during])
    assert.deepEqual(batches, [1, 3, 1, 2])
    assert.deepEqual(
      (await store.listEvents('r')).map((e) => e.seq),
      [1, 2, 3, 4, 5, 6],
    )
  })

  it('a lingering write queued while a batch is in flight still waits for company, instead of going out alone next', async () => {
    const store = new MemoryRunStore()
    const batches: number[] = []
    const write = store.write.bind(store)
    store.write = async (b) => {
      batches.push(b.length)
      return write(b)
    }
    const clock = manualClock()
    const j = new Journal(store, 1000, clock)
    await j.commit([{ kind: 'run.create', run: run('r') }])
    // a completion commits; its callback queues the next node's start (lingering), as the run loop does
    let started!: Promise<void>
    await new Promise<void>((resolve) =>
      j.push([event('r', 1)], () => {
        started = new Promise((ok) => j.push([event('r', 2)], () => ok(), false))
        resolve()
      }),
    )
    clock.advance(999)
    await new Promise((r) => setImmediate(r))
    assert.deepEqual(batches, [1, 1], 'the lingering start did not go out on its own before its time')
    assert.equal(clock.pending(), 1, 'its linger timer is set')
    // that node's completion: one batch carries both
    await j.commit([event('r', 3)])
    await started
    assert.deepEqual(batches, [1, 1, 2])
    assert.deepEqual(
      (await store.listEvents('r')).map((e) => e.seq),
      [1, 2, 3],
    )
  })

  it('a lingering write rides with the next urgent one, or goes alone when its time is up', async () => {
    const store = new MemoryRunStore()
    const batches: number[] = []
    const write = store.write.bind(store)
    store.write = async (b) => {
      batches.push(b.length)
      return write(b)
    }
    const clock = manualClock()
    const j = new Journal(store, 30, clock)
    await j.commit([{ kind: 'run.create', run: run('r') }])
    const order: string[] = []
    j.push([event('r', 1)], () => order.push('lazy'), false)
    await j.commit([event('r', 2)])
    assert.deepEqual(order, ['lazy'])
    assert.deepEqual(batches, [1, 2])
    assert.equal(clock.pending(), 0, 'the linger timer went with the batch')
    let late = false
    j.push([event('r', 3)], () => (late = true), false)
    clock.advance(29)
    await new Promise((r) => setImmediate(r))
    assert.equal(late, false, 'still lingering at 29 ms')
    clock.advance(1)
    await j.drain()
    assert.equal(late, true, 'written alone at 30 ms')
    assert.deepEqual(batches, [1, 2, 1])
    await j.commit([event('r', 4)])
    assert.deepEqual(
      (await store.listEvents('r')).map((e) => e.seq),
      [1, 2, 3, 4],
    )
  })

  it('a timer firing after its writes already went out does not stall later writes', async () => {
    const store = new MemoryRunStore()
    const clock = manualClock()
    const j = new Journal(store, 5, clock)
    await j.commit([{ kind: 'run.create', run: run('r') }])
    j.push([event('r', 1)], () => {}, false)
    await j.commit([event('r', 2)])
    // whatever timer is left fires now, after its writes went out with the urgent batch
    clock.advance(20)
    await new Promise((r) => setImmediate(r))
    await j.commit([event('r', 3)])
    assert.equal((await store.listEvents('r')).length, 3)
  })

  it('calls every callback once even when one of them throws', async () => {
    const store = new MemoryRunStore()
    const j = new Journal(store)
    await j.commit([{ kind: 'run.create', run: run('r') }])
    const calls: string[] = []
    await j.commit([event('r', 0)])
    j.push([event('r', 1)], () => {
      calls.push('a')
      throw new Error('boom')
    })
    j.push([event('r', 2)], () => calls.push('b'))
    await j.drain()
    assert.deepEqual(calls, ['a', 'b'])
  })
})
