import { describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import path from 'node:path'
import { pipeline, run, virtualClock } from '../helpers.ts'
import { runPipeline } from '../../engine/run-pipeline.ts'
import { InlineExecutor } from '../../engine/adapters/inline-executor.ts'
import { MemoryRunStore } from '../../engine/adapters/memory-store.ts'
import type { RunEvent } from '../../engine/ports.ts'

type WorkOut = { id: string; started: number; finished: number; attempt: number }

/** Most intervals overlapping at any instant, from recorded start/finish times. */
function maxOverlap(outputs: WorkOut[]): number {
  const edges = outputs
    .flatMap(
      (o) =>
        [
          [o.started, 1],
          [o.finished, -1],
        ] as const,
    )
    .sort((a, b) => a[0] - b[0] || a[1] - b[1])
  let cur = 0
  let max = 0
  for (const [, d] of edges) max = Math.max(max, (cur += d))
  return max
}

const diamond = `
pipeline: diamond
plugins: [$WORK]
nodes:
  a: { type: work, ms: 5 }
  b: { type: work, ms: 20, needs: [a] }
  c: { type: work, ms: 5, needs: [a] }
  d: { type: work, needs: [b, c] }
`

describe('runPipeline: ordering', () => {
  it('runs a diamond: each node after all it needs, siblings in parallel', async () => {
    const { record } = await run(await pipeline(diamond))
    assert.equal(record.status, 'completed')
    const out = (id: string) => record.nodes[id]!.output as WorkOut
    assert.ok(out('b').started >= out('a').finished)
    assert.ok(out('c').started >= out('a').finished)
    assert.ok(out('d').started >= Math.max(out('b').finished, out('c').finished))
    // b and c overlap: c starts before b (20 ms) finishes
    assert.ok(out('c').started < out('b').finished)
  })

  it('runs a 4×4 lattice layer by layer', async () => {
    const layers = 4
    const lines = ['pipeline: lattice', 'plugins: [$WORK]', 'nodes:']
    for (let l = 0; l < layers; l++)
      for (let w = 0; w < layers; w++) {
        const needs = l ? `, needs: [${Array.from({ length: layers }, (_, k) => `n${l - 1}_${k}`).join(', ')}]` : ''
        lines.push(`  n${l}_${w}: { type: work, ms: 3${needs} }`)
      }
    const { record } = await run(await pipeline(lines.join('\n')))
    assert.equal(record.status, 'completed')
    for (let l = 1; l < layers; l++) {
      const prevEnd = Math.max(...Array.from({ length: layers }, (_, k) => (record.nodes[`n${l - 1}_${k}`]!.output as WorkOut).finished))
      for (let w = 0; w < layers; w++) assert.ok((record.nodes[`n${l}_${w}`]!.output as WorkOut).started >= prevEnd, `n${l}_${w} started early`)
    }
  })
})

describe('runPipeline: concurrency caps', () => {
  it('never exceeds the global cap', async () => {
    const nodes = Array.from({ length: 12 }, (_, i) => `  w${i}: { type: work, ms: 15 }`).join('\n')
    const { record } = await run(await pipeline(`pipeline: cap\nconcurrency: 3\nplugins: [$WORK]\nnodes:\n${nodes}`))
    const outs = Object.values(record.nodes).map((n) => n.output as WorkOut)
    assert.equal(maxOverlap(outs), 3)
  })

  it('never exceeds a pool cap, while other work proceeds', async () => {
    const gpu = Array.from({ length: 6 }, (_, i) => `  g${i}: { type: work, ms: 15, pool: gpu }`).join('\n')
    const cpu = Array.from({ length: 6 }, (_, i) => `  c${i}: { type: work, ms: 15 }`).join('\n')
    const { record } = await run(await pipeline(`pipeline: pools\npools: { gpu: 2 }\nplugins: [$WORK]\nnodes:\n${gpu}\n${cpu}`))
    const outs = (prefix: string) =>
      Object.values(record.nodes)
        .filter((n) => n.id.startsWith(prefix))
        .map((n) => n.output as WorkOut)
    assert.equal(maxOverlap(outs('g')), 2)
    assert.equal(maxOverlap(outs('c')), 6)
  })

  it('caps a fan-out at its concurrency', async () => {
    const p = await pipeline(`
pipeline: fan
plugins: [$WORK]
nodes:
  many:
    type: fan_out
    items: \${{ [1, 2, 3, 4, 5, 6, 7, 8] }}
    concurrency: 2
    node: { type: work, ms: 10, value: '\${{ item * 10 + index }}' }
`)
    const { record, events } = await run(p)
    assert.equal(record.status, 'completed')
    const out = record.nodes.many!.output as { results: Array<WorkOut & { value: number }>; failed: unknown[] }
    assert.deepEqual(
      out.results.map((r) => r.value),
      [10, 21, 32, 43, 54, 65, 76, 87],
    )
    assert.equal(maxOverlap(out.results), 2)
    // each item's end is an event, before the fan-out's own
    const ended = events.filter((e) => e.type === 'node.progress' && e.payload.item_status === 'succeeded').map((e) => e.payload.item)
    assert.deepEqual([...ended].sort(), ['0', '1', '2', '3', '4', '5', '6', '7'])
    assert.ok(events.findLastIndex((e) => e.payload.item_status !== undefined) < events.findIndex((e) => e.type === 'node.completed' && e.node === 'many'))
  })
})

describe('runPipeline: when, failure policy, retries', () => {
  it('skips a node whose `when` is false, and its dependents', async () => {
    const p = await pipeline(`
pipeline: when
inputs: { go: { type: boolean, default: false } }
plugins: [$WORK]
nodes:
  a: { type: work, when: '\${{ inputs.go }}' }
  b: { type: work, needs: [a] }
  c: { type: work, needs: [a], trigger: none_failed }
  d: { type: work }
`)
    const { record } = await run(p)
    assert.equal(record.status, 'completed')
    assert.deepEqual(Object.fromEntries(Object.values(record.nodes).map((n) => [n.id, n.status])), { a: 'skipped', b: 'skipped', c: 'succeeded', d: 'succeeded' })
    assert.equal(record.nodes.a!.skip_reason, '`when` was false')
    const again = await run(p, { given: { go: true } })
    assert.equal(again.record.nodes.a!.status, 'succeeded')
    assert.equal(again.record.nodes.b!.status, 'succeeded')
  })

  it('fail-fast: a failure cancels running nodes and skips the rest', async () => {
    const p = await pipeline(`
pipeline: failfast
plugins: [$WORK]
nodes:
  bad: { type: work, ms: 5, fail_until: 1 }
  slow: { type: patient }
  after_slow: { type: work, needs: [slow] }
  after_bad: { type: work, needs: [bad] }
`)
    const { record } = await run(p)
    assert.equal(record.status, 'failed')
    assert.equal(record.error?.code, 'PLANNED_FAILURE')
    assert.equal(record.nodes.bad!.status, 'failed')
    assert.equal(record.nodes.slow!.status, 'cancelled')
    assert.equal(record.nodes.after_slow!.status, 'skipped')
    assert.equal(record.nodes.after_bad!.status, 'skipped')
  })

  it('continue_on_error lets independent branches finish', async () => {
    const p = await pipeline(`
pipeline: tolerant
plugins: [$WORK]
nodes:
  bad: { type: work, ms: 5, fail_until: 1, continue_on_error: true }
  after_bad: { type: work, needs: [bad] }
  cleanup: { type: work, needs: [bad], trigger: all_done }
  other: { type: work, ms: 30 }
  after_other: { type: work, needs: [other] }
`)
    const { record } = await run(p)
    assert.equal(record.status, 'completed')
    assert.deepEqual(Object.fromEntries(Object.values(record.nodes).map((n) => [n.id, n.status])), {
      bad: 'failed',
      after_bad: 'skipped',
      cleanup: 'succeeded',
      other: 'succeeded',
      after_other: 'succeeded',
    })
    assert.equal(record.nodes.bad!.error?.code, 'PLANNED_FAILURE')
  })

  it('retries with exponential backoff on an injected clock', async () => {
    const clock = virtualClock()
    const p = await pipeline(`
pipeline: retry
plugins: [$WORK]
nodes:
  flaky: { type: work, fail_until: 3, retry: { attempts: 4, backoff: 1s, factor: 3, max_backoff: 5s, jitter: false } }
`)
    const { record, events } = await run(p, { clock })
    assert.equal(record.status, 'completed')
    assert.equal(record.nodes.flaky!.attempts, 4)
    assert.equal((record.nodes.flaky!.output as WorkOut).attempt, 4)
    const delays = events.filter((e) => e.type === 'node.retrying').map((e) => e.payload.delay_ms)
    assert.deepEqual(delays, [1000, 3000, 5000])
    // virtual time moved by exactly the waits
    assert.equal(Date.parse(record.finished_at!) - Date.parse(record.started_at!), 9000)
  })

  it('jitter spreads the delay within [50%, 100%]', async () => {
    const clock = virtualClock()
    clock.random = () => 0
    const p = await pipeline(`
pipeline: jitter
plugins: [$WORK]
nodes:
  flaky: { type: work, fail_until: 1, retry: { attempts: 2, backoff: 800ms } }
`)
    const { events } = await run(p, { clock })
    assert.deepEqual(
      events.filter((e) => e.type === 'node.retrying').map((e) => e.payload.delay_ms),
      [400],
    )
  })

  it('does not retry a non-retryable error', async () => {
    const p = await pipeline(`
pipeline: noretry
plugins: [$WORK]
nodes:
  bad: { type: work, fail_until: 5, retryable: false, retry: { attempts: 5, backoff: 1ms } }
`)
    const { record } = await run(p, { clock: virtualClock() })
    assert.equal(record.status, 'failed')
    assert.equal(record.nodes.bad!.attempts, 1)
  })

  it('cancellation aborts running nodes through their signal and records the run as cancelled', async () => {
    const p = await pipeline(`
pipeline: cancel
plugins: [$WORK]
nodes:
  waiting: { type: patient }
  later: { type: work, needs: [waiting] }
`)
    const ac = new AbortController()
    const pending = run(p, {
      signal: ac.signal,
      events: {
        emit: (e) => {
          if (e.type === 'node.started') ac.abort()
        },
      },
    })
    const { record } = await pending
    assert.equal(record.status, 'cancelled')
    assert.equal(record.nodes.waiting!.status, 'cancelled')
    assert.equal(record.nodes.later!.status, 'skipped')
  })
})

describe('runPipeline: stopping under load and at limits', () => {
  it('fail-fast with thousands of nodes queued behind a cap ends promptly (no deep recursion)', async () => {
    const nodes = Array.from({ length: 3000 }, (_, i) => `  w${i}: { type: work }`).join('\n')
    const p = await pipeline(`pipeline: big\nconcurrency: 2\nplugins: [$WORK]\nnodes:\n  bad: { type: work, fail_until: 1 }\n${nodes}`)
    const { record } = await run(p)
    assert.equal(record.status, 'failed')
    const statuses = Object.values(record.nodes).map((n) => n.status)
    assert.equal(statuses.filter((s) => s === 'pending' || s === 'running').length, 0)
    assert.ok(statuses.filter((s) => s === 'skipped').length > 2900)
  })

  it('a node that ignores its signal and finishes after its timeout still fails with NODE_TIMEOUT', async () => {
    const p = await pipeline('pipeline: late\nplugins: [$WORK]\nnodes:\n  slow: { type: stubborn, ms: 150, timeout: 30ms }\n')
    const { record } = await run(p)
    assert.equal(record.nodes.slow!.status, 'failed')
    assert.equal(record.nodes.slow!.error!.code, 'NODE_TIMEOUT')
    assert.equal((record.nodes.slow!.error!.details as { finished_late: boolean }).finished_late, true)
  })

  it("a fan-out's timeout stops its children without retries or backoff", async () => {
    const p = await pipeline(`
pipeline: fan-timeout
concurrency: 1
plugins: [$WORK]
nodes:
  other: { type: work, ms: 400 }
  fan:
    type: fan_out
    timeout: 100ms
    items: \${{ [1, 2, 3] }}
    node: { type: work, ms: 5000, retry: { attempts: 3, backoff: 2s } }
`)
    const t0 = Date.now()
    const { record } = await run(p)
    assert.equal(record.nodes.fan!.status, 'failed')
    assert.equal(record.nodes.fan!.error!.code, 'NODE_TIMEOUT')
    assert.ok(Date.now() - t0 < 1500, `took ${Date.now() - t0} ms`)
  })

  it('a node cancelled while waiting to retry is recorded as cancelled', async () => {
    const p = await pipeline('pipeline: backoff\nplugins: [$WORK]\nnodes:\n  flaky: { type: work, fail_until: 5, retry: { attempts: 5, backoff: 10s } }\n')
    const ac = new AbortController()
    const { record } = await run(p, {
      signal: ac.signal,
      events: {
        emit: (e) => {
          if (e.type === 'node.retrying') setTimeout(() => ac.abort(), 20)
        },
      },
    })
    assert.equal(record.status, 'cancelled')
    assert.equal(record.nodes.flaky!.status, 'cancelled')
    assert.equal((record.nodes.flaky!.error!.details as { node_error: { code: string } }).node_error.code, 'PLANNED_FAILURE')
  })

  it('a retry waiting out its backoff gives its slot to other work', async () => {
    const p = await pipeline(
      'pipeline: slot\nconcurrency: 1\nplugins: [$WORK]\nnodes:\n  flaky: { type: work, fail_until: 1, retry: { attempts: 2, backoff: 300ms, jitter: false } }\n  other: { type: work, ms: 50 }\n',
    )
    const { record } = await run(p)
    const other = record.nodes.other!.output as WorkOut
    const flaky = record.nodes.flaky!.output as WorkOut
    assert.ok(other.finished <= flaky.started, 'other ran during the backoff')
  })
})

describe('runPipeline: resume', () => {
  it('continues a failed run: succeeded nodes are kept and not executed again', async () => {
    const dir = mkdtempSync(path.join(tmpdir(), 'weft-resume-'))
    const log = path.join(dir, 'executions.log')
    const marker = path.join(dir, 'ready')
    const p = await pipeline(`
pipeline: resume
plugins: [$WORK]
nodes:
  a: { type: counted, log: '${log}', value: 1 }
  skipped: { type: counted, log: '${log}', when: false }
  b: { type: counted, log: '${log}', needs_file: '${marker}', value: '\${{ nodes.a.output.value + 1 }}' }
  c: { type: counted, log: '${log}', value: '\${{ nodes.b.output.value + 1 }}' }
`)
    const first = await run(p)
    assert.equal(first.record.status, 'failed')
    assert.deepEqual(
      Object.values(first.record.nodes).map((n) => n.status),
      ['succeeded', 'skipped', 'failed', 'skipped'],
    )
    writeFileSync(marker, '')
    const stored = (await first.store.getRun(first.record.id))!
    const lastSeq = (await first.store.listEvents(first.record.id)).at(-1)!.seq
    const events: RunEvent[] = []
    const second = await runPipeline({
      pipeline: p,
      inputs: {},
      config: {},
      executor: new InlineExecutor(),
      store: first.store,
      resume: { record: stored, lastSeq },
      events: { emit: (e) => events.push(e) },
    })
    assert.equal(second.id, first.record.id)
    assert.equal(second.status, 'completed')
    assert.deepEqual(second.nodes.c!.output, { id: 'c', value: 3 })
    assert.deepEqual(readFileSync(log, 'utf8').trim().split('\n'), ['a', 'b', 'b', 'c'])
    assert.equal(second.nodes.a!.started_at, first.record.nodes.a!.started_at)
    assert.equal(events[0]!.type, 'run.resumed')
    assert.equal(events[0]!.seq, lastSeq + 1)
    assert.deepEqual(events[0]!.payload.kept, ['a', 'skipped'])
    const all = await first.store.listEvents(first.record.id)
    assert.deepEqual(
      all.map((e) => e.seq),
      all.map((_, i) => i + 1),
    )
    assert.equal((await first.store.getRun(first.record.id))!.status, 'completed')
  })
})

describe('runPipeline: resume under a lease', () => {
  it('keeps what the store holds once the lease is taken, not the older record it was handed', async () => {
    const dir = mkdtempSync(path.join(tmpdir(), 'weft-resume-lease-'))
    const log = path.join(dir, 'executions.log')
    const marker = path.join(dir, 'ready')
    const p = await pipeline(`
pipeline: resume
plugins: [$WORK]
nodes:
  a: { type: counted, log: '${log}', value: 1 }
  b: { type: counted, log: '${log}', needs_file: '${marker}', value: '\${{ nodes.a.output.value + 1 }}' }
`)
    const first = await run(p)
    assert.deepEqual(
      Object.values(first.record.nodes).map((n) => n.status),
      ['succeeded', 'failed'],
    )
    writeFileSync(marker, '')
    // read before another process went on with the run: a not yet done, one event stored
    const stored = (await first.store.getRun(first.record.id))!
    const stale = { ...stored, nodes: { ...stored.nodes, a: { ...stored.nodes.a!, status: 'running' as const, output: null } } }
    const second = await runPipeline({ pipeline: p, inputs: {}, config: {}, executor: new InlineExecutor(), store: first.store, lease: { owner: 'p2' }, resume: { record: stale, lastSeq: 1 } })
    assert.equal(second.status, 'completed')
    assert.deepEqual(readFileSync(log, 'utf8').trim().split('\n'), ['a', 'b', 'b'], 'a ran once')
    const all = await first.store.listEvents(first.record.id)
    assert.deepEqual(
      all.map((e) => e.seq),
      all.map((_, i) => i + 1),
    )
    assert.equal(await first.store.leaseHolder(first.record.id), undefined, 'released at the end')
  })
})

describe('runPipeline: leases', () => {
  it('a second process cannot drive a run whose lease is held; the holder releases it at the end', async () => {
    const p = await pipeline('pipeline: lease\nplugins: [$WORK]\nnodes:\n  a: { type: work, ms: 150 }\n')
    const store = new MemoryRunStore()
    let id = ''
    const first = runPipeline({ pipeline: p, inputs: {}, config: {}, executor: new InlineExecutor(), store, lease: { owner: 'p1', ttlMs: 60_000 }, onStart: (runId) => (id = runId) })
    while (!id) await new Promise((r) => setTimeout(r, 5))
    const record = (await store.getRun(id))!
    await assert.rejects(runPipeline({ pipeline: p, inputs: {}, config: {}, executor: new InlineExecutor(), store, lease: { owner: 'p2' }, resume: { record, lastSeq: 99 } }), { code: 'RUN_LEASED' })
    assert.equal((await first).status, 'completed')
    assert.equal(await store.claimRun(id, 'p2', 1000), true, 'released at the end')
  })
})

describe('runPipeline: records and events', () => {
  it('records timestamps, attempts, outputs and a gapless event log', async () => {
    const { record, events, store } = await run(await pipeline(diamond))
    const a = record.nodes.a!
    assert.match(a.started_at!, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/)
    assert.equal(a.attempts, 1)
    assert.equal(typeof a.duration_ms, 'number')
    assert.deepEqual(
      events.map((e) => e.seq),
      events.map((_, i) => i + 1),
    )
    assert.equal(events[0]!.type, 'run.started')
    assert.equal(events.at(-1)!.type, 'run.completed')
    assert.deepEqual(
      (await store.listEvents(record.id)).map((e) => e.seq),
      events.map((e) => e.seq),
    )
    assert.equal((await store.getRun(record.id))!.status, 'completed')
  })

  it('renders outputs, with null for a stage that was skipped', async () => {
    const p = await pipeline(`
pipeline: outs
plugins: [$WORK]
nodes:
  a: { type: work, value: 7 }
  b: { type: work, when: false }
outputs:
  seven: \${{ nodes.a.output.value }}
  text: value is \${{ nodes.a.output.value }}
  gone: \${{ nodes.b.output.value }}
`)
    const { record } = await run(p)
    assert.deepEqual(record.outputs, { seven: 7, text: 'value is 7', gone: null })
  })
})
