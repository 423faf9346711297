// The RunStore contract: the cases every store adapter (memory, SQLite, Postgres) must pass.
import { afterEach, beforeEach, describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { randomUUID } from 'node:crypto'
import type { NodeRecord, RunEvent, RunEventType, RunRecord, RunStore, StoreWrite } from '../../engine/ports.ts'

/** Opens a store for one test. It may be shared between tests: every case uses its own run ids. */
export type OpenStore = () => Promise<{ store: RunStore; cleanup(): Promise<void> }>

// Runs of the listing case are created "in the future", each call later than the last, so that they are
// the newest of a store shared with other cases.
let futureBase = Date.UTC(2900, 0, 1)
function futureTimes(n: number): string[] {
  futureBase += 86_400_000
  return Array.from({ length: n }, (_, i) => new Date(futureBase + i * 1000 + 7).toISOString())
}

export function node(id: string, fields: Partial<NodeRecord> = {}): NodeRecord {
  return { id, type: 'work', status: 'pending', attempts: 0, started_at: null, finished_at: null, duration_ms: null, output: null, error: null, ...fields }
}

/** A run as a driver creates it, with a fresh id. */
export function newRun(fields: Partial<RunRecord> = {}): RunRecord {
  return {
    id: randomUUID(),
    pipeline: { name: 'ad', version: 1, file: '/pipelines/ad.yaml' },
    status: 'running',
    interactive: false,
    inputs: { prompt: 'a red bicycle', framework: 'AIDA', brand_assets: ['logo.png'] },
    config: { stages: { story: true, videos: false }, max_iterations: { story: 3 } },
    outputs: null,
    error: null,
    current_stage: null,
    created_at: '2026-03-04T05:06:07.089Z',
    started_at: '2026-03-04T05:06:07.089Z',
    finished_at: null,
    nodes: { story: node('story', { stage: 'story' }), scenes: node('scenes', { type: 'critic_loop', stage: 'scenes' }) },
    ...fields,
  }
}

export function event(runId: string, seq: number, type: RunEventType = 'node.progress', fields: Partial<RunEvent> = {}): RunEvent {
  return { seq, run_id: runId, type, timestamp: new Date(Date.UTC(2026, 2, 4, 5, 6, 7, seq)).toISOString(), payload: { seq }, ...fields }
}

const create = (run: RunRecord): StoreWrite => ({ kind: 'run.create', run })
const ev = (e: RunEvent): StoreWrite => ({ kind: 'event', event: e })
const codeOf = (code: string) => (err: unknown) => (err as { code?: unknown }).code === code

export function runStoreContract(name: string, open: OpenStore): void {
  describe(`RunStore contract: ${name}`, () => {
    let store: RunStore
    let cleanup: () => Promise<void>
    beforeEach(async () => {
      ;({ store, cleanup } = await open())
    })
    afterEach(async () => {
      await cleanup()
    })

    it('returns a created run exactly as it was given, and a copy of it', async () => {
      const run = newRun({ nodes: { a: node('a', { stage: 'story' }), b: node('b', { status: 'skipped', skip_reason: 'when was false' }) } })
      const other = newRun({ pipeline: { name: 'ad', version: '2.0-beta', file: '/p.yaml' }, interactive: true, current_stage: 'story', started_at: null, folder: '/runs/out/r1' })
      await store.write([create(run), ev(event(run.id, 1, 'run.started'))])
      await store.write([create(other)])
      assert.deepEqual(await store.getRun(run.id), run)
      assert.deepEqual(await store.getRun(other.id), other)

      const got = (await store.getRun(run.id))!
      got.status = 'failed'
      got.nodes.a!.status = 'failed'
      ;(got.inputs as { prompt: string }).prompt = 'changed'
      assert.deepEqual(await store.getRun(run.id), run)
    })

    it('answers undefined and no events for an unknown run', async () => {
      assert.equal(await store.getRun(randomUUID()), undefined)
      assert.deepEqual(await store.listEvents(randomUUID()), [])
    })

    it('replaces a node on each node.update, and adds a node it did not know', async () => {
      const run = newRun()
      await store.write([create(run)])
      const story = node('story', {
        status: 'succeeded',
        attempts: 2,
        stage: 'story',
        output: { text: 'once upon a time', score: 0.87 },
        started_at: '2026-03-04T05:06:08.001Z',
        finished_at: '2026-03-04T05:06:09.250Z',
        duration_ms: 1249,
      })
      await store.write([{ kind: 'node.update', runId: run.id, node: story }])
      assert.deepEqual((await store.getRun(run.id))!.nodes, { ...run.nodes, story })

      const failed = node('story', { status: 'failed', attempts: 3, error: { code: 'NODE_TIMEOUT', message: 'too slow', details: { timeout_ms: 5 }, retryable: false } })
      const extra = node('extra', { status: 'skipped', skip_reason: 'run failed' })
      await store.write([
        { kind: 'node.update', runId: run.id, node: failed },
        { kind: 'node.update', runId: run.id, node: extra },
      ])
      assert.deepEqual((await store.getRun(run.id))!.nodes, { story: failed, scenes: run.nodes.scenes, extra })
    })

    it('changes only the patched fields on run.update', async () => {
      const run = newRun()
      await store.write([create(run)])
      await store.write([{ kind: 'run.update', runId: run.id, patch: { status: 'awaiting_approval', current_stage: 'story' } }])
      assert.deepEqual(await store.getRun(run.id), { ...run, status: 'awaiting_approval', current_stage: 'story' })

      const end = {
        status: 'completed' as const,
        current_stage: 'videos',
        finished_at: '2026-03-04T06:00:00.000Z',
        outputs: { story_text: 'the story', scenes: [{ n: 1 }], final_video: '/out/final.mp4' },
      }
      await store.write([
        { kind: 'run.update', runId: run.id, patch: { status: 'running' } },
        { kind: 'run.update', runId: run.id, patch: end },
      ])
      assert.deepEqual(await store.getRun(run.id), { ...run, ...end })

      const error = { code: 'NODE_FAILED', message: 'scenes failed' }
      await store.write([{ kind: 'run.update', runId: run.id, patch: { status: 'failed', error, outputs: null } }])
      assert.deepEqual(await store.getRun(run.id), { ...run, ...end, status: 'failed', error, outputs: null })

      await store.write([{ kind: 'run.update', runId: run.id, patch: { folder: '/elsewhere/r' } }])
      assert.deepEqual(await store.getRun(run.id), { ...run, ...end, status: 'failed', error, outputs: null, folder: '/elsewhere/r' })
    })

    it("lists a run's events in order, after a given seq", async () => {
      const run = newRun()
      const other = newRun()
      const mine = [
        event(run.id, 1, 'run.started'),
        event(run.id, 2, 'node.started', { node: 'story' }),
        event(run.id, 3, 'node.completed', { node: 'story', payload: { output: { text: 'x' } } }),
        event(run.id, 4),
        event(run.id, 5, 'run.completed'),
      ]
      await store.write([create(run), create(other), ev(mine[0]!), ev(event(other.id, 1)), ev(mine[1]!)])
      await store.write([ev(mine[2]!), ev(event(other.id, 2)), ev(mine[3]!), ev(mine[4]!)])
      assert.deepEqual(await store.listEvents(run.id), mine)
      assert.deepEqual(await store.listEvents(run.id, 0), mine)
      assert.deepEqual(await store.listEvents(run.id, 3), mine.slice(3))
      assert.deepEqual(await store.listEvents(run.id, 5), [])
      assert.deepEqual(
        (await store.listEvents(other.id)).map((e) => e.seq),
        [1, 2],
      )
    })

    it('keeps the last of many updates of one node in a batch, and all its events', async () => {
      const run = newRun()
      const batch: StoreWrite[] = [create(run), ev(event(run.id, 1, 'run.started'))]
      for (let i = 1; i <= 50; i++) {
        batch.push({ kind: 'node.update', runId: run.id, node: node('story', { status: 'running', attempts: i, stage: 'story' }) })
        batch.push(ev(event(run.id, i + 1, 'node.retrying', { node: 'story' })))
      }
      batch.push({ kind: 'run.update', runId: run.id, patch: { status: 'failed' } })
      await store.write(batch)
      const got = (await store.getRun(run.id))!
      assert.equal(got.status, 'failed')
      assert.deepEqual(got.nodes.story, node('story', { status: 'running', attempts: 50, stage: 'story' }))
      assert.deepEqual(got.nodes.scenes, run.nodes.scenes)
      assert.deepEqual(
        (await store.listEvents(run.id)).map((e) => e.seq),
        Array.from({ length: 51 }, (_, i) => i + 1),
      )
    })

    it('lists runs newest first, by status, up to a limit', async () => {
      const times = futureTimes(4)
      const runs = [
        newRun({ created_at: times[0]!, status: 'completed' }),
        newRun({ created_at: times[1]!, status: 'failed', error: { code: 'NODE_FAILED', message: 'no' } }),
        newRun({ created_at: times[2]!, status: 'completed', outputs: { story_text: 's' } }),
        newRun({ created_at: times[3]!, status: 'running' }),
      ]
      // created out of order: the listing orders by created_at, not by insertion
      await store.write([create(runs[2]!), create(runs[0]!)])
      await store.write([create(runs[3]!), create(runs[1]!)])
      const mine = new Set(runs.map((r) => r.id))
      const ids = (list: RunRecord[]) => list.filter((r) => mine.has(r.id)).map((r) => r.id)

      const all = await store.listRuns()
      assert.deepEqual(ids(all), [runs[3]!.id, runs[2]!.id, runs[1]!.id, runs[0]!.id])
      for (let i = 1; i < all.length; i++) assert.ok(all[i - 1]!.created_at >= all[i]!.created_at, 'newest first')
      assert.deepEqual(
        all.find((r) => r.id === runs[2]!.id),
        runs[2],
      )

      assert.deepEqual(
        (await store.listRuns({ limit: 2 })).map((r) => r.id),
        [runs[3]!.id, runs[2]!.id],
      )
      const completed = await store.listRuns({ status: 'completed' })
      assert.ok(completed.every((r) => r.status === 'completed'))
      assert.deepEqual(ids(completed), [runs[2]!.id, runs[0]!.id])
      assert.deepEqual(await store.listRuns({ status: 'completed', limit: 1 }), [runs[2]])
      assert.deepEqual(
        (await store.listRuns({ status: 'running', limit: 1 })).map((r) => r.id),
        [runs[3]!.id],
      )
      assert.deepEqual(await store.listRuns({ limit: 0 }), [])
    })

    it('applies a batch whose last write fails not at all, and rejects it', async () => {
      const fresh = newRun()
      await assert.rejects(
        store.write([create(fresh), { kind: 'node.update', runId: fresh.id, node: node('story', { status: 'running' }) }, ev(event(fresh.id, 1)), ev(event(randomUUID(), 1))]),
        codeOf('RUN_NOT_FOUND'),
      )
      assert.equal(await store.getRun(fresh.id), undefined)
      assert.deepEqual(await store.listEvents(fresh.id), [])

      const run = newRun()
      await store.write([create(run), ev(event(run.id, 1, 'run.started'))])
      await assert.rejects(
        store.write([
          { kind: 'run.update', runId: run.id, patch: { status: 'completed', outputs: { a: 1 } } },
          { kind: 'node.update', runId: run.id, node: node('story', { status: 'succeeded', output: 'x' }) },
          ev(event(run.id, 2)),
          create({ ...run, status: 'pending' }),
        ]),
        codeOf('RUN_EXISTS'),
      )
      assert.deepEqual(await store.getRun(run.id), run)
      assert.deepEqual(
        (await store.listEvents(run.id)).map((e) => e.seq),
        [1],
      )

      const twice = newRun()
      await assert.rejects(store.write([create(twice), create(twice)]), codeOf('RUN_EXISTS'))
      assert.equal(await store.getRun(twice.id), undefined)
      await assert.rejects(store.write([{ kind: 'run.update', runId: randomUUID(), patch: { status: 'failed' } }]), codeOf('RUN_NOT_FOUND'))
      await assert.rejects(store.write([{ kind: 'node.update', runId: randomUUID(), node: node('a') }]), codeOf('RUN_NOT_FOUND'))
      // a write before its run's run.create, in one batch
      const late = newRun()
      await assert.rejects(store.write([ev(event(late.id, 1)), create(late)]), codeOf('RUN_NOT_FOUND'))
      assert.equal(await store.getRun(late.id), undefined)
    })

    it('keeps large values and JSON-looking strings as they are', async () => {
      const big = 'x'.repeat(1 << 20) + 'end'
      const values = {
        big,
        json_text: '{"a":1}',
        number_text: '42',
        true_text: 'true',
        null_text: 'null',
        quoted: '"q"',
        empty: '',
        numbers: [0, -1, 0.1, 1e21, Number.MAX_SAFE_INTEGER, -Number.MAX_SAFE_INTEGER],
        flags: [true, false, null],
        nested: { a: [{ b: [[]] }], c: {} },
      }
      const run = newRun({ inputs: { prompt: '42', n: 42 }, nodes: { text: node('text', { output: '42' }), list: node('list', { output: [1, '1'] }) } })
      await store.write([create(run)])
      await store.write([
        { kind: 'node.update', runId: run.id, node: node('big', { status: 'succeeded', output: values }) },
        { kind: 'run.update', runId: run.id, patch: { status: 'completed', outputs: values } },
        ev(event(run.id, 1, 'node.completed', { node: 'big', payload: { output: values } })),
      ])
      const got = (await store.getRun(run.id))!
      assert.deepEqual(got.outputs, values)
      assert.equal((got.outputs!.big as string).length, (1 << 20) + 3)
      assert.deepEqual(got.nodes.big!.output, values)
      assert.equal(got.nodes.text!.output, '42')
      assert.deepEqual(got.nodes.list!.output, [1, '1'])
      assert.deepEqual(got.inputs, { prompt: '42', n: 42 })
      assert.deepEqual((await store.listEvents(run.id))[0]!.payload, { output: values })
    })

    it('keeps unicode in names, ids, keys and values', async () => {
      const text = 'Ünïcödé 🎬🚲 日本語の広告 עברית العربية e\u0301 \u{1F468}\u200D\u{1F469}\u200D\u{1F467} \t"quotes" \\ back'
      const run = newRun({
        pipeline: { name: 'anúncio-🎬', version: 'v1 ✓', file: '/pipelines/ünï/广告.yaml' },
        inputs: { prompt: text, 'clé-🔑': ['ß', 'İ', 'ﬁ'] },
        current_stage: 'escena-1',
        nodes: { '场景-1': node('场景-1', { stage: 'escena-1', type: 'agent' }) },
      })
      await store.write([create(run), ev(event(run.id, 1, 'node.started', { node: '场景-1', payload: { note: text } }))])
      await store.write([{ kind: 'node.update', runId: run.id, node: node('🎬', { status: 'failed', error: { code: 'NODE_FAILED', message: text } }) }])
      assert.deepEqual(await store.getRun(run.id), { ...run, nodes: { ...run.nodes, '🎬': node('🎬', { status: 'failed', error: { code: 'NODE_FAILED', message: text } }) } })
      assert.deepEqual(await store.listEvents(run.id), [event(run.id, 1, 'node.started', { node: '场景-1', payload: { note: text } })])
    })

    it('leases a run to one owner at a time; an expired lease can be taken over', async () => {
      const run = newRun()
      await store.write([create(run)])
      assert.equal(await store.claimRun(run.id, 'p1', 60_000), true)
      assert.equal(await store.claimRun(run.id, 'p2', 60_000), false, 'held by p1')
      assert.equal(await store.claimRun(run.id, 'p1', 60_000), true, 'the holder renews')
      await store.releaseRun(run.id, 'p2')
      assert.equal(await store.claimRun(run.id, 'p2', 60_000), false, 'only the holder releases')
      await store.releaseRun(run.id, 'p1')
      assert.equal(await store.claimRun(run.id, 'p2', 50), true, 'released: free to take')
      await new Promise((r) => setTimeout(r, 120))
      assert.equal(await store.claimRun(run.id, 'p3', 60_000), true, 'expired: free to take')
      assert.equal(await store.claimRun('no-such-run', 'p1', 60_000), false)
    })

    it('tells who holds a lease and until when, and nothing once it is released or expired', async () => {
      const run = newRun()
      await store.write([create(run)])
      assert.equal(await store.leaseHolder(run.id), undefined, 'never leased')
      const before = Date.now()
      assert.equal(await store.claimRun(run.id, 'p1', 60_000), true)
      const holder = await store.leaseHolder(run.id)
      assert.equal(holder?.owner, 'p1')
      assert.equal(holder?.pid, process.pid, 'taken by this process')
      assert.equal(typeof holder?.host, 'string')
      const until = Date.parse(holder!.until)
      // the store's clock may be the database's: allow it a second of skew
      assert.ok(until >= before + 59_000 && until <= Date.now() + 61_000, `expires ${holder!.until}`)
      await store.releaseRun(run.id, 'p1')
      assert.equal(await store.leaseHolder(run.id), undefined, 'released')
      assert.equal(await store.claimRun(run.id, 'p2', 50), true)
      await new Promise((r) => setTimeout(r, 120))
      assert.equal(await store.leaseHolder(run.id), undefined, 'expired')
      assert.equal(await store.leaseHolder('no-such-run'), undefined)
    })

    it('keeps one approval request per gate and revision, and records a decision exactly once', async () => {
      const run = newRun()
      const request = { runId: run.id, gate: 'approve_story', value: { text: 'draft' }, allowed: ['approve', 'reject', 'revise'] as Array<'approve' | 'reject' | 'revise'>, revision: 0 }
      await store.write([create(run), { kind: 'approval.request', runId: run.id, request }])
      // asked again (a resumed gate): ignored, the first request stands
      await store.write([{ kind: 'approval.request', runId: run.id, request: { ...request, value: 'other' } }])
      const pending = await store.pendingApprovals(run.id)
      assert.deepEqual(
        pending.map((p) => [p.request.gate, p.request.revision, p.request.value, p.decision]),
        [['approve_story', 0, { text: 'draft' }, null]],
      )
      const first = await store.decideApproval(run.id, 'approve_story', 0, { decision: 'revise', feedback: 'more fizz', by: 'ada' })
      assert.deepEqual(first, { applied: true, decision: { decision: 'revise', feedback: 'more fizz', by: 'ada' } })
      const again = await store.decideApproval(run.id, 'approve_story', 0, { decision: 'approve', by: 'bob' })
      assert.deepEqual(again, { applied: false, decision: { decision: 'revise', feedback: 'more fizz', by: 'ada' } })
      assert.deepEqual(await store.pendingApprovals(run.id), [])
      const stored = await store.getApproval(run.id, 'approve_story', 0)
      assert.equal(stored?.decision?.decision, 'revise')
      assert.ok(stored?.decided_at)
      assert.equal(await store.getApproval(run.id, 'approve_story', 1), undefined)
      // the latest request of a gate, decided or not
      assert.equal((await store.lastApproval(run.id, 'approve_story'))?.request.revision, 0)
      await store.write([{ kind: 'approval.request', runId: run.id, request: { ...request, revision: 1, value: 'second' } }])
      const last = await store.lastApproval(run.id, 'approve_story')
      assert.deepEqual([last?.request.revision, last?.request.value, last?.decision], [1, 'second', null])
      assert.equal(await store.lastApproval(run.id, 'nope'), undefined)
      assert.equal(await store.decideApproval(run.id, 'nope', 0, { decision: 'approve' }), undefined)
    })

    it("keeps a run's task results by key: a later one replaces it, a refused batch keeps none, another run sees none", async () => {
      const run = newRun()
      const result = (key: string, output: unknown, print = 'p1'): StoreWrite => ({
        kind: 'task.result',
        runId: run.id,
        result: { key, node: 'clips', print, outcome: { ok: true, output, usage: { model_calls: 0, input_tokens: 0, output_tokens: 0, images: 0, video_s: 5, cost_usd: 0.25, unpriced: 0 } } },
      })
      await store.write([create(run), result('clips[0]', { path: '/runs/a/0.mp4' }), result('clips[1]', 'ünïcode ✓')])
      // the same task again (a resumed run executed it anew): the later result stands
      await store.write([result('clips[0]', { path: '/runs/a/0b.mp4' }, 'p2'), result('clips[0]', { path: '/runs/a/0c.mp4' }, 'p3')])
      const byKey = (rs: Awaited<ReturnType<RunStore['taskResults']>>) => rs.sort((a, b) => a.key.localeCompare(b.key))
      assert.deepEqual(byKey(await store.taskResults(run.id)), [
        {
          key: 'clips[0]',
          node: 'clips',
          print: 'p3',
          outcome: { ok: true, output: { path: '/runs/a/0c.mp4' }, usage: { model_calls: 0, input_tokens: 0, output_tokens: 0, images: 0, video_s: 5, cost_usd: 0.25, unpriced: 0 } },
        },
        {
          key: 'clips[1]',
          node: 'clips',
          print: 'p1',
          outcome: { ok: true, output: 'ünïcode ✓', usage: { model_calls: 0, input_tokens: 0, output_tokens: 0, images: 0, video_s: 5, cost_usd: 0.25, unpriced: 0 } },
        },
      ])
      // refused with the rest of its batch
      await assert.rejects(store.write([result('clips[2]', 2), ev(event(randomUUID(), 1))]), codeOf('RUN_NOT_FOUND'))
      assert.deepEqual((await store.taskResults(run.id)).map((r) => r.key).sort(), ['clips[0]', 'clips[1]'])
      await assert.rejects(store.write([{ kind: 'task.result', runId: randomUUID(), result: { key: 'k', node: 'n', print: 'p', outcome: { ok: true, output: 1 } } }]), codeOf('RUN_NOT_FOUND'))
      assert.deepEqual(await store.taskResults(newRun().id), [])
    })

    it('of many concurrent decisions on one gate, exactly one is applied', async () => {
      const run = newRun()
      const request = { runId: run.id, gate: 'g', value: 1, allowed: ['approve', 'reject'] as Array<'approve' | 'reject'>, revision: 0 }
      await store.write([create(run), { kind: 'approval.request', runId: run.id, request }])
      const results = await Promise.all(Array.from({ length: 8 }, (_, i) => store.decideApproval(run.id, 'g', 0, { decision: i % 2 ? 'approve' : 'reject', by: `u${i}` })))
      assert.equal(results.filter((r) => r?.applied).length, 1)
      const winner = results.find((r) => r?.applied)!.decision
      for (const r of results) assert.deepEqual(r?.decision, winner)
    })

    it('lists runs leaving out those one owner holds (unleased runs and other owners are listed)', async () => {
      const a = newRun({ created_at: '2026-01-01T00:00:01.000Z', session_id: 's9' })
      const b = newRun({ created_at: '2026-01-01T00:00:02.000Z', session_id: 's9' })
      const c = newRun({ created_at: '2026-01-01T00:00:03.000Z', session_id: 's9' })
      await store.write([create(a), create(b), create(c)])
      assert.equal(await store.claimRun(a.id, 'elsewhere', 60_000), true)
      assert.equal(await store.claimRun(b.id, 'p1', 60_000), true)
      assert.deepEqual(
        (await store.listRuns({ sessionId: 's9', excludeOwner: 'elsewhere' })).map((r) => r.id),
        [b.id, c.id],
      )
      assert.deepEqual(
        (await store.listRuns({ sessionId: 's9', excludeOwner: 'nobody' })).map((r) => r.id),
        [a.id, b.id, c.id],
      )
    })

    it("lists a session's runs oldest first, and pages with offset", async () => {
      const a = newRun({ created_at: '2026-01-01T00:00:01.000Z', session_id: 's1' })
      const b = newRun({ created_at: '2026-01-01T00:00:02.000Z', session_id: 's1' })
      const c = newRun({ created_at: '2026-01-01T00:00:03.000Z', session_id: 's2' })
      await store.write([create(a), create(b), create(c)])
      assert.deepEqual(
        (await store.listRuns({ sessionId: 's1' })).map((r) => r.id),
        [a.id, b.id],
      )
      assert.equal((await store.getRun(a.id))?.session_id, 's1')
      assert.deepEqual(
        (await store.listRuns({ sessionId: 's1', limit: 1, offset: 1 })).map((r) => r.id),
        [b.id],
      )
    })
  })
}
