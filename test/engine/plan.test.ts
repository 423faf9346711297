import { describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { admit, backoffDelay, readiness } from '../../engine/plan.ts'

describe('readiness', () => {
  it('waits until every dependency has finished', () => {
    assert.deepEqual(
      readiness('all_succeeded', [
        { id: 'a', status: 'succeeded' },
        { id: 'b', status: 'running' },
      ]),
      { action: 'wait' },
    )
    assert.deepEqual(readiness('all_done', [{ id: 'a', status: 'pending' }]), { action: 'wait' })
  })
  it('all_succeeded skips on a skipped or failed dependency', () => {
    assert.equal(readiness('all_succeeded', [{ id: 'a', status: 'succeeded' }]).action, 'run')
    assert.deepEqual(readiness('all_succeeded', [{ id: 'a', status: 'skipped' }]), { action: 'skip', reason: 'dependency "a" was skipped' })
    assert.deepEqual(readiness('all_succeeded', [{ id: 'a', status: 'failed' }]), { action: 'skip', reason: 'dependency "a" failed' })
  })
  it('none_failed tolerates skipped dependencies only', () => {
    assert.equal(
      readiness('none_failed', [
        { id: 'a', status: 'skipped' },
        { id: 'b', status: 'succeeded' },
      ]).action,
      'run',
    )
    assert.equal(readiness('none_failed', [{ id: 'a', status: 'cancelled' }]).action, 'skip')
  })
  it('all_done runs whatever happened', () => {
    assert.equal(
      readiness('all_done', [
        { id: 'a', status: 'failed' },
        { id: 'b', status: 'skipped' },
      ]).action,
      'run',
    )
  })
  it('a node with no dependencies runs', () => {
    assert.equal(readiness('all_succeeded', []).action, 'run')
  })
})

describe('admit', () => {
  const cap = (limit: number, running = 0, pools: Record<string, number> = {}, poolRunning: Record<string, number> = {}) => ({ limit, running, pools, poolRunning })
  it('fills free global slots in queue order', () => {
    assert.deepEqual(admit([{}, {}, {}, {}], cap(3, 1)), [0, 1])
    assert.deepEqual(admit([{}, {}], cap(Infinity)), [0, 1])
    assert.deepEqual(admit([{}], cap(2, 2)), [])
  })
  it('a full pool does not block other work behind it', () => {
    const q = [{ pool: 'gpu' }, { pool: 'gpu' }, {}, { pool: 'gpu' }]
    assert.deepEqual(admit(q, cap(10, 0, { gpu: 1 })), [0, 2])
    assert.deepEqual(admit(q, cap(10, 0, { gpu: 2 }, { gpu: 2 })), [2])
  })
})

describe('backoffDelay', () => {
  const policy = { attempts: 5, backoffMs: 100, factor: 2, maxBackoffMs: 350, jitter: false }
  it('grows exponentially and is capped', () => {
    assert.deepEqual(
      [2, 3, 4, 5].map((n) => backoffDelay(policy, n, Math.random)),
      [100, 200, 350, 350],
    )
  })
  it('jitter keeps each delay between half and all of it', () => {
    const p = { ...policy, jitter: true }
    assert.equal(
      backoffDelay(p, 3, () => 0),
      100,
    )
    assert.equal(
      backoffDelay(p, 3, () => 0.999999),
      200,
    )
  })
})
