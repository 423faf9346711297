import { describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { existsSync, mkdtempSync } from 'node:fs'
import { tmpdir } from 'node:os'
import path from 'node:path'
import { pipeline, run } from '../helpers.ts'

describe('fan_out node', () => {
  it('refuses a list longer than max_items before any child runs', async () => {
    const log = path.join(mkdtempSync(path.join(tmpdir(), 'weft-fanout-')), 'children.log')
    const p = await pipeline(`pipeline: f
plugins: [$WORK]
inputs: { items: { type: list, default: [1, 2, 3] } }
nodes:
  each:
    type: fan_out
    items: \${{ inputs.items }}
    max_items: 2
    node: { type: counted, log: ${JSON.stringify(log)} }
`)
    const { record, events } = await run(p)
    assert.equal(record.status, 'failed')
    assert.equal(record.nodes.each!.error?.code, 'FAN_OUT_TOO_MANY_ITEMS')
    assert.deepEqual(record.nodes.each!.error?.details, { items: 3, max_items: 2 })
    // no child ran: none of them wrote its line
    assert.equal(existsSync(log), false)
    assert.ok(events.some((e) => e.type === 'run.failed'))
  })
})

describe('fan_out: many items at once', () => {
  it('24 items that each listen for an abort raise no MaxListenersExceededWarning', async () => {
    const warnings: string[] = []
    const onWarning = (w: Error) => warnings.push(`${w.name}: ${w.message}`)
    process.on('warning', onWarning)
    try {
      // the work node waits with an abortable timer: one abort listener per running item
      const items = Array.from({ length: 24 }, (_, i) => i).join(', ')
      const p = await pipeline(`pipeline: many\nplugins: [$WORK]\nnodes:\n  each:\n    type: fan_out\n    items: \${{ [${items}] }}\n    node: { type: work, ms: 30 }\n`)
      const r = await run(p)
      assert.equal(r.record.status, 'completed')
      // warnings are emitted on the next tick
      await new Promise((resolve) => setImmediate(resolve))
      assert.deepEqual(
        warnings.filter((w) => w.startsWith('MaxListenersExceededWarning')),
        [],
      )
    } finally {
      process.off('warning', onWarning)
    }
  })
})

describe('fan_out with steps (a small graph per item)', () => {
  it('runs the steps of each item in dependency order, with earlier steps in scope, results in input order', async () => {
    const p = await pipeline(`pipeline: g
plugins: [$WORK]
nodes:
  each:
    type: fan_out
    items: \${{ [1, 2, 3] }}
    concurrency: 2
    steps:
      draft: { type: work, ms: 5, value: '\${{ item * 10 }}' }
      check: { type: work, value: '\${{ steps.draft.output.value + 1 }}' }
      side: { type: work, ms: 1, value: '\${{ index }}' }
    result: '\${{ { "draft": steps.draft.output.value, "check": steps.check.output.value, "side": steps.side.output.value, "order_ok": steps.draft.output.finished <= steps.check.output.started } }}'
`)
    const { record } = await run(p)
    assert.equal(record.status, 'completed')
    const out = record.nodes.each!.output as { results: unknown[]; failed: unknown[] }
    assert.deepEqual(out.results, [
      { draft: 10, check: 11, side: 0, order_ok: true },
      { draft: 20, check: 21, side: 1, order_ok: true },
      { draft: 30, check: 31, side: 2, order_ok: true },
    ])
    assert.deepEqual(out.failed, [])
  })

  it('without `result`, an item gives each step id with its output; a step skipped by `when` gives null and skips what needs it', async () => {
    const p = await pipeline(`pipeline: g
plugins: [$WORK]
nodes:
  each:
    type: fan_out
    items: \${{ [1, 2] }}
    steps:
      a: { type: work, value: '\${{ item }}' }
      b: { type: work, needs: a, when: '\${{ item == 2 }}', value: b }
      c: { type: work, needs: [b], value: c }
`)
    const { record } = await run(p)
    assert.equal(record.status, 'completed')
    const out = record.nodes.each!.output as { results: Array<Record<string, { value: unknown } | null>> }
    assert.equal(out.results[0]!.a!.value, 1)
    assert.equal(out.results[0]!.b, null)
    assert.equal(out.results[0]!.c, null)
    assert.equal(out.results[1]!.b!.value, 'b')
    assert.equal(out.results[1]!.c!.value, 'c')
  })

  it('a failing step fails its item (named in the error); `collect` keeps the other items and never runs what needed it', async () => {
    const log = path.join(mkdtempSync(path.join(tmpdir(), 'weft-fanout-')), 'children.log')
    const p = await pipeline(`pipeline: g
plugins: [$WORK]
nodes:
  each:
    type: fan_out
    items: \${{ [1, 2, 3] }}
    on_item_error: collect
    steps:
      render: { type: work, fail_until: '\${{ item == 2 ? 1 : 0 }}', retryable: false, code: RENDER_FAILED }
      score: { type: counted, needs: render, log: ${JSON.stringify(log)}, value: '\${{ item }}' }
    result: \${{ steps.score.output.value }}
`)
    const { record } = await run(p)
    assert.equal(record.status, 'completed')
    const out = record.nodes.each!.output as { results: unknown[]; failed: Array<{ index: number; error: { code: string; message: string } }> }
    assert.deepEqual(out.results, [1, null, 3])
    assert.equal(out.failed.length, 1)
    assert.equal(out.failed[0]!.index, 1)
    assert.equal(out.failed[0]!.error.code, 'RENDER_FAILED')
    assert.match(out.failed[0]!.error.message, /^step "render": planned failure/)
    // `score` ran for items 1 and 3 only
    const { readFileSync } = await import('node:fs')
    assert.deepEqual(readFileSync(log, 'utf8').trim().split('\n'), ['each[0].score', 'each[2].score'])
  })

  it('retries a step by its own `retry`', async () => {
    const p = await pipeline(`pipeline: g
plugins: [$WORK]
nodes:
  each:
    type: fan_out
    items: \${{ ['x'] }}
    steps:
      flaky: { type: work, fail_until: 1, retry: { attempts: 2, backoff: 0 } }
    result: \${{ steps.flaky.output.attempt }}
`)
    const { record } = await run(p)
    assert.equal(record.status, 'completed')
    assert.deepEqual((record.nodes.each!.output as { results: unknown[] }).results, [2])
  })
})
