import { describe, it } from 'node:test'
import assert from 'node:assert/strict'
import path from 'node:path'
import { tmpdir } from 'node:os'
import { mkdtempSync, readFileSync } from 'node:fs'
import { InlineExecutor } from '../../../engine/adapters/inline-executor.ts'
import { MemoryRunStore } from '../../../engine/adapters/memory-store.ts'
import { resolveConfig, resolveRunInputs } from '../../../engine/inputs.ts'
import { WeftError } from '../../../engine/errors.ts'
import { driveSteps } from '../../../engine/fleet/local-driver.ts'
import type { ApprovalRequest, Decision, DecisionSource, NodeExecutor, RunEvent, RunRecord, StoreWrite } from '../../../engine/ports.ts'
import { noUsage } from '../../../engine/usage.ts'
import type { Clock } from '../../../engine/clock.ts'
import type { Pipeline } from '../../../engine/dsl/pipeline.ts'
import { fixtures, manualClock, pipeline, virtualClock } from '../../helpers.ts'

const drafts = path.join(fixtures, 'plugins', 'drafts.mjs')
/** A fan-out `clips` of two items, each drafted and reviewed at its own gate, with `more` steps after the gate and its `result`. */
const itemGates = (more: string, result: string): Promise<Pipeline> =>
  pipeline(`pipeline: item_gates
plugins: [${drafts}]
nodes:
  clips:
    type: fan_out
    items: [0, 1]
    steps:
      draft: { type: drafter, text: "\${{ 'scene ' + string(item) }}" }
      review: { type: approval, gate: draft, path: draft }
${more}    result: ${result}
`)
/** How each case ends (its statuses, attempts, error codes and outputs) and which gates it asks, in order. */
const ends = JSON.parse(readFileSync(path.join(fixtures, 'in-process-ends.json'), 'utf8')) as Record<string, { end: unknown; asked: Array<[string, number]> }>

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

/** What a run comes to: statuses, attempts, error codes and outputs (without a node's process readings). */
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
    it(`ends as expected: ${c.name}`, async () => {
      const p = await pipeline(`pipeline: parity\nplugins: [$WORK, ${drafts}]${c.yaml}`)
      const ask = new Scripted(c.decisions?.() ?? [])
      const bySteps = await byStepDriver(p, { ...(c.interactive ? { interactive: true } : {}), decisions: ask })
      assert.deepEqual(essence(bySteps.record), ends[c.name]!.end)
      assert.deepEqual(ask.asked, ends[c.name]!.asked, 'the gates asked, in order')
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

  it('many attempts at once on the inline executor, each listening to its stop signal, raise no listener warning', async () => {
    const p = await pipeline(`pipeline: many\nplugins: [$WORK]\nnodes:\n${Array.from({ length: 30 }, (_, i) => `  n${i}: { type: work, ms: 20 }\n`).join('')}`)
    const warnings: string[] = []
    const onWarning = (w: Error) => void warnings.push(`${w.name}: ${w.message}`)
    process.on('warning', onWarning)
    try {
      const { record } = await byStepDriver(p)
      assert.equal(record.status, 'completed')
      // warnings are emitted on the next tick
      await new Promise((resolve) => setImmediate(resolve))
    } finally {
      process.off('warning', onWarning)
    }
    assert.deepEqual(warnings, [])
  })

  it('a completed run tells no node to stop, and hands back a record of its own', async () => {
    const p = await pipeline('pipeline: quiet\nplugins: [$WORK]\nnodes:\n  a: { type: work, value: 1 }\n  b: { type: work, needs: [a], value: 2 }\noutputs:\n  b: ${{ nodes.b.output.value }}\n')
    const inline = new InlineExecutor()
    const told: string[] = []
    // node code that leaves its abort listener behind (it would cancel a remote job that has finished)
    const executor: NodeExecutor = {
      execute: (task, o) => {
        o.signal.addEventListener('abort', () => told.push(task.nodeId))
        return inline.execute(task, o)
      },
      close: () => inline.close(),
    }
    const store = new MemoryRunStore()
    const record = await driveSteps({ pipeline: p, inputs: {}, config: {}, executor, store })
    assert.equal(record.status, 'completed')
    assert.deepEqual(told, [])
    // what the caller does with the record is not what the store holds
    ;(record.outputs as { b: number }).b = 99
    ;(record.nodes.a!.output as { value: number }).value = 99
    const stored = (await store.getRun(record.id))!
    assert.deepEqual([(stored.outputs as { b: number }).b, (stored.nodes.a!.output as { value: number }).value], [2, 1])
  })

  it('a node cancelled while it waits out its backoff is recorded cancelled, with the error of its last attempt', async () => {
    const p = await pipeline('pipeline: backoff\nplugins: [$WORK]\nnodes:\n  flaky: { type: work, fail_until: 5, retry: { attempts: 5, backoff: 10s } }\n')
    const ac = new AbortController()
    const events = { emit: (e: RunEvent) => e.type === 'node.retrying' && queueMicrotask(() => ac.abort(new Error('stop'))) }
    const r = await driveSteps({ pipeline: p, inputs: {}, config: resolveConfig(p, []).config, executor: new InlineExecutor(), store: new MemoryRunStore(), signal: ac.signal, events })
    assert.equal(r.status, 'cancelled')
    assert.equal(r.nodes.flaky!.status, 'cancelled')
    assert.equal(r.nodes.flaky!.attempts, 1, 'one attempt made')
    assert.equal((r.nodes.flaky!.error!.details as { node_error: { code: string } }).node_error.code, 'PLANNED_FAILURE')
  })

  it('attempts that end while a step is being stored are applied together and stored in one batch; the log stays gap-free', async () => {
    const width = 30
    const p = await pipeline(`pipeline: burst\nplugins: [$WORK]\nnodes:\n${Array.from({ length: width }, (_, i) => `  n${i}: { type: work }\n`).join('')}`)
    const store = new MemoryRunStore()
    const write = store.write.bind(store)
    let writes = 0
    // a store slow enough that every attempt ends while the first step's write is under way
    store.write = async (batch) => {
      writes++
      await new Promise((r) => setTimeout(r, 20))
      return write(batch)
    }
    const record = await driveSteps({ pipeline: p, inputs: {}, config: {}, executor: new InlineExecutor(), store })
    assert.equal(record.status, 'completed')
    assert.ok(writes < width / 3, `${writes} writes for ${width} attempts ending at once`)
    const stored = await store.listEvents(record.id)
    assert.deepEqual(
      stored.map((e) => e.seq),
      stored.map((_, i) => i + 1),
    )
    assert.equal(stored.filter((e) => e.type === 'node.completed').length, width)
  })

  it('a store write that fails stops the run where it is: nothing is recorded after it, and the run rejects with its error', async () => {
    const p = await pipeline('pipeline: hole\nplugins: [$WORK]\nnodes:\n  quick: { type: work }\n  slow: { type: work, ms: 30 }\n  after: { type: work, needs: [quick, slow] }\n')
    const store = new MemoryRunStore()
    const write = store.write.bind(store)
    const attempted: StoreWrite[][] = []
    // the write that records `quick` ending fails; `slow` ends later and its end must not be written past that hole
    store.write = async (batch) => {
      attempted.push([...batch])
      if (batch.some((w) => w.kind === 'event' && w.event.type === 'node.completed' && w.event.node === 'quick')) throw new Error('disk full')
      return write(batch)
    }
    let id = ''
    await assert.rejects(driveSteps({ pipeline: p, inputs: {}, config: {}, executor: new InlineExecutor(), store, onStart: (runId) => (id = runId) }), /disk full/)
    const writesAtFailure = attempted.length
    await new Promise((r) => setTimeout(r, 80)) // `slow` has ended by now
    assert.equal(attempted.length, writesAtFailure, 'no write tried after the failure')
    const stored = await store.listEvents(id)
    assert.deepEqual(
      stored.map((e) => e.seq),
      stored.map((_, i) => i + 1),
    )
    assert.equal((await store.getRun(id))!.status, 'running', 'left as it was, for a resume')
  })

  it('a gate that stops waiting (its timeout) is withdrawn from the decision source, which then asks the next one', async () => {
    const p = await pipeline(`pipeline: withdrawn
plugins: [${drafts}]
nodes:
  story: { type: drafter, text: first }
  review: { type: approval, gate: story, path: draft, timeout: 200ms, continue_on_error: true }
  second: { type: drafter, text: second, needs: [story] }
  review2: { type: approval, gate: second, path: draft, needs: [review], trigger: all_done }
`)
    // one question at a time, as a terminal asks: the next waits until the one before is answered or withdrawn
    const log: string[] = []
    let busy: Promise<unknown> = Promise.resolve()
    const oneAtATime: DecisionSource = {
      decide: (req, signal) => {
        const turn = busy.then(
          () =>
            new Promise<Decision>((resolve, reject) => {
              log.push(`ask ${req.gate}`)
              if (req.gate === 'review2') return resolve({ decision: 'approve', by: 'ada' })
              signal?.addEventListener('abort', () => (log.push(`withdrawn ${req.gate}`), reject(signal.reason)), { once: true })
            }),
        )
        busy = turn.catch(() => {})
        return turn
      },
    }
    const { record } = await byStepDriver(p, { interactive: true, decisions: oneAtATime })
    assert.deepEqual(log, ['ask review', 'withdrawn review', 'ask review2'])
    assert.equal(record.status, 'completed')
    assert.equal(record.nodes.review!.error?.code, 'NODE_TIMEOUT')
    assert.equal(record.nodes.review2!.status, 'succeeded')
  })

  it('a decision source that fails, or none at all, fails the gate: the node error policy applies, the run goes on', async () => {
    const yaml = `pipeline: undecidable
plugins: [${drafts}, $WORK]
nodes:
  story: { type: drafter, text: first }
  review: { type: approval, gate: story, path: draft, continue_on_error: true }
  beside: { type: work, ms: 30, value: done }
  after: { type: drafter, text: '\${{ nodes.review.output.value }}', needs: [review] }
`
    const p = await pipeline(yaml)
    const failing: DecisionSource = { decide: async () => Promise.reject(new WeftError('PROMPT_CLOSED', 'the terminal closed')) }
    for (const [decisions, code] of [
      [failing, 'PROMPT_CLOSED'],
      [undefined, 'NO_DECISION_SOURCE'],
    ] as const) {
      const { record } = await byStepDriver(p, { interactive: true, ...(decisions ? { decisions } : {}) })
      assert.equal(record.status, 'completed', code)
      assert.equal(record.nodes.review!.status, 'failed')
      assert.equal(record.nodes.review!.error?.code, code)
      assert.equal(record.nodes.beside!.status, 'succeeded')
      assert.equal(record.nodes.after!.status, 'skipped')
    }
  })

  it('an attempt a failure elsewhere stopped is waited for, and what it used is recorded with its node, once', async () => {
    const p = await pipeline('pipeline: paid\nplugins: [$WORK]\nnodes:\n  paid: { type: work, ms: 60000 }\n  bad: { type: work, ms: 5, fail_until: 9, retryable: false }\n')
    const store = new MemoryRunStore()
    const record = await driveSteps({ pipeline: p, inputs: {}, config: {}, executor: paidUntilStopped('bad'), store })
    assert.equal(record.status, 'failed')
    assert.equal(record.nodes.paid!.status, 'cancelled')
    assert.equal(record.nodes.paid!.usage?.cost_usd, 2.5)
    assert.equal((await store.getRun(record.id))!.nodes.paid!.usage?.cost_usd, 2.5, 'recorded in the store')
  })

  it("what a fan-out's items used when a failure elsewhere stopped them is recorded with the fan-out, once each", async () => {
    const p = await pipeline(
      'pipeline: paid_items\nplugins: [$WORK]\nnodes:\n  clips: { type: fan_out, items: [1, 2], node: { type: work, ms: 60000 } }\n  bad: { type: work, ms: 30, fail_until: 9, retryable: false }\n',
    )
    const store = new MemoryRunStore()
    const record = await driveSteps({ pipeline: p, inputs: {}, config: {}, executor: paidUntilStopped('bad'), store })
    assert.equal(record.status, 'failed')
    assert.equal(record.nodes.clips!.status, 'cancelled')
    assert.equal(record.nodes.clips!.usage?.cost_usd, 5)
    assert.equal((await store.getRun(record.id))!.nodes.clips!.usage?.model_calls, 2, 'recorded in the store')
  })

  it("an item's step sent back by its gate runs under its own node id, with an idempotency key of its round", async () => {
    const p = await itemGates('      post: { type: drafter, needs: [review], text: "${{ steps.review.output.value }}" }\n', '${{ steps.post.output.draft }}')
    const inline = new InlineExecutor()
    const seen: Array<[string, string]> = []
    const executor: NodeExecutor = { execute: (task, o) => (seen.push([task.nodeId, task.idempotencyKey]), inline.execute(task, o)), close: () => inline.close() }
    const byGate: Record<string, Decision[]> = {
      'clips[0].review': [{ decision: 'approve', by: 'ada' }],
      'clips[1].review': [
        { decision: 'revise', feedback: 'brighter', by: 'ada' },
        { decision: 'approve', by: 'ada' },
      ],
    }
    const decisions: DecisionSource = { decide: async (req) => byGate[req.gate]!.shift()! }
    const record = await driveSteps({ pipeline: p, inputs: {}, config: resolveConfig(p, []).config, executor, store: new MemoryRunStore(), interactive: true, decisions })
    assert.equal(record.status, 'completed')
    assert.deepEqual((record.nodes.clips!.output as { results: unknown[] }).results, ['scene 0', 'scene 1 + brighter'])
    const id = record.id
    assert.deepEqual(seen.filter(([node]) => node.startsWith('clips[1]')).sort(), [
      ['clips[1].draft', `${id}:clips[1].draft:1`],
      ['clips[1].draft', `${id}:clips[1].draft:1:r1`],
      ['clips[1].post', `${id}:clips[1].post:1`],
    ])
    assert.equal(new Set(seen.map(([, key]) => key)).size, seen.length, 'no two attempts share a key')
  })

  it("a gate's own decision that cannot be recorded stops the run with the store's error, without taking the process down", async () => {
    const p = await pipeline(
      `pipeline: auto\nplugins: [${drafts}, $WORK]\nnodes:\n  story: { type: drafter, text: first, score: 90 }\n  review: { type: approval, gate: story, path: draft, auto: { approve_if: '\${{ nodes.story.output.score >= 80 }}' } }\n  after: { type: work, needs: [review], ms: 50 }\n`,
    )
    const store = new MemoryRunStore()
    store.decideApproval = async () => {
      throw new Error('database went away')
    }
    await assert.rejects(driveSteps({ pipeline: p, inputs: {}, config: resolveConfig(p, []).config, executor: new InlineExecutor(), store }), /database went away/)
  })

  it('an event sink that throws does not stop the run: the record is complete, and the sink saw what it could', async () => {
    const p = await pipeline('pipeline: sink\nplugins: [$WORK]\nnodes:\n  a: { type: work }\n  b: { type: work, needs: [a] }\n')
    const store = new MemoryRunStore()
    let seen = 0
    const events = {
      emit: () => {
        if (++seen === 3) throw new Error('socket closed')
      },
    }
    const record = await driveSteps({ pipeline: p, inputs: {}, config: {}, executor: new InlineExecutor(), store, events })
    assert.equal(record.status, 'completed')
    assert.equal(seen, (await store.listEvents(record.id)).length, 'every recorded event was offered to the sink')
  })

  it('a lease another process took stops the run with LEASE_LOST, writing nothing more', async () => {
    const p = await pipeline('pipeline: lease\nplugins: [$WORK]\nnodes:\n  long: { type: work, ms: 60000 }\n')
    const store = new MemoryRunStore()
    const clock = manualClock(Date.now())
    let id = ''
    const done = driveSteps({ pipeline: p, inputs: {}, config: {}, executor: new InlineExecutor(), store, clock, lease: { owner: 'p1', ttlMs: 3000 }, onStart: (runId) => (id = runId) })
    while (!id || (await store.listEvents(id)).every((e) => e.type !== 'node.started')) await new Promise((r) => setTimeout(r, 5))
    const written = (await store.listEvents(id)).length
    // the lease lapsed (this process stalled) and another took the run
    await store.releaseRun(id, 'p1')
    assert.equal(await store.claimRun(id, 'p2', 60_000), true)
    clock.advance(1000)
    await assert.rejects(done, { code: 'LEASE_LOST' })
    // and nothing later either: the attempt it stopped comes back, and is not recorded
    await new Promise((r) => setTimeout(r, 50))
    assert.equal((await store.listEvents(id)).length, written, 'nothing written once the lease was lost')
    assert.equal((await store.leaseHolder(id))?.owner, 'p2', 'the other process keeps it')
  })

  it('a resume keeps a decision recorded before the run stopped: nobody is asked again and it is resolved once', async () => {
    const p = await pipeline(
      `pipeline: gated\nplugins: [${drafts}]\nnodes:\n  story: { type: drafter, text: first }\n  review: { type: approval, gate: story, path: draft }\n  after: { type: drafter, text: '\${{ nodes.review.output.value }}' }\n`,
    )
    // the first process asks, the decision is recorded, and the process stops before it steps the decision
    let asked!: (req: ApprovalRequest) => void
    const request = new Promise<ApprovalRequest>((resolve) => (asked = resolve))
    const first = interrupted(p, { decide: (req) => (asked(req), new Promise<Decision>(() => {})) })
    await request
    // what the store holds when that process is gone: the run waiting at its gate, and the decision recorded
    const left = await first.stop()
    const { gate, revision } = await request
    await left.decideApproval(first.id(), gate, revision, { decision: 'approve', edits: 'edited before the stop', by: 'ada' })
    assert.equal((await left.getRun(first.id()))!.status, 'awaiting_approval')
    const again = new Scripted([])
    const record = await resumed(p, left, first.id(), again)
    assert.equal(record.status, 'completed')
    assert.deepEqual(again.asked, [], 'nobody asked again')
    assert.equal((record.nodes.review!.output as { value: unknown }).value, 'edited before the stop')
    const resolved = (await left.listEvents(first.id())).filter((e) => e.type === 'approval.resolved')
    assert.deepEqual(
      resolved.map((e) => [e.payload.gate, e.payload.decision]),
      [['review', 'approve']],
    )
  })
})

describe('a resume in one process, with item gates', () => {
  it('a gate resolved before the stop is neither asked again nor resolved twice; the one still waiting is asked once', async () => {
    const p = await itemGates('', '${{ steps.review.output.value }}')
    let resolvedOnce!: () => void
    const resolved = new Promise<void>((resolve) => (resolvedOnce = resolve))
    // item 0 is approved at once; item 1 waits until the process stops
    const first = interrupted(
      p,
      { decide: (req) => (req.gate.startsWith('clips[0]') ? Promise.resolve({ decision: 'approve', by: 'ada' }) : new Promise<Decision>(() => {})) },
      (e) => e.type === 'approval.resolved' && resolvedOnce(),
    )
    await resolved
    const left = await first.stop()
    const id = first.id()
    const again = new Scripted([{ decision: 'approve', edits: 'scene one, edited', by: 'ada' }])
    const record = await resumed(p, left, id, again)
    assert.equal(record.status, 'completed')
    assert.deepEqual((record.nodes.clips!.output as { results: unknown[] }).results, ['scene 0', 'scene one, edited'])
    assert.deepEqual(again.asked, [['clips[1].review', 0]], 'only the gate still waiting is asked')
    const events = await left.listEvents(id)
    const count = (type: string) =>
      events
        .filter((e) => e.type === type)
        .map((e) => String(e.payload.gate))
        .sort()
    assert.deepEqual(count('approval.resolved'), ['clips[0].review', 'clips[1].review'])
    assert.deepEqual(count('approval.requested'), ['clips[0].review', 'clips[1].review', 'clips[1].review'], 'the waiting gate asked again by the resumed run, the resolved one not')
  })
})

describe('a resume in one process: work that succeeded before the stop', () => {
  const fanOut = (value: string) => `pipeline: paid_items\nplugins: [$WORK]\nnodes:\n  clips: { type: fan_out, items: [1, 2, 3], node: { type: work, value: '${value}' } }\n`
  /** Runs attempts inline, each one that succeeds costing 1 USD; `hold` keeps an item's attempt until its signal aborts. */
  const paying = (hold?: number) => {
    const inline = new InlineExecutor()
    const ran: string[] = []
    const executor: NodeExecutor = {
      execute: async (task, o) => {
        ran.push(task.nodeId)
        if (hold !== undefined && (task.config as { value?: unknown }).value === hold)
          return new Promise((resolve) => o.signal.addEventListener('abort', () => resolve({ ok: false, error: { code: 'CANCELLED', message: 'stopped' } }), { once: true }))
        const out = await inline.execute(task, o)
        return out.ok ? { ...out, usage: { ...noUsage(), model_calls: 1, cost_usd: 1 } } : out
      },
      close: () => inline.close(),
    }
    return { executor, ran }
  }
  /** The run stopped once items 1 and 2 succeeded, item 3 still out: what its store holds then. */
  async function stoppedAfterTwo(p: Pipeline): Promise<{ left: MemoryRunStore; id: string }> {
    let ended = 0
    let twoDone!: () => void
    const two = new Promise<void>((resolve) => (twoDone = resolve))
    const first = interrupted(p, new Scripted([]), (e) => e.payload.item_status === 'succeeded' && ++ended === 2 && twoDone(), paying(6).executor)
    await two
    return { left: await first.stop(), id: first.id() }
  }

  it('the items that succeeded before the stop are not executed again; what they used counts once', async () => {
    const p = await pipeline(fanOut('${{ item * 2 }}'))
    const { left, id } = await stoppedAfterTwo(p)
    assert.deepEqual((await left.taskResults(id)).map((r) => r.key).sort(), ['clips[0]', 'clips[1]'], 'each item that succeeded is kept with the step that recorded it')
    const second = paying()
    const record = await resumed(p, left, id, new Scripted([]), second.executor)
    assert.equal(record.status, 'completed')
    assert.deepEqual(second.ran, ['clips[2]'], 'only the item that had not finished runs')
    assert.deepEqual(
      (record.nodes.clips!.output as { results: Array<{ value: number }> }).results.map((r) => r.value),
      [2, 4, 6],
    )
    assert.equal(record.nodes.clips!.usage?.cost_usd, 3, 'the two kept items and the one run now, each once')
    const kept = (await left.listEvents(id)).filter((e) => e.type === 'node.progress' && e.payload.kept === true)
    assert.deepEqual(kept.map((e) => e.payload.item).sort(), ['0', '1'], 'the log says which items were kept')
  })

  it("a gated node's revision that finished before the stop is not executed again", async () => {
    const p = await pipeline(
      `pipeline: revised\nplugins: [${drafts}]\nnodes:\n  story: { type: drafter, text: first }\n  review: { type: approval, gate: story, path: draft }\n  after: { type: drafter, text: '\${{ nodes.review.output.value }}' }\n`,
    )
    // the reviewer sends the story back once; the process stops while the revised story waits for its decision
    let secondAsk!: () => void
    const asking = new Promise<void>((resolve) => (secondAsk = resolve))
    const first = interrupted(p, { decide: (req) => (req.revision === 0 ? Promise.resolve({ decision: 'revise', feedback: 'more fizz', by: 'ada' }) : (secondAsk(), new Promise<Decision>(() => {}))) })
    await asking
    const left = await first.stop()
    const id = first.id()
    const second = paying()
    const again = new Scripted([{ decision: 'approve', by: 'ada' }])
    const record = await resumed(p, left, id, again, second.executor)
    assert.equal(record.status, 'completed')
    assert.deepEqual(again.asked, [['review', 1]], 'the revised story is asked about, once')
    assert.deepEqual(second.ran, ['after'], 'neither the story nor its revision runs again')
    assert.match(String((record.nodes.review!.output as { value: unknown }).value), /more fizz/)
  })

  it("an item's later steps run again once one of its steps ran again, whatever their own requests", async () => {
    // `second` reads nothing of `first` in its fields: only the order ties them (as a step reading a file `first` rewrites)
    const stepped = (first: string) =>
      pipeline(
        `pipeline: stepped\nplugins: [$WORK]\nnodes:\n  clips:\n    type: fan_out\n    items: [0, 1]\n    steps:\n      first: { type: work, value: '${first}' }\n      second: { type: work, needs: [first], value: '\${{ "s" + string(item) }}' }\n    result: \${{ steps.second.output.value }}\n`,
      )
    const stopped = async () => {
      const p = await stepped('${{ item }}')
      let done!: () => void
      const itemZero = new Promise<void>((resolve) => (done = resolve))
      // item 1's first step is held; the run stops once item 0 has finished both its steps
      const first = interrupted(p, new Scripted([]), (e) => e.payload.step === 'second' && e.payload.step_status === 'succeeded' && done(), paying(1).executor)
      await itemZero
      return { left: await first.stop(), id: first.id() }
    }
    const same = await stopped()
    const again = paying()
    assert.equal((await resumed(await stepped('${{ item }}'), same.left, same.id, new Scripted([]), again.executor)).status, 'completed')
    assert.deepEqual(again.ran.sort(), ['clips[1].first', 'clips[1].second'], 'item 0 kept whole')

    const edited = await stopped()
    const anew = paying()
    const record = await resumed(await stepped('${{ item + 100 }}'), edited.left, edited.id, new Scripted([]), anew.executor)
    assert.equal(record.status, 'completed')
    assert.deepEqual(anew.ran.sort(), ['clips[0].first', 'clips[0].second', 'clips[1].first', 'clips[1].second'], "item 0's second step runs after its first ran anew")
  })

  it('the run goes on in the folder it was recorded writing in, whatever folder the resume is given', async () => {
    const p = await pipeline('pipeline: foldered\nplugins: [$WORK]\nnodes:\n  a: { type: work, ms: 60000 }\n  b: { type: put_file, needs: [a], name: b.txt }\n')
    const first = mkdtempSync(path.join(tmpdir(), 'weft-folder-'))
    const store = new MemoryRunStore()
    const ac = new AbortController()
    let id = ''
    let started!: () => void
    const aStarted = new Promise<void>((resolve) => (started = resolve))
    const running = driveSteps({
      pipeline: p,
      inputs: {},
      config: {},
      executor: new InlineExecutor(),
      store,
      workDir: first,
      signal: ac.signal,
      onStart: (runId) => (id = runId),
      events: { emit: (e) => e.type === 'node.started' && started() },
    })
    await aStarted
    const left = await copyOf(store, id)
    ac.abort()
    await running.catch(() => {})
    assert.equal((await left.getRun(id))!.folder, path.join(first, id), 'recorded before any node wrote a file')
    const record = (await left.getRun(id))!
    const lastSeq = (await left.listEvents(id)).at(-1)!.seq
    const fixed = await pipeline('pipeline: foldered\nplugins: [$WORK]\nnodes:\n  a: { type: work }\n  b: { type: put_file, needs: [a], name: b.txt }\n')
    const other = mkdtempSync(path.join(tmpdir(), 'weft-folder-other-'))
    const resumedRun = await driveSteps({ pipeline: fixed, inputs: {}, config: {}, executor: new InlineExecutor(), store: left, workDir: other, resume: { record, lastSeq } })
    assert.equal(resumedRun.status, 'completed')
    assert.equal((resumedRun.nodes.b!.output as { path: string }).path, path.join(first, id, 'b.txt'))
    assert.equal(resumedRun.folder, path.join(first, id))
  })

  it('a run recorded without a session gets one of its own as it is resumed, as a new run does', async () => {
    const p = await pipeline('pipeline: sessionless\nplugins: [$WORK]\nnodes:\n  a: { type: work }\n')
    const store = new MemoryRunStore()
    const made = await driveSteps({ pipeline: p, inputs: {}, config: {}, executor: new InlineExecutor(), store })
    assert.equal(made.session_id, made.id, 'a new run is a session of its own')
    // as recorded before runs had one
    const { session_id: _, ...old } = (await store.getRun(made.id))!
    const legacy = new MemoryRunStore()
    await legacy.write([{ kind: 'run.create', run: { ...old, status: 'failed' } }, ...(await store.listEvents(made.id)).map((event): StoreWrite => ({ kind: 'event', event }))])
    const record = (await legacy.getRun(made.id))!
    assert.equal(record.session_id, undefined)
    await driveSteps({ pipeline: p, inputs: {}, config: {}, executor: new InlineExecutor(), store: legacy, resume: { record, lastSeq: (await legacy.listEvents(made.id)).at(-1)!.seq } })
    assert.equal((await legacy.getRun(made.id))!.session_id, made.id)
  })

  it('a node the pipeline no longer has (renamed in the file) is skipped by the resume, not left running in an ended run', async () => {
    const v1 = await pipeline('pipeline: renamed\nplugins: [$WORK]\nnodes:\n  a: { type: work, value: 1 }\n  b: { type: work, needs: [a], value: 2 }\n')
    let started!: () => void
    const bStarted = new Promise<void>((resolve) => (started = resolve))
    const first = interrupted(v1, new Scripted([]), (e) => e.type === 'node.started' && e.node === 'b' && started(), paying(2).executor)
    await bStarted
    const left = await first.stop()
    const id = first.id()
    const v2 = await pipeline('pipeline: renamed\nplugins: [$WORK]\nnodes:\n  a: { type: work, value: 1 }\n  c: { type: work, needs: [a], value: 3 }\n')
    const again = paying()
    assert.equal((await resumed(v2, left, id, new Scripted([]), again.executor)).status, 'completed')
    assert.deepEqual(again.ran, ['c'])
    const stored = (await left.getRun(id))!
    assert.deepEqual(
      Object.values(stored.nodes).map((n) => [n.id, n.status, n.skip_reason ?? null]),
      [
        ['a', 'succeeded', null],
        ['b', 'skipped', 'no longer in the pipeline'],
        ['c', 'succeeded', null],
      ],
    )
    const skipped = (await left.listEvents(id)).filter((e) => e.type === 'node.skipped')
    assert.deepEqual(
      skipped.map((e) => [e.node, e.payload.reason]),
      [['b', 'no longer in the pipeline']],
    )
  })

  it('what a node used before the stop (a failed attempt too) stays counted when a resume runs it again', async () => {
    const inline = new InlineExecutor()
    // every attempt costs 1 USD, whatever comes of it
    const costly: NodeExecutor = { execute: async (task, o) => ({ ...(await inline.execute(task, o)), usage: { ...noUsage(), model_calls: 1, cost_usd: 1 } }), close: () => inline.close() }
    const store = new MemoryRunStore()
    const v1 = await pipeline('pipeline: paid_again\nplugins: [$WORK]\nnodes:\n  a: { type: work, fail_until: 9, retryable: false }\n')
    const failed = await driveSteps({ pipeline: v1, inputs: {}, config: {}, executor: costly, store })
    assert.equal(failed.status, 'failed')
    assert.equal(failed.nodes.a!.usage?.cost_usd, 1)
    const fixed = await pipeline('pipeline: paid_again\nplugins: [$WORK]\nnodes:\n  a: { type: work, value: 1 }\n')
    const record = await resumed(fixed, store, failed.id, new Scripted([]), costly)
    assert.equal(record.status, 'completed')
    assert.deepEqual([record.nodes.a!.usage?.model_calls, record.nodes.a!.usage?.cost_usd], [2, 2], 'the failed attempt and the one that succeeded')
    assert.equal((await store.getRun(failed.id))!.nodes.a!.usage?.cost_usd, 2, 'recorded in the store')
  })

  it('an item whose request changed since (the pipeline file edited) runs again', async () => {
    const { left, id } = await stoppedAfterTwo(await pipeline(fanOut('${{ item * 2 }}')))
    const second = paying()
    const record = await resumed(await pipeline(fanOut('${{ item * 3 }}')), left, id, new Scripted([]), second.executor)
    assert.equal(record.status, 'completed')
    assert.deepEqual(second.ran.sort(), ['clips[0]', 'clips[1]', 'clips[2]'])
    assert.deepEqual(
      (record.nodes.clips!.output as { results: Array<{ value: number }> }).results.map((r) => r.value),
      [3, 6, 9],
    )
  })
})

describe('a resume in one process: attempts made before the stop', () => {
  /** Runs attempts inline and notes each one as `task@attempt`. */
  const noting = () => {
    const inline = new InlineExecutor()
    const ran: string[] = []
    const executor: NodeExecutor = {
      execute: (task, o) => {
        ran.push(`${task.nodeId}@${task.attempt}`)
        return inline.execute(task, o)
      },
      close: () => inline.close(),
    }
    return { executor, ran }
  }
  const flaky = (fails: number) =>
    pipeline(
      `pipeline: flaky_resumed\nplugins: [$WORK]\nnodes:\n  one: { type: work, fail_until: ${fails}, retry: { attempts: 3, backoff: 1h } }\n  clips: { type: fan_out, items: [0, 1], node: { type: work, fail_until: ${fails}, retry: { attempts: 3, backoff: 1h } } }\n`,
    )
  /** Stopped once the node and both items have failed `fails` attempts and wait out their backoff (the hour passes at once before that). */
  async function stoppedInBackoff(fails: number): Promise<{ left: MemoryRunStore; id: string }> {
    let waiting = 0
    let all!: () => void
    const three = new Promise<void>((resolve) => (all = resolve))
    const clock = manualClock()
    const onEvent = (e: RunEvent) => {
      if (e.type !== 'node.retrying') return
      if (e.payload.next_attempt === fails + 1) return void (++waiting === 3 && all())
      setImmediate(() => clock.advance(2 * 3600_000))
    }
    const first = interrupted(await flaky(fails), new Scripted([]), onEvent, new InlineExecutor(), clock)
    await three
    return { left: await first.stop(), id: first.id() }
  }

  it('a node and fan-out items stopped in their backoff go on with the attempt they had reached', async () => {
    const { left, id } = await stoppedInBackoff(1)
    const again = noting()
    const record = await resumed(await flaky(1), left, id, new Scripted([]), again.executor, virtualClock())
    assert.equal(record.status, 'completed')
    assert.deepEqual(again.ran.sort(), ['clips[0]@2', 'clips[1]@2', 'one@2'], 'each takes up its second attempt, straight away')
    assert.equal(record.nodes.one!.attempts, 2)
    assert.equal((record.nodes.one!.output as { attempt: number }).attempt, 2)
  })

  it('the retry budget spans the stop: attempts made before it count', async () => {
    // two attempts failed before the stop, a third fails after it: 3 of 3, the node fails
    const { left, id } = await stoppedInBackoff(2)
    const again = noting()
    const record = await resumed(await flaky(3), left, id, new Scripted([]), again.executor, virtualClock())
    assert.equal(record.status, 'failed')
    assert.equal(record.nodes.one!.attempts, 3)
    assert.deepEqual(
      again.ran.filter((r) => r.startsWith('one')),
      ['one@3'],
    )
  })

  it('a fan-out item that failed for good (its failures collected) is tried afresh too, with its whole budget', async () => {
    const p = await pipeline(
      'pipeline: collected\nplugins: [$WORK]\nnodes:\n  clips:\n    type: fan_out\n    items: [0, 1]\n    on_item_error: collect\n    node: { type: work, fail_until: "${{ item == 0 ? 9 : 0 }}", ms: "${{ item == 1 ? 60000 : 0 }}", retry: { attempts: 2, backoff: 1ms } }\n',
    )
    let ended!: () => void
    const itemZero = new Promise<void>((resolve) => (ended = resolve))
    const first = interrupted(p, new Scripted([]), (e) => e.payload.item_status === 'failed' && ended())
    await itemZero
    const left = await first.stop()
    const again = noting()
    const record = await resumed(p, left, first.id(), new Scripted([]), again.executor, virtualClock())
    assert.equal(record.status, 'completed')
    assert.deepEqual(
      again.ran.filter((r) => r.startsWith('clips[0]')),
      ['clips[0]@1', 'clips[0]@2'],
    )
  })

  it('a carried attempt stays within a budget lowered since', async () => {
    const { left, id } = await stoppedInBackoff(2)
    const again = noting()
    const lowered = await pipeline(
      'pipeline: flaky_resumed\nplugins: [$WORK]\nnodes:\n  one: { type: work, fail_until: 1, retry: { attempts: 2, backoff: 1h } }\n  clips: { type: fan_out, items: [0, 1], node: { type: work, fail_until: 1, retry: { attempts: 2, backoff: 1h } } }\n',
    )
    const record = await resumed(lowered, left, id, new Scripted([]), again.executor, virtualClock())
    assert.equal(record.status, 'completed')
    assert.deepEqual(again.ran.sort(), ['clips[0]@2', 'clips[1]@2', 'one@2'])
    assert.equal(record.nodes.one!.attempts, 2)
  })

  it('a node that failed for good is tried afresh by a resume: resuming asks for it again', async () => {
    const store = new MemoryRunStore()
    const p = await pipeline('pipeline: spent\nplugins: [$WORK]\nnodes:\n  one: { type: work, fail_until: 2, retry: { attempts: 2, backoff: 1ms } }\n')
    const failed = await driveSteps({ pipeline: p, inputs: {}, config: {}, executor: new InlineExecutor(), store })
    assert.equal(failed.nodes.one!.attempts, 2)
    const again = noting()
    const record = await resumed(
      await pipeline('pipeline: spent\nplugins: [$WORK]\nnodes:\n  one: { type: work, fail_until: 1, retry: { attempts: 2, backoff: 1ms } }\n'),
      store,
      failed.id,
      new Scripted([]),
      again.executor,
    )
    assert.equal(record.status, 'completed')
    assert.deepEqual(again.ran[0], 'one@1')
  })
})

/**
 * Runs `runs` inline; every other attempt is a provider call under way until the run stops it: it then ends on its
 * signal and reports what it cost (2.5 USD).
 */
function paidUntilStopped(runs: string): NodeExecutor {
  const inline = new InlineExecutor()
  return {
    execute: (task, o) =>
      task.nodeId === runs
        ? inline.execute(task, o)
        : new Promise((resolve) =>
            o.signal.addEventListener(
              'abort',
              () => setTimeout(() => resolve({ ok: false, error: { code: 'CANCELLED', message: 'stopped' }, usage: { ...noUsage(), model_calls: 1, cost_usd: 2.5 } }), 20),
              { once: true },
            ),
          ),
    close: () => inline.close(),
  }
}

/**
 * An interactive run started in a process of its own, to be stopped: `stop()` answers what the store holds of it
 * at that moment (as a process starting afresh reads it), and the first process then ends.
 */
function interrupted(
  p: Pipeline,
  decisions: DecisionSource,
  onEvent: (e: RunEvent) => void = () => {},
  executor: NodeExecutor = new InlineExecutor(),
  clock?: Clock,
): { id: () => string; stop: () => Promise<MemoryRunStore> } {
  const store = new MemoryRunStore()
  const ac = new AbortController()
  let id = ''
  void driveSteps({
    pipeline: p,
    inputs: {},
    config: resolveConfig(p, []).config,
    executor,
    store,
    interactive: true,
    onStart: (runId) => (id = runId),
    events: { emit: onEvent },
    decisions,
    signal: ac.signal,
    ...(clock ? { clock } : {}),
  }).catch(() => {})
  return {
    id: () => id,
    stop: async () => {
      const left = await copyOf(store, id)
      ac.abort()
      return left
    },
  }
}

/** Resumes run `id` from what `store` holds, as `weft resume` does in a new process. */
async function resumed(p: Pipeline, store: MemoryRunStore, id: string, decisions: DecisionSource, executor: NodeExecutor = new InlineExecutor(), clock?: Clock): Promise<RunRecord> {
  const record = (await store.getRun(id))!
  const lastSeq = (await store.listEvents(id)).at(-1)!.seq
  return driveSteps({ pipeline: p, inputs: {}, config: resolveConfig(p, []).config, executor, store, interactive: true, decisions, resume: { record, lastSeq }, ...(clock ? { clock } : {}) })
}

/** A new store holding what `store` holds of run `id` (its record, events, gates and decisions), as a process that starts afresh reads it. */
async function copyOf(store: MemoryRunStore, id: string): Promise<MemoryRunStore> {
  const copy = new MemoryRunStore()
  const events = await store.listEvents(id)
  const results = (await store.taskResults(id)).map((result): StoreWrite => ({ kind: 'task.result', runId: id, result }))
  await copy.write([{ kind: 'run.create', run: (await store.getRun(id))! }, ...events.map((event): StoreWrite => ({ kind: 'event', event })), ...results])
  for (const e of events.filter((x) => x.type === 'approval.requested')) {
    const approval = await store.getApproval(id, String(e.payload.gate), Number(e.payload.revision))
    if (!approval) continue
    await copy.write([{ kind: 'approval.request', runId: id, request: approval.request }])
    if (approval.decision) await copy.decideApproval(id, approval.request.gate, approval.request.revision, approval.decision)
  }
  return copy
}
