// Ending a run no step is taking: what the steps would write when a run fails or is cancelled, without its pipeline.
import { describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { endRunWrites } from '../../engine/end-run-writes.ts'
import { nodeRecord, runRecord } from '../support/run-record.ts'

const run = runRecord(
  [
    nodeRecord('done', { status: 'succeeded', attempts: 1, started_at: '2026-01-01T00:00:00.000Z', finished_at: '2026-01-01T00:00:01.000Z', duration_ms: 1000 }),
    nodeRecord('gate', { type: 'approval', status: 'waiting', attempts: 1, started_at: '2026-01-01T00:00:01.000Z' }),
    nodeRecord('busy', { status: 'running', attempts: 2, started_at: '2026-01-01T00:00:02.000Z' }),
    nodeRecord('later'),
  ],
  { status: 'awaiting_approval', interactive: true, pipeline: { name: 'p', version: 1, file: '/gone.yaml' }, current_stage: 'story' },
)

describe('endRunWrites', () => {
  it('cancels what runs or waits, skips what has not started, leaves what ended, then fails the run; events in sequence', () => {
    const error = { code: 'PIPELINE_NOT_FOUND', message: 'pipeline file /gone.yaml not found' }
    const now = Date.parse('2026-01-01T00:00:05.000Z')
    const writes = endRunWrites(run, 'failed', error, { now, seq: 7 })
    const nodes = writes.flatMap((w) => (w.kind === 'node.update' ? [w.node] : []))
    assert.deepEqual(
      nodes.map((n) => [n.id, n.status, n.duration_ms]),
      [
        ['gate', 'cancelled', 4000],
        ['busy', 'cancelled', 3000],
        ['later', 'skipped', null],
      ],
    )
    assert.deepEqual(nodes[1]!.error, { code: 'CANCELLED', message: 'run stopped: pipeline file /gone.yaml not found' })
    assert.equal(nodes[1]!.attempts, 2, 'the attempts it had')
    assert.equal(nodes[2]!.skip_reason, 'run failed')
    const events = writes.flatMap((w) => (w.kind === 'event' ? [w.event] : []))
    assert.deepEqual(
      events.map((e) => [e.seq, e.type, e.node ?? null]),
      [
        [8, 'node.cancelled', 'gate'],
        [9, 'node.cancelled', 'busy'],
        [10, 'node.skipped', 'later'],
        [11, 'run.failed', null],
      ],
    )
    const update = writes.find((w) => w.kind === 'run.update')
    assert.deepEqual(update, { kind: 'run.update', runId: 'r1', patch: { status: 'failed', error, finished_at: '2026-01-01T00:00:05.000Z' } })
  })

  it('a cancel ends the nodes in the words of a cancelled step, and the run cancelled with its reason', () => {
    const reason = { code: 'CANCELLED', message: 'cancelled: wrong brand' }
    const writes = endRunWrites(run, 'cancelled', reason, { now: Date.parse('2026-01-01T00:00:05.000Z'), seq: 3 })
    const nodes = writes.flatMap((w) => (w.kind === 'node.update' ? [w.node] : []))
    assert.deepEqual(
      nodes.map((n) => [n.id, n.status, n.error?.message ?? n.skip_reason]),
      [
        ['gate', 'cancelled', 'run cancelled'],
        ['busy', 'cancelled', 'run cancelled'],
        ['later', 'skipped', 'run cancelled'],
      ],
    )
    const events = writes.flatMap((w) => (w.kind === 'event' ? [w.event] : []))
    assert.deepEqual(events.at(-1), { seq: 7, run_id: 'r1', type: 'run.cancelled', timestamp: '2026-01-01T00:00:05.000Z', payload: { error: reason } })
    assert.deepEqual(
      writes.find((w) => w.kind === 'run.update'),
      { kind: 'run.update', runId: 'r1', patch: { status: 'cancelled', error: reason, finished_at: '2026-01-01T00:00:05.000Z' } },
    )
  })
})
