// The relay of fleet runs' events keeps a run only while someone listens to its session: a waiting run costs the
// server nothing, and a finished or unheard run is let go.
import { describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { setImmediate as tick } from 'node:timers/promises'
import { FleetEventRelay } from '../../server/fleet-events.ts'
import { SessionHub } from '../../server/hub.ts'
import type { RunEvent, RunRecord, RunStore } from '../../engine/ports.ts'

const event = (run: string, seq: number, type: RunEvent['type'] = 'node.started'): RunEvent => ({ seq, run_id: run, type, timestamp: '2026-12-03T00:00:00.000Z', payload: {} })

function fakeStore(events: RunEvent[], sessions: Record<string, string>) {
  const calls = { getRun: 0, listEvents: 0 }
  const store = {
    async getRun(id: string) {
      calls.getRun++
      return { id, session_id: sessions[id] } as unknown as RunRecord
    },
    async listEvents(run: string, after: number) {
      calls.listEvents++
      return events.filter((e) => e.run_id === run && e.seq > after)
    },
  } as unknown as RunStore
  return { store, calls }
}

const settle = async () => {
  for (let i = 0; i < 10; i++) await tick()
}

describe('FleetEventRelay', () => {
  it('keeps nothing for a run whose session nobody listens to, and reads nothing for it', async () => {
    const hub = new SessionHub()
    const { store, calls } = fakeStore([event('r1', 1)], { r1: 's1' })
    const relay = new FleetEventRelay(store, hub)
    relay.track('r1', 's1')
    assert.equal(relay.following, 0)
    relay.notify(JSON.stringify({ run: 'r1', seq: 1 }))
    await settle()
    assert.deepEqual(calls, { getRun: 0, listEvents: 0 })
  })

  it('follows a run while its session listens, publishes in order, and lets it go at its end', async () => {
    const hub = new SessionHub()
    const events = [event('r1', 1), event('r1', 2), event('r1', 3, 'run.completed')]
    const { store } = fakeStore(events, { r1: 's1' })
    const relay = new FleetEventRelay(store, hub)
    const got: number[] = []
    hub.subscribe('s1', (e) => got.push(e.seq))
    relay.track('r1', 's1')
    assert.equal(relay.following, 1)
    relay.notify(JSON.stringify({ run: 'r1', seq: 2 }))
    relay.notify(JSON.stringify({ run: 'r1', seq: 3 }))
    await settle()
    assert.deepEqual(got, [1, 2, 3])
    assert.equal(relay.following, 0)
  })

  it('lets a run go when its session stops listening, and follows it again from where it was when someone listens', async () => {
    const hub = new SessionHub()
    const events = [event('r1', 1)]
    const { store, calls } = fakeStore(events, { r1: 's1' })
    const relay = new FleetEventRelay(store, hub)
    const off = hub.subscribe('s1', () => {})
    relay.track('r1', 's1')
    off()
    relay.notify(JSON.stringify({ run: 'r1', seq: 1 }))
    await settle()
    assert.equal(relay.following, 0)
    assert.equal(calls.listEvents, 0)

    const got: number[] = []
    hub.subscribe('s1', (e) => got.push(e.seq))
    events.push(event('r1', 2))
    relay.notify(JSON.stringify({ run: 'r1', seq: 2 }))
    await settle()
    assert.equal(calls.getRun, 0, 'its session is remembered')
    assert.deepEqual(got, [2], 'only what is new since it was let go (a client that comes later replays the rest from the store)')
    assert.equal(relay.following, 1)
  })

  it('reads the session of a run started elsewhere once, however often it is notified while its session is not listened to', async () => {
    const hub = new SessionHub()
    const events = [event('r2', 1), event('r2', 2), event('r2', 3)]
    const { store, calls } = fakeStore(events, { r2: 's2' })
    const relay = new FleetEventRelay(store, hub)
    hub.subscribe('other', () => {})
    for (const seq of [1, 2]) {
      relay.notify(JSON.stringify({ run: 'r2', seq }))
      await settle()
    }
    assert.deepEqual(calls, { getRun: 1, listEvents: 0 })
    const got: number[] = []
    hub.subscribe('s2', (e) => got.push(e.seq))
    relay.notify(JSON.stringify({ run: 'r2', seq: 3 }))
    await settle()
    assert.deepEqual(got, [3])
    assert.equal(calls.getRun, 1)
  })
})
