// The fleet's step function, event by event, without a database, threads or real time: a state in, an event,
// and the state, writes and actions out. Workers are played by hand (claim = what the database's claim does).
import { describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { pipeline } from '../../helpers.ts'
import type { Pipeline } from '../../../engine/dsl/pipeline.ts'
import type { Decision, TaskOutcome } from '../../../engine/ports.ts'
import { noUsage } from '../../../engine/usage.ts'
import { newRunRecord } from '../../../engine/fleet/new-run.ts'
import { newRunState, step, type StepAction, type StepEvent } from '../../../engine/fleet/step.ts'
import { applyEvent, type Applied } from '../../../engine/fleet/apply.ts'
import { gateKey, type FleetState } from '../../../engine/fleet/state.ts'

class Sim {
  state: FleetState
  now = 1_000_000
  last!: Applied
  /** Steps change the state in place, as a driver holding the only copy has them (what steps remember between events is used). */
  readonly owned: boolean
  constructor(
    readonly p: Pipeline,
    opts: { interactive?: boolean; inputs?: Record<string, unknown>; owned?: boolean } = {},
  ) {
    this.owned = opts.owned ?? false
    const run = newRunRecord(p, { inputs: opts.inputs ?? {}, config: p.config, interactive: opts.interactive ?? false, runId: 'r1', now: this.now })
    this.state = newRunState(run, '/tmp/weft-step-test')
  }
  async apply(e: StepEvent): Promise<Applied> {
    this.last = await applyEvent(this.state, e, { pipeline: this.p, now: this.now, random: () => 0.5, lostLimit: 2 }, { owned: this.owned })
    this.state = this.last.state
    return this.last
  }
  dispatched(): string[] {
    return this.last.actions.filter((a): a is Extract<StepAction, { type: 'dispatch' }> => a.type === 'dispatch').map((a) => a.key)
  }
  /** What the database's claim does: the task runs under a new fence. */
  claim(key: string): number {
    const t = this.state.tasks[key]!
    assert.equal(t.status, 'queued', `${key} is queued`)
    t.status = 'running'
    return ++t.fence
  }
  async finish(key: string, outcome: TaskOutcome): Promise<Applied> {
    return this.apply({ type: 'settled', key, fence: this.claim(key), outcome })
  }
  async decide(gate: string, revision: number, decision: Decision): Promise<Applied> {
    this.state.gates[gateKey(gate, revision)]!.decision = decision
    return this.apply({ type: 'decided', gate, revision })
  }
  status(id: string) {
    return this.state.run.nodes[id]!.status
  }
  events(): string[] {
    return this.last.writes.flatMap((w) => (w.kind === 'event' ? [`${w.event.type}${w.event.node ? ` ${w.event.node}` : ''}`] : []))
  }
}

const ok = (output: unknown): TaskOutcome => ({ ok: true, output })
const fail = (code: string, retryable?: boolean): TaskOutcome => ({ ok: false, error: { code, message: `${code} happened`, ...(retryable === false ? { retryable } : {}) } })

const diamond = `
pipeline: diamond
plugins: [$WORK]
nodes:
  a: { type: work }
  b: { type: work, needs: [a] }
  c: { type: work, needs: [a] }
  d: { type: work, needs: [b, c] }
outputs:
  d: \${{ nodes.d.output.value }}
`

describe('fleet step: the DAG', () => {
  it('start dispatches the roots only; each completion dispatches what it makes ready; the last ends the run', async () => {
    const sim = new Sim(await pipeline(diamond))
    await sim.apply({ type: 'start' })
    assert.deepEqual(sim.dispatched(), ['a'])
    assert.equal(sim.status('a'), 'running')
    assert.deepEqual(sim.events(), ['node.started a'])
    await sim.finish('a', ok({ value: 1 }))
    assert.deepEqual(sim.dispatched().sort(), ['b', 'c'])
    await sim.finish('b', ok({ value: 2 }))
    assert.deepEqual(sim.dispatched(), [], 'd waits for c')
    await sim.finish('c', ok({ value: 3 }))
    assert.deepEqual(sim.dispatched(), ['d'])
    await sim.finish('d', ok({ value: 4 }))
    assert.equal(sim.state.run.status, 'completed')
    assert.deepEqual(sim.state.run.outputs, { d: 4 })
    assert.ok(sim.last.actions.some((a) => a.type === 'finished' && a.status === 'completed'))
    assert.deepEqual(sim.events().slice(-2), ['node.completed d', 'run.completed'])
  })

  it('the input state is left as it was (a pure function)', async () => {
    const sim = new Sim(await pipeline(diamond))
    const before = structuredClone(sim.state)
    const res = step(sim.state, { type: 'start' }, { pipeline: sim.p, now: 1, random: () => 0 })
    assert.deepEqual(sim.state, before)
    assert.equal(res.state.run.nodes.a!.status, 'running')
  })

  it('a stale worker (old fence) cannot settle a task, nor can one whose task is no longer running', async () => {
    const sim = new Sim(await pipeline(diamond))
    await sim.apply({ type: 'start' })
    const fence = sim.claim('a')
    await sim.apply({ type: 'settled', key: 'a', fence: fence - 1, outcome: ok({}) })
    assert.equal(sim.status('a'), 'running')
    assert.deepEqual(sim.last.writes, [])
    await sim.apply({ type: 'settled', key: 'a', fence, outcome: ok({}) })
    assert.equal(sim.status('a'), 'succeeded')
    await sim.apply({ type: 'settled', key: 'a', fence, outcome: fail('LATE') })
    assert.equal(sim.status('a'), 'succeeded', 'a second settle changes nothing')
  })

  it('a retryable failure backs off (holding no slot) and wakes to a new attempt; the last attempt failing fails the node', async () => {
    const sim = new Sim(
      await pipeline(`
pipeline: r
plugins: [$WORK]
nodes:
  a: { type: work, retry: { attempts: 2, backoff: 1s, jitter: false } }
`),
    )
    await sim.apply({ type: 'start' })
    await sim.finish('a', fail('FLAKY'))
    const t = sim.state.tasks.a!
    assert.equal(t.status, 'backoff')
    assert.equal(t.attempt, 2)
    assert.deepEqual(sim.events(), ['node.retrying a'])
    const later = sim.last.actions.find((a) => a.type === 'later')
    assert.deepEqual(later, { type: 'later', at: sim.now + 1000, event: { type: 'wake', key: 'a' } })
    await sim.apply({ type: 'wake', key: 'a' })
    assert.deepEqual(sim.dispatched(), ['a'])
    await sim.finish('a', fail('FLAKY'))
    assert.equal(sim.status('a'), 'failed')
    assert.equal(sim.state.run.nodes.a!.attempts, 2)
    assert.equal(sim.state.run.status, 'failed')
  })

  it('fail-fast: a failure cancels running siblings at once and skips what had not started', async () => {
    const sim = new Sim(await pipeline(diamond))
    await sim.apply({ type: 'start' })
    await sim.finish('a', ok({}))
    sim.claim('c')
    await sim.finish('b', fail('BROKEN', false))
    assert.equal(sim.status('b'), 'failed')
    assert.equal(sim.status('c'), 'cancelled')
    assert.equal(sim.status('d'), 'skipped')
    assert.equal(sim.state.tasks.c!.status, 'cancelled', 'the worker holding c is fenced out')
    assert.equal(sim.state.run.status, 'failed')
    assert.match(sim.state.run.error!.message, /node "b" failed/)
  })

  it('a cancelled attempt that comes back after the run ended counts what it used towards its node, once; its outcome changes nothing', async () => {
    const sim = new Sim(await pipeline(diamond))
    await sim.apply({ type: 'start' })
    await sim.finish('a', ok({}))
    const fence = sim.claim('c')
    await sim.finish('b', fail('BROKEN', false))
    assert.equal(sim.state.run.status, 'failed')
    const paid = { ok: true as const, output: { late: true }, usage: { ...noUsage(), model_calls: 1, cost_usd: 0.75 } }
    await sim.apply({ type: 'settled', key: 'c', fence, outcome: paid })
    assert.equal(sim.status('c'), 'cancelled', 'still cancelled: the run had stopped it')
    assert.equal(sim.state.run.nodes.c!.usage?.cost_usd, 0.75)
    assert.deepEqual(
      sim.last.writes.map((w) => w.kind),
      ['node.update'],
    )
    await sim.apply({ type: 'settled', key: 'c', fence, outcome: paid })
    assert.equal(sim.state.run.nodes.c!.usage?.cost_usd, 0.75, 'the same attempt does not count twice')
    assert.deepEqual(sim.last.writes, [])
  })

  it('continue_on_error: the run goes on, and a dependent with trigger all_done runs', async () => {
    const sim = new Sim(
      await pipeline(`
pipeline: c
plugins: [$WORK]
nodes:
  a: { type: work, continue_on_error: true }
  b: { type: work, needs: [a], trigger: all_done }
`),
    )
    await sim.apply({ type: 'start' })
    await sim.finish('a', fail('NOPE', false))
    assert.deepEqual(sim.dispatched(), ['b'])
    await sim.finish('b', ok({}))
    assert.equal(sim.state.run.status, 'completed')
  })

  it('`when` false skips a node, and what needs it', async () => {
    const sim = new Sim(
      await pipeline(`
pipeline: w
plugins: [$WORK]
inputs: { go: { type: boolean, default: false } }
nodes:
  a: { type: work, when: '\${{ inputs.go }}' }
  b: { type: work, needs: [a] }
`),
      { inputs: { go: false } },
    )
    await sim.apply({ type: 'start' })
    assert.equal(sim.status('a'), 'skipped')
    assert.equal(sim.status('b'), 'skipped')
    assert.equal(sim.state.run.status, 'completed')
  })

  it('caps: concurrency and pools are counted over the run, whichever workers hold its tasks', async () => {
    const nodes = [0, 1, 2, 3]
      .map((i) => `  g${i}: { type: work, pool: gpu }`)
      .concat([0, 1, 2].map((i) => `  c${i}: { type: work }`))
      .join('\n')
    const sim = new Sim(await pipeline(`pipeline: caps\nplugins: [$WORK]\nconcurrency: 4\npools: { gpu: 1 }\nnodes:\n${nodes}\n`))
    await sim.apply({ type: 'start' })
    assert.deepEqual(sim.dispatched(), ['g0', 'c0', 'c1', 'c2'])
    await sim.finish('c0', ok({}))
    assert.deepEqual(sim.dispatched(), [], 'the gpu pool is still full')
    await sim.finish('g0', ok({}))
    assert.deepEqual(sim.dispatched(), ['g1'])
  })

  it('in place: a slot freed by a step that makes nothing ready starts what waited for it', async () => {
    const yaml = `pipeline: caps\nplugins: [$WORK]\npools: { gpu: 1 }\nnodes:\n  g0: { type: work, pool: gpu }\n  g1: { type: work, pool: gpu }\n  x: { type: work }\n  after: { type: work, needs: [x] }\n`
    const sim = new Sim(await pipeline(yaml), { owned: true })
    await sim.apply({ type: 'start' })
    assert.deepEqual(sim.dispatched(), ['g0', 'x'])
    // makes `after` ready, which has no pool: it starts, and g1 still waits for the pool
    await sim.finish('x', ok({}))
    assert.deepEqual(sim.dispatched(), ['after'])
    await sim.finish('after', ok({}))
    assert.deepEqual(sim.dispatched(), [], 'the pool is still full')
    // nothing made ready here: the slot freed is what starts g1
    await sim.finish('g0', ok({}))
    assert.deepEqual(sim.dispatched(), ['g1'])
    await sim.finish('g1', ok({}))
    assert.equal(sim.state.run.status, 'completed')
  })

  it('in place: a node with many dependencies starts when the last of them ends, in whatever order they end', async () => {
    const ids = Array.from({ length: 12 }, (_, i) => `n${i}`)
    const yaml = `pipeline: many\nplugins: [$WORK]\nnodes:\n${ids.map((id) => `  ${id}: { type: work }`).join('\n')}\n  sink: { type: work, needs: [${ids.join(', ')}] }\n`
    const sim = new Sim(await pipeline(yaml), { owned: true })
    await sim.apply({ type: 'start' })
    // the first dependency ends last: every consideration before it finds one unfinished
    const order = [...ids.slice(1).reverse(), ids[0]!]
    for (const [i, id] of order.entries()) {
      await sim.finish(id, ok({}))
      assert.deepEqual(sim.dispatched(), i === order.length - 1 ? ['sink'] : [], `after ${id}`)
    }
    assert.equal(sim.status('sink'), 'running')
  })

  it('a lost worker: the same attempt runs again elsewhere (not counted against retry); past the limit, WORKER_LOST', async () => {
    const sim = new Sim(await pipeline(diamond))
    await sim.apply({ type: 'start' })
    for (let lost = 1; lost <= 2; lost++) {
      const fence = sim.claim('a')
      await sim.apply({ type: 'lost', key: 'a', fence })
      assert.deepEqual(sim.dispatched(), ['a'])
      assert.equal(sim.state.tasks.a!.attempt, 1)
      // the lost worker waking up later cannot settle
      await sim.apply({ type: 'settled', key: 'a', fence, outcome: ok({}) })
      assert.equal(sim.status('a'), 'running')
    }
    const fence = sim.claim('a')
    await sim.apply({ type: 'lost', key: 'a', fence })
    assert.equal(sim.status('a'), 'failed')
    assert.equal(sim.state.run.nodes.a!.error!.code, 'WORKER_LOST')
  })

  it('cancel: running work is cancelled, the rest skipped, the run ends cancelled; later events change nothing', async () => {
    const sim = new Sim(await pipeline(diamond))
    await sim.apply({ type: 'start' })
    const fence = sim.claim('a')
    await sim.apply({ type: 'cancel', reason: { code: 'CANCELLED', message: 'cancelled by a test' } })
    assert.equal(sim.status('a'), 'cancelled')
    assert.equal(sim.state.run.nodes.a!.attempts, 1, 'a cancelled node says how many attempts it had')
    assert.equal(sim.status('d'), 'skipped')
    assert.equal(sim.state.run.status, 'cancelled')
    assert.equal(sim.state.run.error!.message, 'cancelled by a test')
    await sim.apply({ type: 'settled', key: 'a', fence, outcome: ok({}) })
    assert.deepEqual(sim.last.writes, [])
  })
})

describe('fleet step: control nodes replayed', () => {
  const fan = (concurrency: number, policy = 'fail') => `
pipeline: fan
plugins: [$WORK]
nodes:
  f:
    type: fan_out
    items: [10, 20, 30, 40, 50]
    concurrency: ${concurrency}
    on_item_error: ${policy}
    node: { type: work, value: '\${{ item + index }}' }
outputs:
  values: \${{ nodes.f.output.results.map(r, r.value) }}
`

  it('fan_out: items are tasks, `concurrency` at a time; results come back in input order', async () => {
    const sim = new Sim(await pipeline(fan(2)))
    await sim.apply({ type: 'start' })
    assert.deepEqual(sim.dispatched(), ['f[0]', 'f[1]'])
    assert.deepEqual(sim.state.tasks['f[1]']!.spec!.config, { value: 21 })
    await sim.finish('f[1]', ok({ value: 21 }))
    assert.deepEqual(sim.dispatched(), ['f[2]'])
    await sim.finish('f[0]', ok({ value: 10 }))
    assert.deepEqual(sim.dispatched(), ['f[3]'])
    await sim.finish('f[2]', ok({ value: 32 }))
    assert.deepEqual(sim.dispatched(), ['f[4]'])
    await sim.finish('f[4]', ok({ value: 54 }))
    await sim.finish('f[3]', ok({ value: 43 }))
    assert.equal(sim.state.run.status, 'completed')
    assert.deepEqual(sim.state.run.outputs, { values: [10, 21, 32, 43, 54] })
  })

  it('fan_out with on_item_error fail: the first failed item stops the others (their tasks cancelled)', async () => {
    const sim = new Sim(await pipeline(fan(3)))
    await sim.apply({ type: 'start' })
    sim.claim('f[0]')
    const settled = await sim.finish('f[1]', fail('BAD_ITEM', false))
    // the item's end is an event clients show it by
    const progress = settled.writes.flatMap((w) => (w.kind === 'event' && w.event.type === 'node.progress' ? [w.event.payload] : []))
    assert.deepEqual(progress[0], { message: 'item 1 failed: BAD_ITEM', item: '1', item_status: 'failed', error: { code: 'BAD_ITEM', message: 'BAD_ITEM happened' }, task: 'f[1]' })
    assert.equal(sim.status('f'), 'failed')
    assert.equal(sim.state.run.nodes.f!.error!.code, 'FAN_OUT_ITEM_FAILED')
    assert.equal(sim.state.tasks['f[0]']!.status, 'cancelled')
    assert.equal(sim.state.tasks['f[2]']!.status, 'cancelled')
    assert.equal(sim.state.tasks['f[3]'], undefined, 'never asked for')
  })

  it("a fan-out item whose step failed keeps that step's error however often it is replayed (not its cancelled sibling's)", async () => {
    const sim = new Sim(
      await pipeline(`
pipeline: steps
plugins: [$WORK]
nodes:
  f:
    type: fan_out
    items: [1, 2]
    on_item_error: collect
    steps:
      b: { type: work }
      a: { type: work }
`),
    )
    await sim.apply({ type: 'start' })
    assert.deepEqual(sim.dispatched().sort(), ['f[0].a', 'f[0].b', 'f[1].a', 'f[1].b'])
    sim.claim('f[0].b')
    await sim.finish('f[0].a', fail('A_BROKE', false))
    assert.equal(sim.state.tasks['f[0].b']!.status, 'cancelled')
    // later replays (other items settling) answer b's recorded cancellation only after a's failure aborts it
    await sim.finish('f[1].a', ok({}))
    await sim.finish('f[1].b', ok({}))
    assert.equal(sim.status('f'), 'succeeded')
    const out = sim.state.run.nodes.f!.output as { failed: Array<{ index: number; error: { code: string; message: string } }> }
    assert.deepEqual(
      out.failed.map((x) => [x.index, x.error.code]),
      [[0, 'A_BROKE']],
    )
    assert.match(out.failed[0]!.error.message, /step "a"/)
  })

  it("a control node's deadline that fires early by this clock is set again, not dropped", async () => {
    const sim = new Sim(await pipeline(fan(1).replace('type: fan_out', 'type: fan_out\n    timeout: 5s')))
    await sim.apply({ type: 'start' })
    sim.now += 4000
    await sim.apply({ type: 'deadline', node: 'f' })
    assert.equal(sim.status('f'), 'running')
    const again = sim.last.actions.find((a) => a.type === 'later')
    assert.ok(again && again.type === 'later' && again.at > sim.now + 1000 - 1 && again.event.type === 'deadline')
    sim.now += 2000
    await sim.apply({ type: 'deadline', node: 'f' })
    assert.equal(sim.state.run.nodes.f!.error!.code, 'NODE_TIMEOUT')
  })

  it('a control node past its timeout fails with NODE_TIMEOUT and its tasks are cancelled', async () => {
    const sim = new Sim(await pipeline(fan(1).replace('type: fan_out', 'type: fan_out\n    timeout: 5s')))
    await sim.apply({ type: 'start' })
    const later = sim.last.actions.find((a) => a.type === 'later')
    assert.deepEqual(later, { type: 'later', at: sim.now + 5000, event: { type: 'deadline', node: 'f' } })
    sim.now += 5000
    await sim.apply({ type: 'deadline', node: 'f' })
    assert.equal(sim.state.run.nodes.f!.error!.code, 'NODE_TIMEOUT')
    assert.equal(sim.state.tasks['f[0]']!.status, 'cancelled')
  })

  const gated = `
pipeline: gated
plugins: [$WORK]
nodes:
  draft: { type: work, value: first }
  review: { type: approval, gate: draft, max_revisions: 2 }
  after: { type: work, value: '\${{ nodes.review.output.value.value }}' }
outputs:
  final: \${{ nodes.after.output.value }}
`

  it('approval (interactive): the gate waits holding nothing; revise re-runs the gated node with feedback; approve goes on', async () => {
    const sim = new Sim(await pipeline(gated), { interactive: true })
    await sim.apply({ type: 'start' })
    await sim.finish('draft', ok({ value: 'first' }))
    assert.equal(sim.status('review'), 'waiting')
    assert.equal(sim.state.run.status, 'awaiting_approval')
    assert.deepEqual(
      sim.events().filter((e) => e.startsWith('approval')),
      ['approval.requested review'],
    )
    assert.deepEqual(sim.dispatched(), [])
    await sim.decide('review', 0, { decision: 'revise', feedback: 'shorter', by: 'ann' })
    assert.deepEqual(sim.dispatched(), ['review~draft#r1'])
    assert.equal(sim.state.run.status, 'running')
    const revise = sim.state.tasks['review~draft#r1']!
    assert.deepEqual(revise.spec!.revision, { round: 1, feedback: 'shorter', previous: { value: 'first' } })
    await sim.finish('review~draft#r1', ok({ value: 'second' }))
    assert.equal(sim.state.run.nodes.draft!.output && (sim.state.run.nodes.draft!.output as { value: string }).value, 'second')
    assert.ok(sim.events().includes('approval.requested review'), 'asked again at revision 1')
    assert.equal(sim.state.gates[gateKey('review', 1)]!.request.revision, 1)
    await sim.decide('review', 1, { decision: 'approve', by: 'ann' })
    assert.deepEqual(sim.dispatched(), ['after'])
    assert.equal(sim.state.tasks.after!.spec!.config && (sim.state.tasks.after!.spec!.config as { value: string }).value, 'second')
    await sim.finish('after', ok({ value: 'second' }))
    assert.equal(sim.state.run.status, 'completed')
    assert.deepEqual(sim.state.run.outputs, { final: 'second' })
  })

  it('a decision is announced once, however often the gate is replayed', async () => {
    const sim = new Sim(await pipeline(gated), { interactive: true })
    await sim.apply({ type: 'start' })
    await sim.finish('draft', ok({ value: 'first' }))
    await sim.decide('review', 0, { decision: 'revise', feedback: 'again', by: 'ann' })
    assert.deepEqual(
      sim.events().filter((e) => e.startsWith('approval')),
      ['approval.resolved review'],
    )
    // the same decision applied again (a redelivered job): nothing new
    await sim.apply({ type: 'decided', gate: 'review', revision: 0 })
    assert.deepEqual(sim.events(), [])
    assert.deepEqual(sim.dispatched(), [])
  })

  it('approval (automated run): the gate decides by its policy, recorded as auto', async () => {
    const sim = new Sim(await pipeline(gated))
    await sim.apply({ type: 'start' })
    await sim.finish('draft', ok({ value: 'first' }))
    assert.ok(sim.last.actions.some((a) => a.type === 'decide' && a.decision.by === 'auto'))
    assert.deepEqual(
      sim.events().filter((e) => e.startsWith('approval')),
      ['approval.requested review', 'approval.resolved review'],
    )
    assert.equal(sim.status('review'), 'succeeded')
    assert.deepEqual(sim.dispatched(), ['after'])
  })

  it('reject fails the gate and the run', async () => {
    const sim = new Sim(await pipeline(gated), { interactive: true })
    await sim.apply({ type: 'start' })
    await sim.finish('draft', ok({ value: 'first' }))
    await sim.decide('review', 0, { decision: 'reject', feedback: 'off brief', by: 'ann' })
    assert.equal(sim.state.run.nodes.review!.error!.code, 'APPROVAL_REJECTED')
    assert.equal(sim.status('after'), 'skipped')
    assert.equal(sim.state.run.status, 'failed')
  })
})

describe('fleet step: approval gates per fan-out item', () => {
  const perItem = `
pipeline: per_item
plugins: [$WORK]
nodes:
  f:
    type: fan_out
    items: [0, 1, 2]
    on_item_error: collect
    steps:
      draft: { type: work, value: "\${{ 'scene ' + string(item) }}" }
      review: { type: approval, gate: draft, path: value, max_revisions: 1 }
    result: \${{ steps.review.output.value }}
`

  it("each item waits at `f[i].review`; revise runs that item's step again as a task of its own; reject fails only that item", async () => {
    const sim = new Sim(await pipeline(perItem), { interactive: true })
    await sim.apply({ type: 'start' })
    assert.deepEqual(sim.dispatched().sort(), ['f[0].draft', 'f[1].draft', 'f[2].draft'])
    for (const i of [0, 1, 2]) await sim.finish(`f[${i}].draft`, ok({ value: `scene ${i}` }))
    assert.deepEqual(
      Object.values(sim.state.gates)
        .map((g) => g.request.gate)
        .sort(),
      ['f[0].review', 'f[1].review', 'f[2].review'],
    )
    assert.equal(sim.state.run.status, 'awaiting_approval')
    await sim.decide('f[1].review', 0, { decision: 'revise', feedback: 'brighter', by: 'ann' })
    assert.deepEqual(sim.dispatched(), ['f[1].draft#r1'])
    assert.deepEqual(sim.state.tasks['f[1].draft#r1']!.spec!.revision, { round: 1, feedback: 'brighter', previous: 'scene 1' })
    await sim.finish('f[1].draft#r1', ok({ value: 'scene 1, brighter' }))
    assert.equal(sim.state.gates[gateKey('f[1].review', 1)]!.request.value, 'scene 1, brighter')
    assert.deepEqual(sim.state.gates[gateKey('f[1].review', 1)]!.request.allowed, ['approve', 'reject'])
    await sim.decide('f[2].review', 0, { decision: 'reject', feedback: 'off brief', by: 'ann' })
    await sim.decide('f[0].review', 0, { decision: 'approve', by: 'ann' })
    assert.equal(sim.state.run.status, 'awaiting_approval', 'f[1] still waits')
    await sim.decide('f[1].review', 1, { decision: 'approve', by: 'ann' })
    assert.equal(sim.state.run.status, 'completed')
    const out = sim.state.run.nodes.f!.output as { results: unknown[]; failed: Array<{ index: number; error: { code: string } }> }
    assert.deepEqual(out.results, ['scene 0', 'scene 1, brighter', null])
    assert.deepEqual(
      out.failed.map((x) => [x.index, x.error.code]),
      [[2, 'APPROVAL_REJECTED']],
    )
  })
})

describe('fleet step: approval gates per fan-out item, under on_item_error: fail', () => {
  it('a rejection fails the fan-out at once, while the other items still wait at their gates', async () => {
    const p = await pipeline(`
pipeline: per_item_fail
plugins: [$WORK]
nodes:
  f:
    type: fan_out
    items: [0, 1]
    on_item_error: fail
    steps:
      draft: { type: work }
      review: { type: approval, gate: draft, path: value }
    result: \${{ steps.review.output.value }}
`)
    const sim = new Sim(p, { interactive: true })
    await sim.apply({ type: 'start' })
    for (const i of [0, 1]) await sim.finish(`f[${i}].draft`, ok({ value: `scene ${i}` }))
    assert.equal(sim.state.run.status, 'awaiting_approval')
    await sim.decide('f[0].review', 0, { decision: 'reject', feedback: 'no', by: 'ann' })
    assert.equal(sim.status('f'), 'failed')
    assert.equal(sim.state.run.nodes.f!.error!.code, 'FAN_OUT_ITEM_FAILED')
    assert.equal(sim.state.run.status, 'failed')
  })
})

describe("fleet step: a revision at an item's gate", () => {
  it('runs the reviewed step again, then each step between it and the gate, as tasks of that round', async () => {
    const sim = new Sim(
      await pipeline(`
pipeline: between
plugins: [$WORK]
nodes:
  f:
    type: fan_out
    items: [0]
    steps:
      draft: { type: work, value: "\${{ 'scene ' + string(item) }}" }
      polish: { type: work, value: "\${{ steps.draft.output.value + ', polished' }}" }
      review: { type: approval, gate: draft, needs: [polish] }
    result: \${{ steps.polish.output.value }}
`),
      { interactive: true },
    )
    await sim.apply({ type: 'start' })
    await sim.finish('f[0].draft', ok({ value: 'scene 0' }))
    await sim.finish('f[0].polish', ok({ value: 'scene 0, polished' }))
    await sim.decide('f[0].review', 0, { decision: 'revise', feedback: 'warmer', by: 'ann' })
    assert.deepEqual(sim.dispatched(), ['f[0].draft#r1'])
    await sim.finish('f[0].draft#r1', ok({ value: 'scene 0, warmer' }))
    assert.deepEqual(sim.dispatched(), ['f[0].polish#r1'], 'the step between runs again on the revised draft')
    assert.deepEqual(sim.state.tasks['f[0].polish#r1']!.spec!.config, { value: 'scene 0, warmer, polished' })
    await sim.finish('f[0].polish#r1', ok({ value: 'scene 0, warmer, polished' }))
    await sim.decide('f[0].review', 1, { decision: 'approve', by: 'ann' })
    assert.equal(sim.state.run.status, 'completed')
    assert.deepEqual((sim.state.run.nodes.f!.output as { results: unknown[] }).results, ['scene 0, warmer, polished'])
  })
})
