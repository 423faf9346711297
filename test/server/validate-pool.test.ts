// Client-sent pipelines are validated on worker threads: the event loop stays free while large ones are checked,
// and a limit stops one that would take too long or too much memory, with a diagnostic instead of a crash.
import { describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { tmpdir } from 'node:os'
import path from 'node:path'
import { ValidatePool } from '../../server/validate-pool.ts'

const file = path.join(tmpdir(), 'request.yaml')

/** A chain of `n` nodes, valid, about 60 bytes a node. */
function chain(n: number): string {
  const lines = ['pipeline: big', 'nodes:', '  n0: { type: approval, gate: n0x }', '  n0x: { type: fan_out, items: [], node: { type: fan_out, items: [], node: { type: approval, gate: x } } }']
  for (let i = 1; i < n; i++) lines.push(`  n${i}: { type: fan_out, needs: [n${i - 1}], items: [], node: { type: fan_out, items: [] } }`)
  return lines.join('\n') + '\n'
}

describe('validation off the request thread', () => {
  it('three large documents at once leave the event loop free to answer, and all three are checked', async () => {
    const pool = new ValidatePool({ threads: 2 })
    try {
      const text = chain(6000)
      assert.ok(text.length > 400_000)
      let ticks = 0
      const ticker = setInterval(() => ticks++, 5)
      const done = await Promise.all([pool.validate({ file, text }), pool.validate({ file, text }), pool.validate({ file, text })])
      clearInterval(ticker)
      for (const d of done) assert.ok(Array.isArray(d) && d.length > 0, 'each answered with its diagnostics')
      // the timer kept firing while the three were checked elsewhere: this thread was not held
      assert.ok(ticks >= 10, `the event loop ran ${ticks} timer ticks during validation`)
    } finally {
      await pool.close()
    }
  })

  it('a validation past its time limit is stopped and answered with VALIDATION_TIMEOUT, and so is the next: no crash', async () => {
    const pool = new ValidatePool({ threads: 1, timeoutMs: 50 })
    try {
      for (let i = 0; i < 2; i++) {
        const [d, ...rest] = await pool.validate({ file, text: chain(6000) })
        assert.equal(d!.code, 'VALIDATION_TIMEOUT')
        assert.equal(rest.length, 0)
        assert.match(d!.message, /took longer than 0\.05 s; it was stopped/)
      }
    } finally {
      await pool.close()
    }
  })

  it('the time limit counts the check, not the wait for a thread; past the waiting room a validation is refused', async () => {
    const pool = new ValidatePool({ threads: 1, timeoutMs: 4000, maxWaiting: 1 })
    try {
      const small = 'pipeline: ok\nnodes:\n  a: { type: approval, gate: b }\n  b: { type: fan_out, items: [], node: { type: fan_out, items: [] } }\n'
      const first = pool.validate({ file, text: chain(3000) })
      const second = pool.validate({ file, text: small })
      await assert.rejects(pool.validate({ file, text: small }), { code: 'RATE_LIMITED' })
      const [a, b] = await Promise.all([first, second])
      assert.ok(!a.some((d) => d.code === 'VALIDATION_TIMEOUT'))
      assert.ok(!b.some((d) => d.code === 'VALIDATION_TIMEOUT'), 'the small one waited for the thread without its clock running')
    } finally {
      await pool.close()
    }
  })

  it('loads no plugin and no prompts folder a document names', async () => {
    const pool = new ValidatePool()
    try {
      const d = await pool.validate({ file, text: 'pipeline: x\nprompts: /etc\nplugins: [/tmp/evil.mjs]\nnodes:\n  a: { type: approval, gate: a }\n' })
      assert.deepEqual(
        d
          .map((x) => x.code)
          .filter((c) => c.endsWith('NOT_ALLOWED'))
          .sort(),
        ['PLUGIN_NOT_ALLOWED', 'PROMPTS_NOT_ALLOWED'],
      )
    } finally {
      await pool.close()
    }
  })
})
