import { offlineSettings } from '../../engine/providers.ts'
import { describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { mkdtempSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import path from 'node:path'
import { createGenerationService } from '../../server/generation-service.ts'
import { MemoryRunStore } from '../../engine/adapters/memory-store.ts'
import { InlineExecutor } from '../../engine/adapters/inline-executor.ts'
import type { RunEvent } from '../../engine/ports.ts'
import { fixtures, workPlugin } from '../helpers.ts'

const served = path.join(fixtures, 'served')

async function service(store = new MemoryRunStore()) {
  const svc = await createGenerationService({
    store,
    dataDir: mkdtempSync(path.join(tmpdir(), 'weft-svc-')),
    pipelinesDir: served,
    owner: 'test-owner',
    executor: new InlineExecutor(),
    providers: offlineSettings,
    decisionPollMs: 20,
    fetchAssets: async () => ({}),
  })
  return { svc, store }
}

/** Resolves with the first event of `type` in the session (events already seen are kept in `seen`). */
function waitFor(svc: Awaited<ReturnType<typeof service>>['svc'], sessionId: string, type: string, seen: RunEvent[] = []): Promise<RunEvent> {
  return new Promise((resolve) => {
    const off = svc.subscribe(sessionId, (e) => {
      seen.push(e)
      if (e.type === type) {
        off()
        resolve(e)
      }
    })
  })
}

const code = (p: Promise<unknown>) =>
  p.then(
    () => 'resolved',
    (e: { code?: string }) => e.code,
  )

describe('GenerationService', () => {
  it('refuses config values a node cannot take before recording anything (CONFIG_INVALID, each at its node field)', async () => {
    const store = new MemoryRunStore()
    const svc = await createGenerationService({
      store,
      dataDir: mkdtempSync(path.join(tmpdir(), 'weft-svc-')),
      pipelinesDir: path.join(fixtures, '..', '..', 'pipelines'),
      owner: 'test-owner',
      executor: new InlineExecutor(),
      providers: offlineSettings,
      fetchAssets: async () => ({}),
    })
    try {
      const err = await svc.start({ pipeline: 'default', inputs: { prompt: 'Fizz' }, config: { 'critic.story_threshold': 500, 'parallel.max_concurrent': 0 }, interactive: false }).then(
        () => undefined,
        (e: { code: string; details: { issues: Array<{ path: string }> } }) => e,
      )
      assert.equal(err?.code, 'CONFIG_INVALID')
      assert.deepEqual(
        err?.details.issues.map((i) => i.path),
        ['nodes.story.threshold', 'nodes.references.concurrency', 'nodes.videos.concurrency'],
      )
      assert.deepEqual(await store.listRuns({}), [])
    } finally {
      await svc.close()
    }
  })

  it("gives a generation's pipeline as a graph, the pipelines with their nodes, and a pipeline's text", async () => {
    const { svc } = await service()
    const { generationId } = await svc.start({ pipeline: 'gated', inputs: { prompt: 'Fizz' }, config: {}, interactive: false })
    // `review` reads `story` through its gate, `after` reads the review's output in an expression
    assert.deepEqual(await svc.graph(generationId), [
      { id: 'story', type: 'drafter', needs: [] },
      { id: 'review', type: 'approval', needs: ['story'] },
      { id: 'after', type: 'drafter', needs: ['review'] },
    ])
    assert.equal(await svc.graph('no-such-generation'), undefined)
    const gated = (await svc.listPipelines()).find((p) => p.name === 'gated')!
    assert.deepEqual(
      gated.nodes.map((n) => n.id),
      ['story', 'review', 'after'],
    )
    assert.match(await svc.pipelineSource('gated'), /^pipeline: gated$/m)
    assert.equal(await code(svc.pipelineSource('../served/gated')), 'PIPELINE_NOT_FOUND')
    assert.equal(await code(svc.pipelineSource('nope')), 'PIPELINE_NOT_FOUND')
  })

  it('starts an interactive generation, streams its events by session, and applies a decision exactly once', async () => {
    const { svc } = await service()
    const sessionId = 'session-1'
    const events: RunEvent[] = []
    const asked = waitFor(svc, sessionId, 'approval.requested', events)
    const { generationId } = await svc.start({ pipeline: 'gated', inputs: { prompt: 'Fizz' }, config: {}, interactive: true, sessionId })
    const request = await asked
    assert.equal(request.payload.gate, 'review')
    assert.deepEqual(await svc.pendingApprovals(generationId).then((a) => a.map((x) => [x.gate, x.value])), [['review', 'Fizz']])
    const completed = waitFor(svc, sessionId, 'run.completed', events)
    const first = await svc.decide(generationId, 'review', { decision: 'approve', edits: 'Fizz!', by: 'ada' })
    assert.deepEqual(first, { applied: true, decision: { decision: 'approve', edits: 'Fizz!', by: 'ada' } })
    await completed
    const repeat = await svc.decide(generationId, 'review', { decision: 'reject', by: 'ada' })
    assert.deepEqual(repeat, { applied: false, decision: { decision: 'approve', edits: 'Fizz!', by: 'ada' } })
    const record = await svc.get(generationId)
    assert.equal(record?.status, 'completed')
    assert.equal(record?.session_id, sessionId)
    assert.deepEqual(record?.outputs, { approved: 'Fizz!' })
    // the live events are the stored ones, in order
    const stored = await svc.events(generationId, 0)
    assert.deepEqual(
      events.map((e) => e.seq),
      stored.map((e) => e.seq),
    )
    assert.deepEqual(await svc.sessionGenerations(sessionId), [generationId])
    await svc.close()
  })

  it('refuses what does not fit: unknown pipeline, inputs, config keys, decisions', async () => {
    const { svc } = await service()
    assert.equal(await code(svc.start({ pipeline: 'nope', inputs: { prompt: 'x' }, config: {}, interactive: false })), 'PIPELINE_NOT_FOUND')
    const bad = await svc.start({ pipeline: 'gated', inputs: { prompt: 'x', framework: 'XYZ' }, config: {}, interactive: false }).catch((e) => e)
    assert.equal(bad.code, 'INPUT_INVALID')
    assert.deepEqual(
      bad.details.issues.map((i: { path: string }) => i.path),
      ['inputs.framework'],
    )
    const cfg = await svc.start({ pipeline: 'gated', inputs: { prompt: 'x' }, config: { 'quality.nope': 1 }, interactive: false }).catch((e) => e)
    assert.equal(cfg.code, 'CONFIG_UNKNOWN')
    assert.deepEqual(
      cfg.details.issues.map((i: { path: string }) => i.path),
      ['config.quality.nope'],
    )

    const sessionId = 's2'
    const asked = waitFor(svc, sessionId, 'approval.requested')
    const { generationId } = await svc.start({ pipeline: 'gated', inputs: { prompt: 'x' }, config: {}, interactive: true, sessionId })
    await asked
    assert.equal(await code(svc.decide(generationId, 'story', { decision: 'approve' })), 'NOT_FOUND', 'a node that is no gate')
    assert.equal(await code(svc.decide(generationId, 'reveiw', { decision: 'approve' })), 'NOT_FOUND', 'a typo')
    assert.equal(await code(svc.decide(generationId, 'review', { decision: 'approve', revision: 5 })), 'GATE_NOT_WAITING', 'a gate, not waiting at that revision')
    assert.equal(await code(svc.decide(generationId, 'review', { decision: 'revise' })), 'DECISION_INVALID')
    assert.equal(await code(svc.decide('no-such-id', 'review', { decision: 'approve' })), 'NOT_FOUND')
    await svc.cancel(generationId)
    const cancelled = await svc.get(generationId)
    assert.equal(cancelled?.status, 'cancelled')
    assert.deepEqual([cancelled?.error?.code, cancelled?.error?.message], ['CANCELLED', 'cancelled by request'], 'why, not "This operation was aborted"')
    assert.equal(await code(svc.decide(generationId, 'review', { decision: 'approve' })), 'RUN_FINISHED')
    assert.equal(await code(svc.cancel(generationId)), 'RUN_FINISHED')
    // with a reason: recorded as the generation's error
    const askedAgain = waitFor(svc, 's3', 'approval.requested')
    const second = await svc.start({ pipeline: 'gated', inputs: { prompt: 'x' }, config: {}, interactive: true, sessionId: 's3' })
    await askedAgain
    await svc.cancel(second.generationId, 'wrong brief')
    assert.equal((await svc.get(second.generationId))?.error?.message, 'cancelled: wrong brief')
    await svc.close()
  })

  it('an automated generation decides its gates by policy and completes', async () => {
    const { svc } = await service()
    const done = waitFor(svc, 'auto', 'run.completed')
    const { generationId } = await svc.start({ pipeline: 'gated', inputs: { prompt: 'auto' }, config: {}, interactive: false, sessionId: 'auto' })
    await done
    assert.equal((await svc.get(generationId))?.status, 'completed')
    await svc.close()
  })

  it('pages the list with a cursor', async () => {
    const { svc } = await service()
    const ids: string[] = []
    for (let i = 0; i < 3; i++) {
      const done = waitFor(svc, `p${i}`, 'run.completed')
      ids.push((await svc.start({ pipeline: 'gated', inputs: { prompt: `p${i}` }, config: {}, interactive: false, sessionId: `p${i}` })).generationId)
      await done
    }
    const first = await svc.list({ limit: 2 })
    assert.equal(first.items.length, 2)
    assert.ok(first.next)
    const second = await svc.list({ limit: 2, cursor: first.next! })
    assert.equal(second.items.length, 1)
    assert.equal(second.next, undefined)
    assert.deepEqual(new Set([...first.items, ...second.items].map((r) => r.id)), new Set(ids))
    assert.equal(await code(svc.list({ limit: 2, cursor: 'garbage' })), 'CURSOR_INVALID')
    await svc.close()
  })

  it('resumes a generation left waiting by a stopped server; its gate is asked again and a decision completes it', async () => {
    const store = new MemoryRunStore()
    // the first server reaches the store through a line that goes dead: a process that stopped
    let dead = false
    const line = new Proxy(store, {
      get(target, prop, receiver) {
        const value = Reflect.get(target, prop, receiver)
        if (typeof value !== 'function') return value
        return (...args: unknown[]) => (dead ? new Promise(() => {}) : value.apply(target, args))
      },
    })
    const a = await service(line)
    const asked = waitFor(a.svc, 'r', 'approval.requested')
    const { generationId } = await a.svc.start({ pipeline: 'gated', inputs: { prompt: 'resume me' }, config: {}, interactive: true, sessionId: 'r' })
    await asked
    await a.svc.suspend() // it gives its lease up on the way out…
    dead = true // …and is gone
    const b = await service(store)
    const resumedAsk = waitFor(b.svc, 'r', 'approval.requested')
    assert.equal(await b.svc.resumeInterrupted(), 1)
    await resumedAsk
    assert.deepEqual(
      (await b.svc.pendingApprovals(generationId)).map((x) => x.gate),
      ['review'],
    )
    const done = waitFor(b.svc, 'r', 'run.completed')
    assert.equal((await b.svc.decide(generationId, 'review', { decision: 'approve', by: 'ada' })).applied, true)
    await done
    assert.equal((await store.getRun(generationId))?.status, 'completed')
    await b.svc.close()
  })
})

describe('GenerationService: races and abuse found in review', () => {
  it('a cancel that arrives while a gate is being opened returns, and the run ends cancelled with nothing left waiting', async () => {
    const store = new MemoryRunStore()
    let onGateWrite: (() => void) | undefined
    // the gate's write is held until the cancel has been issued
    let releaseWrite!: () => void
    const held = new Promise<void>((r) => (releaseWrite = r))
    const slow = new Proxy(store, {
      get(target, prop, receiver) {
        const value = Reflect.get(target, prop, receiver)
        if (prop !== 'write') return typeof value === 'function' ? value.bind(target) : value
        return async (batch: Array<{ kind: string }>) => {
          if (batch.some((w) => w.kind === 'approval.request')) {
            onGateWrite?.()
            await held
          }
          return target.write(batch as never)
        }
      },
    })
    const { svc } = await service(slow)
    const opening = new Promise<void>((resolve) => (onGateWrite = resolve))
    const { generationId } = await svc.start({ pipeline: 'gated', inputs: { prompt: 'x' }, config: {}, interactive: true, sessionId: 'c' })
    await opening
    const cancelling = svc.cancel(generationId)
    setImmediate(releaseWrite)
    await cancelling
    assert.equal((await svc.get(generationId))?.status, 'cancelled')
    assert.deepEqual(await svc.pendingApprovals(generationId), [])
    await svc.close()
  })

  it('a decision names the revision it answers: a retried revise is answered as a repeat, not applied to the next draft', async () => {
    const { svc } = await service()
    const seen: RunEvent[] = []
    const first = waitFor(svc, 'rv', 'approval.requested', seen)
    const { generationId } = await svc.start({ pipeline: 'gated', inputs: { prompt: 'Fizz' }, config: {}, interactive: true, sessionId: 'rv' })
    await first
    const second = new Promise<RunEvent>((resolve) => {
      const off = svc.subscribe('rv', (e) => {
        if (e.type === 'approval.requested' && e.payload.revision === 1) off(), resolve(e)
      })
    })
    assert.equal((await svc.decide(generationId, 'review', { decision: 'revise', feedback: 'shorter', revision: 0 })).applied, true)
    await second
    const retry = await svc.decide(generationId, 'review', { decision: 'revise', feedback: 'shorter', revision: 0 })
    assert.deepEqual(retry, { applied: false, decision: { decision: 'revise', feedback: 'shorter' } })
    assert.deepEqual(
      (await svc.pendingApprovals(generationId)).map((a) => a.revision),
      [1],
    )
    await svc.cancel(generationId)
    await svc.close()
  })

  it('edits must keep the kind of the value under review', async () => {
    const { svc } = await service()
    const asked = waitFor(svc, 'ed', 'approval.requested')
    const { generationId } = await svc.start({ pipeline: 'gated', inputs: { prompt: 'Fizz' }, config: {}, interactive: true, sessionId: 'ed' })
    await asked
    const bad = await svc.decide(generationId, 'review', { decision: 'approve', edits: { scenes: [] } }).catch((e) => e)
    assert.equal(bad.code, 'DECISION_INVALID')
    assert.deepEqual(
      bad.details.issues.map((i: { path: string }) => i.path),
      ['edits'],
    )
    await svc.cancel(generationId)
    await svc.close()
  })

  it('checks a request before fetching any brand asset, and leaves nothing on disk when a fetch is refused', async () => {
    const fetched: string[] = []
    const dataDir = mkdtempSync(path.join(tmpdir(), 'weft-svc-assets-'))
    const svc = await createGenerationService({
      store: new MemoryRunStore(),
      dataDir,
      pipelinesDir: served,
      owner: 'o',
      executor: new InlineExecutor(),
      providers: offlineSettings,
      fetchAssets: async (assets, dir) => {
        fetched.push(...(assets.product_images ?? []))
        const { mkdirSync, writeFileSync } = await import('node:fs')
        mkdirSync(dir, { recursive: true })
        writeFileSync(path.join(dir, 'product-1.png'), 'partial')
        throw Object.assign(new Error('refused'), { code: 'ASSET_UNREADABLE' })
      },
    })
    const assets = { product_images: ['https://cdn.example/p.png'] }
    assert.equal(await code(svc.start({ pipeline: 'gated', inputs: { prompt: 'x' }, config: { 'nope.key': 1 }, interactive: false, brandAssets: assets })), 'CONFIG_UNKNOWN')
    assert.equal(await code(svc.start({ pipeline: 'gated', inputs: { prompt: 'x', framework: 'XYZ' }, config: {}, interactive: false, brandAssets: assets })), 'INPUT_INVALID')
    assert.deepEqual(fetched, [])
    assert.equal(await code(svc.start({ pipeline: 'gated', inputs: { prompt: 'x' }, config: {}, interactive: false, brandAssets: assets })), 'ASSET_UNREADABLE')
    assert.deepEqual(fetched, ['https://cdn.example/p.png'])
    const { readdirSync } = await import('node:fs')
    assert.deepEqual(readdirSync(path.join(dataDir, 'runs')), [])
    await svc.close()
  })

  it('validating a pipeline sent by a client loads no plugins, reads no prompt folder of its choosing, and shows no server paths', async () => {
    const { svc } = await service()
    const res = await svc.validatePipeline('pipeline: x\nprompts: /etc\nplugins: [/tmp/evil.mjs]\nnodes:\n  a: { type: agent, prompt: nope }\n')
    assert.equal(res.valid, false)
    assert.deepEqual(
      res.diagnostics.map((d) => d.code),
      ['PROMPTS_NOT_ALLOWED', 'PLUGIN_NOT_ALLOWED', 'PROMPT_NOT_FOUND'],
    )
    for (const d of res.diagnostics) assert.doesNotMatch(`${d.file} ${d.message}`, /\/(work|tmp|etc|home|root)\//)
    await svc.close()
  })
})

describe('GenerationService.rerun', () => {
  const settle = async (svc: Awaited<ReturnType<typeof service>>['svc'], id: string) => {
    for (let i = 0; i < 500; i++) {
      const r = await svc.get(id)
      if (r && ['completed', 'failed', 'cancelled'].includes(r.status)) return r
      await new Promise((res) => setTimeout(res, 10))
    }
    throw new Error(`generation ${id} did not end`)
  }

  it("keeps the records upstream of `from` (the gate's decision too) and executes the node again, in the same session", async () => {
    const { svc } = await service()
    try {
      const first = await svc.start({ pipeline: 'gated', inputs: { prompt: 'Fizz' }, config: {}, interactive: false, sessionId: 'sess-r' })
      const before = await settle(svc, first.generationId)
      assert.equal(before.status, 'completed', JSON.stringify(before.error))
      const again = await svc.rerun(first.generationId, { from: 'after' })
      assert.equal(again.sessionId, 'sess-r')
      const after = await settle(svc, again.generationId)
      assert.equal(after.status, 'completed')
      assert.deepEqual(after.nodes.story!.output, before.nodes.story!.output, 'story kept as recorded')
      assert.deepEqual(after.nodes.review!.output, before.nodes.review!.output, 'the decision kept as recorded')
      const runsOf = (r: typeof before) => (r.nodes.after!.output as { runs: number }).runs
      assert.ok(runsOf(after) > runsOf(before), 'after executed again')
      assert.deepEqual(after.outputs, before.outputs)
      const events = await svc.events(again.generationId, 0)
      assert.deepEqual(events[0]!.payload, { pipeline: 'gated', nodes: 3, rerun_of: first.generationId, kept: ['story', 'review'] })
    } finally {
      await svc.close()
    }
  })

  it('refuses an unknown generation, an unknown node and a bad override before recording anything', async () => {
    const { svc, store } = await service()
    try {
      const first = await svc.start({ pipeline: 'gated', inputs: { prompt: 'Fizz' }, config: {}, interactive: false })
      await settle(svc, first.generationId)
      assert.equal(await code(svc.rerun('no-such-generation', {})), 'NOT_FOUND')
      assert.equal(await code(svc.rerun(first.generationId, { from: 'aftr' })), 'UNKNOWN_NODE')
      assert.equal(await code(svc.rerun(first.generationId, { config: { 'quality.nope': 1 } })), 'CONFIG_UNKNOWN')
      // a run of a pipeline file outside the served folder (a CLI run), whose plugins the server does not load
      const dir = mkdtempSync(path.join(tmpdir(), 'weft-outside-'))
      const file = path.join(dir, 'outside.yaml')
      writeFileSync(file, `pipeline: outside\nplugins: [${workPlugin}]\nnodes:\n  a: { type: work }\n`)
      const recorded = (await store.getRun(first.generationId))!
      await store.write([{ kind: 'run.create', run: { ...recorded, id: 'outside-run', pipeline: { name: 'outside', version: 1, file } } }])
      const refused = await svc.rerun('outside-run', {}).catch((e: unknown) => e as { code: string; message: string })
      assert.equal((refused as { code: string }).code, 'PIPELINE_NOT_FOUND')
      assert.match((refused as { message: string }).message, /outside this server's pipelines folder.*weft rerun outside-run/)
      assert.equal((await store.listRuns({})).length, 2)
    } finally {
      await svc.close()
    }
  })
})
