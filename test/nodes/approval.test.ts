import { describe, it } from 'node:test'
import assert from 'node:assert/strict'
import path from 'node:path'
import type { ApprovalRequest, Decision, DecisionSource } from '../../engine/ports.ts'
import { fixtures, load, pipeline, run } from '../helpers.ts'

const drafts = path.join(fixtures, 'plugins', 'drafts.mjs')

/** Answers gates from a script and keeps what it was asked. */
class Scripted implements DecisionSource {
  readonly asked: ApprovalRequest[] = []
  constructor(private readonly script: Decision[]) {}
  async decide(req: ApprovalRequest): Promise<Decision> {
    this.asked.push(structuredClone(req))
    const next = this.script.shift()
    if (!next) throw new Error('no decision left')
    return next
  }
}

const gated = (gate: string) => `pipeline: gated
plugins: [${drafts}]
nodes:
  story:
    type: drafter
    text: first
    score: 70
  review:
    type: approval
${gate}
  after:
    type: drafter
    text: \${{ nodes.review.output.value }}
outputs:
  approved: \${{ nodes.review.output.value }}
  revisions: \${{ nodes.review.output.revisions }}
`

describe('approval node', () => {
  it('revise re-runs the gated node with the feedback, then asks again; edits replace the value downstream', async () => {
    const p = await pipeline(gated('    gate: story\n    path: draft\n    message: check it'))
    const decisions = new Scripted([
      { decision: 'revise', feedback: 'add fizz', by: 'ada' },
      { decision: 'approve', edits: 'edited text', by: 'ada' },
    ])
    const { record, events } = await run(p, { interactive: true, decisions })
    assert.equal(record.status, 'completed')
    assert.deepEqual(
      decisions.asked.map((a) => [a.value, a.revision, a.allowed]),
      [
        ['first', 0, ['approve', 'reject', 'revise']],
        ['first + add fizz', 1, ['approve', 'reject', 'revise']],
      ],
    )
    assert.equal(decisions.asked[0]!.message, 'check it')
    assert.deepEqual(record.outputs, { approved: 'edited text', revisions: 1 })
    const after = record.nodes.after!
    assert.equal((after.output as { draft: string }).draft, 'edited text')
    assert.deepEqual(
      events.filter((e) => e.type.startsWith('approval.')).map((e) => [e.type, e.payload.decision ?? null]),
      [
        ['approval.requested', null],
        ['approval.resolved', 'revise'],
        ['approval.requested', null],
        ['approval.resolved', 'approve'],
      ],
    )
    // waiting at a gate is a state of the run, recorded as such
    assert.ok(events.some((e) => e.type === 'approval.requested'))
  })

  it('a revised node keeps its revised output: in its record, in the store, and for nodes that read it after the gate', async () => {
    const p = await pipeline(
      gated('    gate: story\n    path: draft').replace(
        'outputs:',
        `  direct:
    type: drafter
    needs: [review]
    text: \${{ nodes.story.output.draft }}
outputs:`,
      ),
    )
    const decisions = new Scripted([
      { decision: 'revise', feedback: 'add fizz', by: 'ada' },
      { decision: 'approve', by: 'ada' },
    ])
    const { record, events, store } = await run(p, { interactive: true, decisions })
    assert.equal(record.status, 'completed')
    assert.equal((record.nodes.story!.output as { draft: string }).draft, 'first + add fizz')
    assert.equal((record.nodes.direct!.output as { draft: string }).draft, 'first + add fizz')
    const stored = await store.getRun(record.id)
    assert.equal((stored!.nodes.story!.output as { draft: string }).draft, 'first + add fizz')
    const completions = events.filter((e) => e.type === 'node.completed' && e.node === 'story')
    assert.deepEqual(
      completions.map((e) => e.payload.revision ?? null),
      [null, 1],
    )
    assert.equal(completions[1]!.payload.revised_by, 'review')
  })

  it('reject ends the run with the reason kept', async () => {
    const p = await pipeline(gated('    gate: story'))
    const { record } = await run(p, { interactive: true, decisions: new Scripted([{ decision: 'reject', feedback: 'off brand', by: 'ada' }]) })
    assert.equal(record.status, 'failed')
    const review = record.nodes.review!
    assert.equal(review.error?.code, 'APPROVAL_REJECTED')
    assert.deepEqual(review.error?.details, { gate: 'review', by: 'ada', feedback: 'off brand' })
    assert.equal(record.nodes.after!.status, 'skipped')
  })

  it('stops offering revise after max_revisions, and refuses a revise then', async () => {
    const p = await pipeline(gated('    gate: story\n    max_revisions: 1'))
    const decisions = new Scripted([
      { decision: 'revise', feedback: 'again', by: 'h' },
      { decision: 'revise', feedback: 'more', by: 'h' },
    ])
    const { record } = await run(p, { interactive: true, decisions })
    assert.deepEqual(
      decisions.asked.map((a) => a.allowed),
      [
        ['approve', 'reject', 'revise'],
        ['approve', 'reject'],
      ],
    )
    assert.equal(record.nodes.review!.error?.code, 'DECISION_NOT_ALLOWED')
  })

  it('a revise without feedback is refused', async () => {
    const p = await pipeline(gated('    gate: story'))
    const { record } = await run(p, { interactive: true, decisions: new Scripted([{ decision: 'revise', feedback: '  ', by: 'h' }]) })
    assert.equal(record.nodes.review!.error?.code, 'DECISION_INVALID')
  })

  it('in an automated run the auto policy decides, without asking, and the events say so', async () => {
    const p = await pipeline(gated('    gate: story\n    path: draft\n    auto: { approve_if: "${{ nodes.story.output.score >= 60 }}" }'))
    const never = new Scripted([])
    const { record, events } = await run(p, { decisions: never })
    assert.equal(record.status, 'completed')
    assert.equal(never.asked.length, 0)
    const resolved = events.find((e) => e.type === 'approval.resolved')!
    assert.equal(resolved.payload.by, 'auto')
    assert.equal(events.find((e) => e.type === 'approval.requested')!.payload.automated, true)
    assert.equal((record.nodes.review!.output as { by: string }).by, 'auto')
  })

  it('an automated run fails at the gate when approve_if is false', async () => {
    const p = await pipeline(gated('    gate: story\n    auto: { approve_if: "${{ nodes.story.output.score >= 80 }}" }'))
    const { record } = await run(p, { decisions: new Scripted([]) })
    assert.equal(record.status, 'failed')
    assert.equal(record.nodes.review!.error?.code, 'AUTO_APPROVAL_FAILED')
  })

  it('the gate is a dependency, and must name a node', async () => {
    const p = await pipeline(gated('    gate: story'))
    assert.deepEqual(p.nodes.get('review')!.deps, ['story'])
    const bad = await load(gated('    gate: stroy'))
    assert.deepEqual(
      bad.diagnostics.map((d) => [d.code, d.path]),
      [['UNKNOWN_NODE', 'nodes.review.gate']],
    )
  })
})

describe('approval node: durable decisions', () => {
  it('records the request before asking; a decision recorded while no process drove the run is used on resume, not asked again', async () => {
    const p = await pipeline(gated('    gate: story\n    path: draft'))
    // first process: the gate is asked, and the process stops before anyone answers
    const stop = new AbortController()
    const hanging: DecisionSource = {
      decide: (_req, signal) =>
        new Promise((_, reject) => {
          signal.addEventListener('abort', () => reject(signal.reason), { once: true })
          setTimeout(() => stop.abort(), 10)
        }),
    }
    const first = await run(p, { interactive: true, decisions: hanging, signal: stop.signal })
    assert.equal(first.record.status, 'cancelled')
    const pending = await first.store.pendingApprovals(first.record.id)
    assert.deepEqual(
      pending.map((a) => [a.request.gate, a.request.revision, a.request.value]),
      [['review', 0, 'first']],
    )
    // a client decides through the store (as the server does), then a second process resumes the run
    assert.deepEqual(await first.store.decideApproval(first.record.id, 'review', 0, { decision: 'approve', edits: 'from the client', by: 'ada' }), {
      applied: true,
      decision: { decision: 'approve', edits: 'from the client', by: 'ada' },
    })
    const never = new Scripted([])
    const stored = (await first.store.getRun(first.record.id))!
    const lastSeq = (await first.store.listEvents(stored.id)).at(-1)!.seq
    const second = await run(p, { interactive: true, decisions: never, store: first.store, resume: { record: stored, lastSeq } })
    assert.equal(second.record.status, 'completed')
    assert.equal(never.asked.length, 0)
    assert.deepEqual(second.record.outputs, { approved: 'from the client', revisions: 0 })
    // the decision had no approval.resolved event (as after a kill between the two writes): the resume records it, once
    const resolved = (await first.store.listEvents(stored.id)).filter((e) => e.type === 'approval.resolved')
    assert.deepEqual(
      resolved.map((e) => [e.payload.gate, e.payload.revision, e.payload.decision, e.payload.by]),
      [['review', 0, 'approve', 'ada']],
    )
  })

  it('when two deciders answer, the decision recorded first stands', async () => {
    const p = await pipeline(gated('    gate: story\n    path: draft'))
    let storeRef: import('../../engine/ports.ts').RunStore | undefined
    const racing: DecisionSource = {
      async decide(req) {
        // another client gets its decision recorded while this one is still answering
        await storeRef!.decideApproval(req.runId, req.gate, req.revision, { decision: 'approve', edits: 'the other client', by: 'bob' })
        return { decision: 'reject', feedback: 'too late', by: 'ada' }
      },
    }
    const { MemoryRunStore } = await import('../../engine/adapters/memory-store.ts')
    const store = new MemoryRunStore()
    storeRef = store
    const { record } = await run(p, { interactive: true, decisions: racing, store })
    assert.equal(record.status, 'completed')
    assert.deepEqual(record.outputs, { approved: 'the other client', revisions: 0 })
  })
})
