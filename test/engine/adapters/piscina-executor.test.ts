import { describe, it, after } from 'node:test'
import assert from 'node:assert/strict'
import { PiscinaExecutor } from '../../../engine/adapters/piscina-executor.ts'
import { mkdtempSync, readFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import path from 'node:path'
import { fixtures, pipeline, run } from '../../helpers.ts'

type WorkOut = { started: number; finished: number }
const workModule = new URL('../../fixtures/plugins/work.mjs', import.meta.url).href

describe('piscina executor', () => {
  const executor = new PiscinaExecutor({ threads: 2, killGraceMs: 150 })
  after(() => executor.close())

  it('stops a synchronous infinite loop at its timeout by replacing the worker; the run goes on', async () => {
    // warm both threads first, so the 300 ms timeout measures the loop, not the threads starting up
    const warm = Array.from({ length: 4 }, (_, i) => `  w${i}: { type: work, ms: 50 }`).join('\n')
    await run(await pipeline(`pipeline: warm\nplugins: [$WORK]\nnodes:\n${warm}`), { executor })
    const p = await pipeline(`
pipeline: hard-timeout
plugins: [$WORK]
nodes:
  stuck: { type: spin, forever: true, timeout: 300ms, continue_on_error: true }
  alongside: { type: work, ms: 100 }
  after_stuck: { type: work, needs: [stuck], trigger: all_done }
`)
    const t0 = Date.now()
    const { record } = await run(p, { executor })
    const took = Date.now() - t0
    assert.equal(record.status, 'completed')
    assert.equal(record.nodes.stuck!.status, 'failed')
    assert.equal(record.nodes.stuck!.error!.code, 'NODE_TIMEOUT')
    assert.equal((record.nodes.stuck!.error!.details as { killed: boolean }).killed, true)
    assert.equal(record.nodes.alongside!.status, 'succeeded')
    assert.equal(record.nodes.after_stuck!.status, 'succeeded')
    // timeout (300 ms) + grace (150 ms), not forever
    assert.ok(took < 5000, `took ${took} ms`)
    // the pool still works afterwards
    const again = await run(await pipeline('pipeline: after\nplugins: [$WORK]\nnodes:\n  a: { type: work, value: 1 }\n'), { executor })
    assert.equal(again.record.status, 'completed')
  })

  it('a node that honours its signal is cancelled without killing its thread', async () => {
    const p = await pipeline(`
pipeline: cancel
plugins: [$WORK]
nodes:
  waiting: { type: patient, timeout: 100ms }
`)
    const { record } = await run(p, { executor })
    assert.equal(record.nodes.waiting!.error!.code, 'NODE_TIMEOUT')
    assert.deepEqual((record.nodes.waiting!.error!.details as { node_error: unknown }).node_error, { code: 'STOPPED', message: 'stopped on request' })
    assert.equal((record.nodes.waiting!.error!.details as { killed?: boolean }).killed, undefined)
  })

  it('runs a plugin from a .mjs file that imports nothing, on a worker thread', async () => {
    const p = await pipeline(`
pipeline: plain-plugin
plugins: [$FIXTURES/plugins/typed.mjs]
nodes:
  a: { type: typed, text: hello }
  b: { type: typed, text: '\${{ nodes.a.output.text + " again" }}' }
`)
    const { record } = await run(p, { executor })
    assert.equal(record.status, 'completed')
    assert.deepEqual(record.nodes.b!.output, { text: 'hello again' })
    assert.equal(readFileSync(path.join(fixtures, 'plugins', 'typed.mjs'), 'utf8').match(/^\s*import /m), null)
  })

  it('an output that is not JSON data fails only its own node, once', async () => {
    const dir = mkdtempSync(path.join(tmpdir(), 'weft-json-'))
    const log = path.join(dir, 'log')
    const single = new PiscinaExecutor({ threads: 1 })
    try {
      const p = await pipeline(`
pipeline: weird
plugins: [$WORK]
nodes:
  fn: { type: weird, kind: function, continue_on_error: true }
  big: { type: weird, kind: bigint, continue_on_error: true }
  loop: { type: weird, kind: cycle, continue_on_error: true }
  date: { type: weird, kind: date }
  innocent: { type: counted, log: '${log}' }
`)
      const { record } = await run(p, { executor: single })
      for (const id of ['fn', 'big', 'loop']) {
        assert.equal(record.nodes[id]!.error!.code, 'OUTPUT_INVALID', id)
        assert.equal(record.nodes[id]!.attempts, 1)
      }
      assert.deepEqual(record.nodes.date!.output, { at: '1970-01-01T00:00:00.000Z' })
      assert.equal(readFileSync(log, 'utf8'), 'innocent\n')
    } finally {
      await single.close()
    }
  })

  it('killing a stuck node spares a thread that is merely busy', async () => {
    const dir = mkdtempSync(path.join(tmpdir(), 'weft-busy-'))
    const log = path.join(dir, 'log')
    const p = await pipeline(`
pipeline: busy
plugins: [$WORK]
nodes:
  stuck: { type: spin, forever: true, timeout: 200ms, continue_on_error: true }
  working: { type: busy, ms: 900, log: '${log}' }
`)
    const { record } = await run(p, { executor })
    assert.equal(record.nodes.stuck!.error!.code, 'NODE_TIMEOUT')
    assert.equal(record.nodes.working!.status, 'succeeded')
    assert.equal(readFileSync(log, 'utf8'), 'working\n')
  })

  it('a node that blocks its thread does not hold up the nodes sent with it: they move to a free thread, and run once', async () => {
    const dir = mkdtempSync(path.join(tmpdir(), 'weft-blocked-'))
    const log = path.join(dir, 'log')
    const pool = new PiscinaExecutor({ threads: 2 })
    try {
      await run(await pipeline('pipeline: warm\nplugins: [$WORK]\nnodes:\n  a: { type: work, ms: 20 }\n  b: { type: work, ms: 20 }\n'), { executor: pool })
      // one burst of five on two threads: the spinner shares its batch with two of the sleepers
      const sleepers = Array.from({ length: 4 }, (_, i) => `  s${i}: { type: work, ms: 100 }\n  c${i}: { type: counted, log: '${log}', needs: [s${i}] }`).join('\n')
      const { record } = await run(await pipeline(`pipeline: blocked\nplugins: [$WORK]\nnodes:\n  spinner: { type: spin, ms: 1500 }\n${sleepers}\n`), { executor: pool })
      assert.equal(record.status, 'completed')
      const spun = record.nodes.spinner!.output as WorkOut
      for (let i = 0; i < 4; i++) {
        const out = record.nodes[`s${i}`]!.output as WorkOut
        assert.ok(out.finished < spun.finished, `s${i} waited behind the spinner: it finished ${Math.round(out.finished - spun.finished)} ms after it`)
      }
      assert.deepEqual(readFileSync(log, 'utf8').trim().split('\n').sort(), ['c0', 'c1', 'c2', 'c3'])
    } finally {
      await pool.close()
    }
  })

  it('when every thread is blocked, work waits for the first free one and runs once', async () => {
    const dir = mkdtempSync(path.join(tmpdir(), 'weft-all-blocked-'))
    const log = path.join(dir, 'log')
    const pool = new PiscinaExecutor({ threads: 2 })
    try {
      const nodes = ['  x: { type: spin, ms: 600 }', '  y: { type: spin, ms: 600 }', ...Array.from({ length: 6 }, (_, i) => `  c${i}: { type: counted, log: '${log}' }`)].join('\n')
      const { record } = await run(await pipeline(`pipeline: all-blocked\nplugins: [$WORK]\nnodes:\n${nodes}\n`), { executor: pool })
      assert.equal(record.status, 'completed')
      assert.deepEqual(readFileSync(log, 'utf8').trim().split('\n').sort(), ['c0', 'c1', 'c2', 'c3', 'c4', 'c5'])
    } finally {
      await pool.close()
    }
  })

  it('a node taken back while every thread is blocked runs once, even when its first thread is killed later', async () => {
    const dir = mkdtempSync(path.join(tmpdir(), 'weft-taken-back-'))
    const log = path.join(dir, 'log')
    const pool = new PiscinaExecutor({ threads: 2, killGraceMs: 100 })
    try {
      await run(await pipeline('pipeline: warm\nplugins: [$WORK]\nnodes:\n  a: { type: work, ms: 20 }\n  b: { type: work, ms: 20 }\n'), { executor: pool })
      const { record } = await run(
        await pipeline(`pipeline: taken-back
plugins: [$WORK]
nodes:
  x: { type: spin, forever: true, timeout: 300ms, continue_on_error: true }
  c0: { type: counted, log: '${log}' }
  y: { type: spin, ms: 1500 }
  c1: { type: counted, log: '${log}' }
`),
        { executor: pool },
      )
      assert.equal(record.status, 'completed')
      assert.equal(record.nodes.x!.error!.code, 'NODE_TIMEOUT')
      assert.deepEqual(readFileSync(log, 'utf8').trim().split('\n').sort(), ['c0', 'c1'])
    } finally {
      await pool.close()
    }
  })

  it('a node whose module blocks its thread while loading is killed with the thread at its timeout', { timeout: 20_000 }, async () => {
    const pool = new PiscinaExecutor({ threads: 2, killGraceMs: 100 })
    try {
      // threads up first: the timeout then measures the loading, not the threads starting
      await run(await pipeline('pipeline: warm\nplugins: [$WORK]\nnodes:\n  a: { type: work, ms: 20 }\n  b: { type: work, ms: 20 }\n'), { executor: pool })
      const { record } = await run(
        await pipeline('pipeline: stuck-import\nplugins: [$FIXTURES/plugins/spin-at-import.mjs]\nnodes:\n  s: { type: stuck_at_import, timeout: 300ms, continue_on_error: true }\n'),
        { executor: pool },
      )
      assert.equal(record.nodes.s!.error!.code, 'NODE_TIMEOUT')
      assert.equal((record.nodes.s!.error!.details as { killed: boolean }).killed, true)
    } finally {
      await pool.close()
    }
  })

  it('a node whose thread was starting, or that was sent again to the thread that held it back, answers its cancel: none is killed', async () => {
    // one thread, cold: the cancels of the first round go out while it still loads its code; then a spinning node keeps
    // it from starting the nodes sent with it, which are taken back and sent again to the same thread once it is free
    const pool = new PiscinaExecutor({ threads: 1, killGraceMs: 1000 })
    try {
      for (let round = 0; round < 6; round++) {
        const waiting = Array.from({ length: 4 }, (_, i) => `  p${i}: { type: patient, timeout: 400ms, continue_on_error: true }`).join('\n')
        const { record } = await run(await pipeline(`pipeline: sent-again\nplugins: [$WORK]\nnodes:\n  x: { type: spin, ms: 150 }\n${waiting}\n`), { executor: pool })
        for (let i = 0; i < 4; i++) {
          const error = record.nodes[`p${i}`]!.error!
          assert.equal(error.code, 'NODE_TIMEOUT', `round ${round}, p${i}`)
          // stopped by its signal (node_error STOPPED), or told before it started; never left to be killed
          const details = error.details as { killed?: boolean; node_error?: { code: string } }
          assert.equal(details.killed, undefined, `round ${round}, p${i}: ${JSON.stringify(details)}`)
          if (details.node_error) assert.equal(details.node_error.code, 'STOPPED')
        }
      }
    } finally {
      await pool.close()
    }
  })

  it('closes cleanly while a cancel is still being told to a node that has not answered', async () => {
    const pool = new PiscinaExecutor({ threads: 1, killGraceMs: 1000 })
    const uncaught: unknown[] = []
    const onUncaught = (err: unknown) => void uncaught.push(err)
    process.on('uncaughtException', onUncaught)
    try {
      const stop = new AbortController()
      const task = {
        runId: 'r',
        nodeId: 'x',
        type: 'spin',
        module: workModule,
        attempt: 1,
        config: { ms: 400 },
        run: { id: 'r', interactive: false },
        idempotencyKey: 'r:x:1',
        workDir: tmpdir(),
        prompts: [],
      }
      const out = pool.execute(task, { signal: stop.signal, onProgress: () => {} })
      await new Promise((resolve) => setTimeout(resolve, 100))
      stop.abort(new Error('stop'))
      await pool.close()
      // a few of the intervals that told the cancel again
      await new Promise((resolve) => setTimeout(resolve, 120))
      void out
    } finally {
      process.off('uncaughtException', onUncaught)
    }
    assert.deepEqual(uncaught, [])
  })

  it('runs many async nodes at once on one thread', async () => {
    const single = new PiscinaExecutor({ threads: 1 })
    try {
      const nodes = Array.from({ length: 8 }, (_, i) => `  w${i}: { type: work, ms: 80 }`).join('\n')
      const { record } = await run(await pipeline(`pipeline: overlap\nplugins: [$WORK]\nnodes:\n${nodes}`), { executor: single })
      const outs = Object.values(record.nodes).map((n) => n.output as WorkOut)
      const lastStart = Math.max(...outs.map((o) => o.started))
      const firstEnd = Math.min(...outs.map((o) => o.finished))
      assert.ok(lastStart < firstEnd, 'all eight were running at the same time')
    } finally {
      await single.close()
    }
  })

  it('runs node work at the nice value it is given (Linux: per thread), leaving the main thread as it was', { skip: process.platform !== 'linux' && 'nice is per thread on Linux only' }, async () => {
    const niced = new PiscinaExecutor({ threads: 1, nice: 7 })
    try {
      const { record } = await run(await pipeline('pipeline: nice\nplugins: [$WORK]\nnodes:\n  a: { type: thread_nice }\n'), { executor: niced })
      assert.deepEqual(record.nodes.a!.output, { nice: 7 })
      const { record: plain } = await run(await pipeline('pipeline: nice\nplugins: [$WORK]\nnodes:\n  a: { type: thread_nice }\n'), { executor })
      assert.deepEqual(plain.nodes.a!.output, { nice: 0 })
      const main = readFileSync('/proc/thread-self/stat', 'utf8')
      assert.equal(Number(main.slice(main.lastIndexOf(')') + 2).split(' ')[16]), 0)
    } finally {
      await niced.close()
    }
  })

  it("fails cleanly, without retries, when a node type's module cannot be loaded", async () => {
    const outcome = await executor.execute(
      {
        runId: 'r',
        nodeId: 'n',
        type: 'nope',
        module: 'file:///nonexistent/plugin.mjs',
        attempt: 1,
        config: {},
        run: { id: 'r', interactive: false },
        idempotencyKey: 'r:n:1',
        workDir: '/tmp',
        prompts: [],
      },
      { signal: new AbortController().signal, onProgress: () => {} },
    )
    assert.equal(outcome.ok, false)
    assert.equal(!outcome.ok && outcome.error.code, 'NODE_MODULE_FAILED')
    assert.equal(!outcome.ok && outcome.error.retryable, false)
  })
})
