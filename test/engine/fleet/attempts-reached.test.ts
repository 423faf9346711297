import { describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { attemptsReached } from '../../../engine/fleet/attempts-reached.ts'
import type { RunEvent } from '../../../engine/ports.ts'

let seq = 0
const ev = (type: RunEvent['type'], node: string, payload: Record<string, unknown> = {}): RunEvent => ({ seq: ++seq, run_id: 'r', type, node, timestamp: '2026-01-01T00:00:00.000Z', payload })
const retrying = (node: string, next: number, task?: string) => ev('node.retrying', node, { attempt: next - 1, next_attempt: next, ...(task ? { task } : {}) })

describe('attemptsReached', () => {
  const cases: Array<{ name: string; events: RunEvent[]; kept?: string[]; succeeded?: string[]; want: Record<string, number> }> = [
    { name: 'nothing retried: nothing carried', events: [ev('node.started', 'a')], want: {} },
    { name: 'a node waiting out its backoff goes on with its next attempt', events: [ev('node.started', 'a'), retrying('a', 2), retrying('a', 3)], want: { a: 3 } },
    { name: "a fan-out item's retries are carried under its task key", events: [ev('node.started', 'f'), retrying('f', 2, 'f[1]'), retrying('f', 2, 'f[0]')], want: { 'f[1]': 2, 'f[0]': 2 } },
    { name: 'a node that completed since counts afresh', events: [retrying('a', 2), ev('node.completed', 'a')], want: {} },
    { name: 'a node that failed for good counts afresh, with its items', events: [retrying('f', 3, 'f[0]'), retrying('a', 2), ev('node.failed', 'f')], want: { a: 2 } },
    { name: 'after failing for good and being resumed, only the later retries count', events: [retrying('a', 2), ev('node.failed', 'a'), ev('run.resumed', 'a'), retrying('a', 2)], want: { a: 2 } },
    { name: 'a node cancelled in its backoff (the run interrupted) keeps its count', events: [retrying('a', 2), ev('node.cancelled', 'a')], want: { a: 2 } },
    { name: 'a lost attempt tried again as the same attempt carries nothing new', events: [ev('node.retrying', 'a', { attempt: 1, next_attempt: 1 })], want: {} },
    { name: 'a node the resume keeps is left out', events: [retrying('a', 2), retrying('b', 2)], kept: ['a'], want: { b: 2 } },
    {
      name: 'an item that failed for good (its fan-out collecting failures) counts afresh',
      events: [retrying('f', 2, 'f[0]'), retrying('f', 2, 'f[1]'), ev('node.progress', 'f', { item: '0', item_status: 'failed', task: 'f[0]' })],
      want: { 'f[1]': 2 },
    },
    {
      name: "an item's step that ended counts afresh",
      events: [retrying('f', 2, 'f[0].draft'), ev('node.progress', 'f', { item: '0', step: 'draft', step_status: 'succeeded', task: 'f[0].draft' })],
      want: {},
    },
    { name: 'other progress of an item does not end it', events: [retrying('f', 2, 'f[0]'), ev('node.progress', 'f', { item: '0', message: 'half way', task: 'f[0]' })], want: { 'f[0]': 2 } },
    { name: 'a piece whose result is recorded (a revision that retried, then succeeded) counts afresh', events: [retrying('review', 2, 'review~story#r1')], succeeded: ['review~story#r1'], want: {} },
  ]
  for (const c of cases) it(c.name, () => assert.deepEqual(attemptsReached(c.events, c.kept ?? [], c.succeeded ?? []), c.want))
})
