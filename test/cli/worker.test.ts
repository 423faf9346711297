// `weft worker`'s settings: the heartbeat TTL every worker and server of a fleet must share.
import { describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { spawnSync } from 'node:child_process'
import path from 'node:path'
import { heartbeatTtlMs } from '../../cli/worker.ts'

const root = path.resolve(import.meta.dirname, '..', '..')

describe('weft worker settings', () => {
  it('WEFT_HEARTBEAT_TTL: a duration of at least 100 ms, 30 s when unset; anything else is refused, not taken for the default', () => {
    assert.equal(heartbeatTtlMs({}), 30_000)
    assert.equal(heartbeatTtlMs({ WEFT_HEARTBEAT_TTL: '' }), 30_000)
    assert.equal(heartbeatTtlMs({ WEFT_HEARTBEAT_TTL: '10s' }), 10_000)
    assert.equal(heartbeatTtlMs({ WEFT_HEARTBEAT_TTL: '250ms' }), 250)
    // a bare number, and more than an hour (a timer that long overflows), are refused too
    for (const bad of ['abc', '0s', '50ms', '-5s', '300', '2h', '100d']) {
      assert.throws(
        () => heartbeatTtlMs({ WEFT_HEARTBEAT_TTL: bad }),
        (err: Error & { code?: string }) => err.code === 'CONFIG_INVALID' && err.message.includes(JSON.stringify(bad)),
      )
    }
  })

  it('a worker and a server given a TTL they cannot read say so and exit 2 before they open the database', () => {
    for (const args of [['worker'], ['serve', '--port', '0']]) {
      const r = spawnSync(process.execPath, ['--import', 'tsx', path.join(root, 'cli', 'weft.ts'), ...args], {
        cwd: root,
        encoding: 'utf8',
        timeout: 60_000,
        // nothing listens on port 1: a command that opened the database first would fail with STORE_UNAVAILABLE
        env: { ...process.env, WEFT_HEARTBEAT_TTL: 'abc', DATABASE_URL: 'postgres://weft@127.0.0.1:1/weft' },
      })
      assert.equal(r.status, 2, r.stderr)
      assert.match(r.stderr, /WEFT_HEARTBEAT_TTL is "abc": expected a duration with its unit from 100ms to 1h/)
      assert.doesNotMatch(r.stderr, /STORE_UNAVAILABLE/)
    }
  })
})
