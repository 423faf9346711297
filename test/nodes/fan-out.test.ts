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
