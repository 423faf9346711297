import { describe, it } from 'node:test'
import assert from 'node:assert/strict'
import path from 'node:path'
import { tmpdir } from 'node:os'
import { InlineExecutor } from '../../../engine/adapters/inline-executor.ts'
import { MemoryRunStore } from '../../../engine/adapters/memory-store.ts'
import { resolveConfig, resolveRunInputs } from '../../../engine/inputs.ts'
import { driveSteps } from '../../../engine/fleet/local-driver.ts'
import type { ApprovalRequest, Decision, DecisionSource, RunEvent, RunRecord } from '../../../engine/ports.ts'
import type { Pipeline } from '../../../engine/dsl/pipeline.ts'
import { fixtures, pipeline, run, virtualClock } from '../../helpers.ts'

const drafts = path.join(fixtures, 'plugins', 'drafts.mjs')

class Scripted implements DecisionSource {
  readonly asked: Array<[gate: string, revision: number]> = []
  constructor(private readonly script: Decision[]) {}
  async decide(req: ApprovalRequest): Promise<Decision> {
    this.asked.push([req.gate, req.revision])
    const next = this.script.shift()
    if (!next) throw new Error('no decision left')
    return next
  }
}

/** What a test node reports of its process rather than of its run: clock readings, and how often a module ran in this process. */
const PROCESS_READINGS = new Set(['started', 'finished', 'runs'])

/** What both drivers must agree on: statuses, attempts, error codes and outputs (without a node's process readings). */
function essence(r: RunRecord) {
  const clean = (v: unknown): unknown =>
    Array.isArray(v)
      ? v.map(clean)
      : v && typeof v === 'object'
        ? Object.fromEntries(
            Object.entries(v)
              .filter(([k]) => !PROCESS_READINGS.has(k))
              .map(([k, x]) => [k, clean(x)]),
          )
        : v
  return {
    status: r.status,
    error: r.error?.code ?? null,
    outputs: clean(r.outputs),
    nodes: Object.fromEntries(Object.values(r.nodes).map((n) => [n.id, { status: n.status, attempts: n.attempts, error: n.error?.code ?? null, output: clean(n.output) }])),
  }
}

async function byStepDriver(p: Pipeline, opts: { interactive?: boolean; decisions?: DecisionSource } = {}): Promise<{ record: RunRecord; events: RunEvent[]; store: MemoryRunStore }> {
  const events: RunEvent[] = []
  const store = new MemoryRunStore()
  const record = await driveSteps({
    pipeline: p,
    inputs: resolveRunInputs(p, {}).inputs,
    config: resolveConfig(p, []).config,
    executor: new InlineExecutor(),
    store,
    events: { emit: (e) => events.push(e) },
    workDir: path.join(tmpdir(), 'weft-test-runs'),
    clock: virtualClock(),
    ...opts,
  })
  return { record, events, store }
}

const cases: Array<{ name: string; yaml: string; decisions?: () => Decision[]; interactive?: boolean }> = [
  {
    name: 'a chain and a fan-in, with expressions between them',
    yaml: `
nodes:
  a: { type: work, value: 1 }
  b: { type: work, value: '\${{ nodes.a.output.value + 1 }}' }
  c: { type: work, value: '\${{ nodes.a.output.value + 10 }}' }
  d: { type: work, needs: [b, c], value: '\${{ nodes.b.output.value + nodes.c.output.value }}' }
outputs:
  sum: \${{ nodes.d.output.value }}`,
  },
  {
    name: 'retries with backoff until an attempt succeeds',
    yaml: `
nodes:
  flaky: { type: work, fail_until: 2, value: ok, retry: { attempts: 3, backoff: 1s } }`,
  },
  {
    name: 'fail-fast: a failure cancels what runs beside it and skips what had not started',
    yaml: `
nodes:
  bad: { type: work, fail_until: 9, retryable: false }
  slow: { type: work, ms: 50 }
  later: { type: work, needs: [slow] }`,
  },
  {
    name: 'continue_on_error, a trigger all_done, and `when` false',
    yaml: `
nodes:
  bad: { type: work, fail_until: 9, retryable: false, continue_on_error: true }
  cleanup: { type: work, needs: [bad], trigger: all_done, value: done }
  never: { type: work, when: '\${{ false }}' }
  after_never: { type: work, needs: [never] }`,
  },
  {
    name: 'a fan-out of items and a fan-out of steps, results in input order',
    yaml: `
nodes:
  many: { type: fan_out, items: '\${{ [1, 2, 3, 4, 5] }}', concurrency: 2, node: { type: work, value: '\${{ item * 2 }}' } }
  stepped:
    type: fan_out
    items: '\${{ ["x", "y"] }}'
    steps:
      first: { type: work, value: '\${{ item }}' }
      second: { type: work, needs: [first], value: '\${{ steps.first.output.value + "!" }}' }
    result: '\${{ steps.second.output.value }}'
outputs:
  many: \${{ nodes.many.output }}
  stepped: \${{ nodes.stepped.output }}`,
  },
  {
    name: 'an automated run decides a gate by its policy',
    yaml: `
nodes:
  story: { type: drafter, text: first, score: 90 }
  review: { type: approval, gate: story, path: draft, auto: { approve_if: '\${{ nodes.story.output.score >= 80 }}' } }`,
  },
  {
    name: 'an interactive gate: revise re-runs the gated node with the feedback, then approve with edits',
    interactive: true,
    decisions: () => [
      { decision: 'revise', feedback: 'add fizz', by: 'ada' },
      { decision: 'approve', edits: 'edited', by: 'ada' },
    ],
    yaml: `
nodes:
  story: { type: drafter, text: first, score: 70 }
  review: { type: approval, gate: story, path: draft }
  after: { type: drafter, text: '\${{ nodes.review.output.value }}' }
outputs:
  approved: \${{ nodes.review.output.value }}`,
  },
]

describe('the step function driven in one process', () => {
  for (const c of cases) {
    it(`ends as the run loop does: ${c.name}`, async () => {
      const p = await pipeline(`pipeline: parity\nplugins: [$WORK, ${drafts}]${c.yaml}`)
      const opts = { ...(c.interactive ? { interactive: true } : {}) }
      const loopAsk = new Scripted(c.decisions?.() ?? [])
      const stepAsk = new Scripted(c.decisions?.() ?? [])
      const byLoop = await run(p, { ...opts, decisions: loopAsk, clock: virtualClock() })
      const bySteps = await byStepDriver(p, { ...opts, decisions: stepAsk })
      assert.deepEqual(essence(bySteps.record), essence(byLoop.record))
      assert.deepEqual(stepAsk.asked, loopAsk.asked, 'the same gates asked, in the same order')
      // what the store holds is what the driver returned, and its events are one gap-free sequence ending the run
      assert.deepEqual(essence((await bySteps.store.getRun(bySteps.record.id))!), essence(bySteps.record))
      const stored = await bySteps.store.listEvents(bySteps.record.id)
      assert.deepEqual(
        stored.map((e) => e.seq),
        stored.map((_, i) => i + 1),
      )
      assert.equal(stored.at(-1)!.type, `run.${bySteps.record.status}`)
      assert.deepEqual(bySteps.events, stored, 'the event sink saw what the store holds')
    })
  }

  it('a cancel ends the run cancelled, with running work stopped', async () => {
    const p = await pipeline('pipeline: cancel\nplugins: [$WORK]\nnodes:\n  long: { type: work, ms: 60000 }\n  after: { type: work, needs: [long] }\n')
    const ac = new AbortController()
    const events: RunEvent[] = []
    const store = new MemoryRunStore()
    const done = driveSteps({
      pipeline: p,
      inputs: {},
      config: resolveConfig(p, []).config,
      executor: new InlineExecutor(),
      store,
      events: { emit: (e) => (events.push(e), e.type === 'node.started' && ac.abort(new Error('stop'))) },
      workDir: path.join(tmpdir(), 'weft-test-runs'),
      signal: ac.signal,
    })
    const record = await done
    assert.equal(record.status, 'cancelled')
    assert.equal(record.nodes.long!.status, 'cancelled')
    assert.equal(record.nodes.after!.status, 'skipped')
  })

  it('a node cancelled while it waits out its backoff is recorded as the run loop records it', async () => {
    const p = await pipeline('pipeline: backoff\nplugins: [$WORK]\nnodes:\n  flaky: { type: work, fail_until: 5, retry: { attempts: 5, backoff: 10s } }\n')
    const cancelAtRetry = () => {
      const ac = new AbortController()
      return { signal: ac.signal, events: { emit: (e: RunEvent) => e.type === 'node.retrying' && queueMicrotask(() => ac.abort(new Error('stop'))) } }
    }
    const byLoop = await run(p, cancelAtRetry())
    const bySteps = await driveSteps({ pipeline: p, inputs: {}, config: resolveConfig(p, []).config, executor: new InlineExecutor(), store: new MemoryRunStore(), ...cancelAtRetry() })
    for (const r of [byLoop.record, bySteps]) {
      assert.equal(r.status, 'cancelled')
      assert.equal(r.nodes.flaky!.status, 'cancelled')
      assert.equal(r.nodes.flaky!.attempts, 1, 'one attempt made')
      assert.equal((r.nodes.flaky!.error!.details as { node_error: { code: string } }).node_error.code, 'PLANNED_FAILURE')
    }
  })

  it('refuses a resume: the step driver in one process starts new runs only', async () => {
    const p = await pipeline('pipeline: r\nplugins: [$WORK]\nnodes:\n  a: { type: work }\n')
    const { record } = await run(p)
    await assert.rejects(
      driveSteps({ pipeline: p, inputs: {}, config: {}, executor: new InlineExecutor(), store: new MemoryRunStore(), resume: { record, lastSeq: 0 } }),
      (err: { code?: string }) => err.code === 'DRIVER_UNSUPPORTED',
    )
  })
})
