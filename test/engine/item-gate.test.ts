// Approval gates inside a fan-out's steps: one gate per item, addressed `<fan_out>[<index>].<step>`, each decided on its own.
import { describe, it } from 'node:test'
import assert from 'node:assert/strict'
import type { ApprovalRequest, Decision, DecisionSource } from '../../engine/ports.ts'
import { load, pipeline, run } from '../helpers.ts'

const yaml = (policy = 'collect') => `
pipeline: per_item
plugins: [$FIXTURES/plugins/drafts.mjs]
nodes:
  clips:
    type: fan_out
    items: [0, 1, 2, 3, 4]
    on_item_error: ${policy}
    steps:
      draft: { type: drafter, text: "\${{ 'scene ' + string(item) }}" }
      review: { type: approval, gate: draft, path: draft, max_revisions: 2, message: "\${{ 'Clip ' + string(index + 1) }}" }
      caption: { type: drafter, text: "\${{ steps.review.output.value + ' (captioned)' }}" }
    result: \${{ steps.caption.output.draft }}
`

/** Answers gates in the order the test says, once each of them is waiting. */
class ScriptedGates implements DecisionSource {
  readonly asked: ApprovalRequest[] = []
  readonly #waiting = new Map<string, (d: Decision) => void>()
  readonly #arrived: Array<() => void> = []
  decide(request: ApprovalRequest, signal: AbortSignal): Promise<Decision> {
    this.asked.push(request)
    for (const f of this.#arrived.splice(0)) f()
    return new Promise((resolve, reject) => {
      this.#waiting.set(`${request.gate}#${request.revision}`, resolve)
      signal.addEventListener('abort', () => reject(signal.reason), { once: true })
    })
  }
  /** Waits until `gate` at `revision` is waiting, then decides it. */
  async answer(gate: string, revision: number, decision: Decision): Promise<void> {
    const k = `${gate}#${revision}`
    while (!this.#waiting.has(k)) await new Promise<void>((r) => this.#arrived.push(r))
    const resolve = this.#waiting.get(k)!
    this.#waiting.delete(k)
    resolve({ by: 'ada', ...decision })
  }
}

describe('approval gates inside fan-out steps', () => {
  it('asks once per item at `clips[i].review`; approve, revise and reject are decided per item in any order', async () => {
    const p = await pipeline(yaml())
    const gates = new ScriptedGates()
    const running = run(p, { decisions: gates, interactive: true })
    await gates.answer('clips[3].review', 0, { decision: 'approve', edits: 'scene three, edited' })
    await gates.answer('clips[1].review', 0, { decision: 'revise', feedback: 'brighter' })
    await gates.answer('clips[4].review', 0, { decision: 'approve' })
    await gates.answer('clips[2].review', 0, { decision: 'reject', feedback: 'off brief' })
    await gates.answer('clips[1].review', 1, { decision: 'approve' })
    await gates.answer('clips[0].review', 0, { decision: 'approve' })
    const { record, events } = await running
    assert.equal(record.status, 'completed', JSON.stringify(record.error))
    const out = record.nodes.clips!.output as { results: unknown[]; failed: Array<{ index: number; error: { code: string } }> }
    assert.deepEqual(out.results, ['scene 0 (captioned)', 'scene 1 + brighter (captioned)', null, 'scene three, edited (captioned)', 'scene 4 (captioned)'])
    assert.deepEqual(
      out.failed.map((f) => [f.index, f.error.code]),
      [[2, 'APPROVAL_REJECTED']],
    )
    assert.deepEqual(gates.asked.map((a) => `${a.gate}#${a.revision}`).sort(), [
      'clips[0].review#0',
      'clips[1].review#0',
      'clips[1].review#1',
      'clips[2].review#0',
      'clips[3].review#0',
      'clips[4].review#0',
    ])
    assert.equal(gates.asked.find((a) => a.gate === 'clips[1].review' && a.revision === 1)!.value, 'scene 1 + brighter')
    assert.equal(gates.asked.find((a) => a.gate === 'clips[2].review')!.message, 'Clip 3')
    const requested = events.filter((e) => e.type === 'approval.requested').map((e) => e.payload.gate)
    assert.equal(requested.length, 6)
    assert.ok(requested.every((g) => typeof g === 'string' && /^clips\[\d\]\.review$/.test(g)))
    // the run waited at its gates, and went on once none waited
    const statuses = events.filter((e) => e.type === 'approval.resolved').map((e) => e.payload.decision)
    assert.deepEqual(statuses, ['approve', 'revise', 'approve', 'reject', 'approve', 'approve'])
  })

  it('a rejected item fails the fan-out under on_item_error: fail', async () => {
    const p = await pipeline(yaml('fail'))
    const gates = new ScriptedGates()
    const running = run(p, { decisions: gates, interactive: true })
    await gates.answer('clips[0].review', 0, { decision: 'reject', feedback: 'no' })
    const { record } = await running
    assert.equal(record.status, 'failed')
    assert.equal(record.nodes.clips!.error?.code, 'FAN_OUT_ITEM_FAILED')
    assert.match(record.nodes.clips!.error!.message, /item 0 failed: APPROVAL_REJECTED/)
  })

  it("an automated run decides each item's gate by its `auto` policy", async () => {
    const p = await pipeline(yaml().replace('max_revisions: 2,', 'max_revisions: 2, auto: { approve_if: "${{ index != 1 }}", otherwise: reject },'))
    const { record, events } = await run(p)
    const out = record.nodes.clips!.output as { results: unknown[] }
    assert.deepEqual(out.results, ['scene 0 (captioned)', null, 'scene 2 (captioned)', 'scene 3 (captioned)', 'scene 4 (captioned)'])
    assert.ok(events.filter((e) => e.type === 'approval.requested').every((e) => e.payload.automated === true))
  })

  it('checks a gate step before running: it must review a worker step of its graph', async () => {
    const bad = await load(yaml().replace('gate: draft,', 'gate: draf,'))
    assert.deepEqual(
      bad.diagnostics.map((d) => [d.code, d.path]),
      [['UNKNOWN_STEP', 'nodes.clips.steps.review.gate']],
    )
    assert.match(bad.diagnostics[0]!.message, /did you mean "draft"/)
    const selfie = await load(yaml().replace('gate: draft,', 'gate: review,'))
    assert.deepEqual(
      selfie.diagnostics.map((d) => d.code),
      ['CYCLE'],
    )
    const nested = await load(yaml().replace('      draft: { type: drafter', '      draft: { type: fan_out, items: [1], node: { type: drafter } }\n      x: { type: drafter'))
    assert.ok(nested.diagnostics.some((d) => d.code === 'SCHEMA_INVALID' && /cannot be a step/.test(d.message)))
    const retried = await load(yaml().replace('max_revisions: 2,', 'max_revisions: 2, retry: { attempts: 2 },'))
    assert.ok(retried.diagnostics.some((d) => d.path === 'nodes.clips.steps.review.retry'))
  })
})
