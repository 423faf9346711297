// Writing an attempt's progress at a bounded rate, on virtual time.
import { describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { manualClock } from '../../helpers.ts'
import { throttledProgress } from '../../../engine/fleet/attempt.ts'

describe('throttledProgress', () => {
  it('writes the latest report at most once per interval, one write at a time, and nothing after close', async () => {
    const clock = manualClock()
    const written: unknown[] = []
    let inFlight = 0
    let most = 0
    let finishWrite: (() => void) | undefined
    const p = throttledProgress(
      async (x) => {
        most = Math.max(most, ++inFlight)
        await new Promise<void>((r) => (finishWrite = r))
        written.push(x.n)
        inFlight--
      },
      (err) => assert.fail(String(err)),
      20,
      clock,
    )
    for (let n = 1; n <= 5; n++) p.report({ n })
    clock.advance(19)
    await new Promise((r) => setImmediate(r))
    assert.equal(finishWrite, undefined, 'nothing written within the interval')
    clock.advance(1)
    await new Promise((r) => setImmediate(r))
    // a report while that write is in flight waits for it, then goes in the next interval
    p.report({ n: 6 })
    clock.advance(20)
    await new Promise((r) => setImmediate(r))
    assert.equal(inFlight, 1, 'one write at a time')
    finishWrite!()
    await new Promise((r) => setImmediate(r))
    assert.deepEqual(written, [5], 'five reports within one interval: the last one, once')
    finishWrite!()
    await new Promise((r) => setImmediate(r))
    assert.deepEqual(written, [5, 6])
    p.report({ n: 7 })
    const closing = p.close()
    p.report({ n: 8 })
    clock.advance(100)
    await closing
    assert.deepEqual(written, [5, 6], 'a report pending at close, and one after, are dropped')
    assert.equal(clock.pending(), 0, 'no timer left')
    assert.equal(most, 1)
  })
})
