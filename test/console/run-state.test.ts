import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import { fromRecord, LOG_LIMIT, reduce, reduceAll, shownStatus, withRecord, type EventFrame, type GenerationRecord, type RunView } from '../../console/src/run-state.ts'

const ID = 'g1'

function record(patch: Partial<GenerationRecord> = {}): GenerationRecord {
  const node = (id: string, type: string) => ({ id, type, status: 'pending' as const, attempts: 0, started_at: null, finished_at: null, duration_ms: null, output: null, error: null })
  return {
    id: ID,
    session_id: 's1',
    pipeline: { name: 'default', version: 1, file: '/p/default.yaml' },
    status: 'pending',
    interactive: true,
    inputs: { prompt: 'x' },
    config: {},
    outputs: null,
    error: null,
    current_stage: null,
    created_at: '2026-01-01T00:00:00.000Z',
    started_at: null,
    finished_at: null,
    nodes: { story: node('story', 'critic_loop'), approve: node('approve', 'approval'), videos: node('videos', 'fan_out') },
    ...patch,
  }
}

let seq = 0
function ev(type: string, node: string | undefined, payload: Record<string, unknown> = {}, s: number | null = ++seq): EventFrame {
  return { type, seq: s, generation_id: ID, ...(node ? { node } : {}), payload, timestamp: `2026-01-01T00:00:${String(Math.min(59, seq)).padStart(2, '0')}.000Z` }
}

const fold = (frames: EventFrame[], start: RunView = fromRecord(record())) => frames.reduce(reduce, start)

describe('console run state', () => {
  it('a fleet run: a running node no worker has taken shows as queued, as the latest read of the record says', () => {
    seq = 0
    const running = { ...record().nodes.story!, status: 'running' as const, attempts: 1 }
    let v = fromRecord(record({ status: 'running', nodes: { ...record().nodes, story: running }, waiting_for_worker: ['story'] }))
    assert.equal(shownStatus(v, 'story'), 'queued')
    assert.equal(shownStatus(v, 'approve'), 'pending')
    v = fold([ev('run.started', undefined), ev('node.progress', 'story', { message: 'drafting' })], v)
    assert.equal(shownStatus(v, 'story'), 'queued', 'until a read says otherwise')
    // a worker took it: the next read lists nothing
    v = withRecord(v, record({ status: 'running', nodes: { ...record().nodes, story: running }, waiting_for_worker: [] }))
    assert.equal(shownStatus(v, 'story'), 'running')
    // a read older than an event that ended the node does not make it queued again
    v = fold([ev('node.completed', 'story', { status: 'succeeded', attempts: 1, duration_ms: 5 })], v)
    v = withRecord(v, record({ status: 'running', nodes: { ...record().nodes, story: running }, waiting_for_worker: ['story'] }))
    assert.equal(shownStatus(v, 'story'), 'succeeded')
    // a run driven in the server's own process says nothing of workers
    const local = fromRecord(record({ status: 'running', nodes: { ...record().nodes, story: running } }))
    assert.equal(local.waitingForWorker, undefined)
    assert.equal(shownStatus(local, 'story'), 'running')
  })

  it('follows a node from started through critic progress to completed', () => {
    seq = 0
    const v = fold([
      ev('run.started', undefined, { nodes: 3 }),
      ev('stage.changed', undefined, { stage: 'story' }),
      ev('node.started', 'story', { type: 'critic_loop' }),
      ev('node.progress', 'story', { message: 'draft 1 scored 58', iteration: 1, score: 58 }),
      ev('node.progress', 'story', { message: 'draft 2 scored 91', iteration: 2, score: 91 }),
      ev('node.completed', 'story', { status: 'succeeded', attempts: 1, duration_ms: 2400 }),
    ])
    assert.equal(v.status, 'running')
    assert.equal(v.stage, 'story')
    assert.equal(v.lastSeq, 6)
    const story = v.nodes.story!
    assert.equal(story.status, 'succeeded')
    assert.deepEqual(story.scores, [58, 91])
    assert.equal(story.durationMs, 2400)
    assert.equal(story.message, 'draft 2 scored 91')
    assert.equal(v.log.length, 6)
    assert.equal(v.log.at(-1)!.text, 'succeeded in 2.4 s')
    assert.equal(v.outputsVersion, 1)
  })

  it('shows a waiting gate, replaces it with a revision, and clears it once resolved', () => {
    seq = 0
    let v = fold([
      ev('run.started', undefined),
      ev('node.started', 'approve', { type: 'approval' }),
      ev('approval.requested', 'approve', { gate: 'story', value: { title: 'A' }, allowed: ['approve', 'revise', 'reject'], revision: 0 }),
    ])
    assert.equal(v.status, 'awaiting_approval')
    assert.equal(v.nodes.approve!.status, 'waiting')
    assert.deepEqual(v.gates.story?.value, { title: 'A' })
    v = fold(
      [
        ev('approval.resolved', 'approve', { gate: 'story', revision: 0, decision: 'revise', feedback: 'shorter', by: 'human' }),
        ev('approval.requested', 'approve', { gate: 'story', value: { title: 'B' }, allowed: ['approve', 'revise'], revision: 1 }),
      ],
      v,
    )
    assert.equal(v.gates.story?.revision, 1)
    assert.deepEqual(v.gates.story?.allowed, ['approve', 'revise'])
    assert.match(v.log.find((e) => e.type === 'approval.resolved')!.text, /revise by human — “shorter”/)
    // a late resolution of revision 0 does not clear revision 1
    v = reduce(v, ev('approval.resolved', 'approve', { gate: 'story', revision: 0, decision: 'revise', by: 'human' }))
    assert.equal(v.gates.story?.revision, 1)
    v = reduce(v, ev('approval.resolved', 'approve', { gate: 'story', revision: 1, decision: 'approve', by: 'human' }))
    assert.deepEqual(v.gates, {})
    assert.equal(v.status, 'running')
  })

  it('takes a re-announced gate (seq null) without moving the sequence or the log', () => {
    seq = 0
    const v = fold([ev('run.started', undefined), ev('approval.requested', 'approve', { gate: 'story', value: 'x', revision: 2, reannounced: true }, null)])
    assert.equal(v.lastSeq, 1)
    assert.equal(v.log.length, 1)
    assert.equal(v.gates.story?.revision, 2)
  })

  it('ignores repeats and frames of other generations', () => {
    seq = 0
    const frames = [ev('run.started', undefined), ev('node.started', 'story'), ev('node.completed', 'story', { status: 'succeeded' })]
    const once = fold(frames)
    const twice = fold(frames, once)
    assert.equal(twice, once)
    const other = reduce(once, { ...ev('node.failed', 'story', { error: { code: 'X', message: 'y' } }), generation_id: 'g2' })
    assert.equal(other, once)
  })

  it('tracks fan-out items by their progress, an ended item keeping its state', () => {
    seq = 0
    const v = fold([
      ev('node.started', 'videos', { type: 'fan_out' }),
      ev('node.progress', 'videos', { message: 'rendering video scene-1.mp4', item: '0' }),
      ev('node.progress', 'videos', { message: 'rendering video scene-2.mp4', item: '1' }),
      ev('node.progress', 'videos', { message: 'item 1 failed: RENDER_FAILED', item: '1', item_status: 'failed' }),
      ev('node.progress', 'videos', { message: 'scene-1.mp4 scored 90', item: '0', score: 90 }),
      ev('node.progress', 'videos', { message: 'item 0 succeeded', item: '0', item_status: 'succeeded' }),
      ev('node.progress', 'videos', { message: 'late message', item: '1' }),
    ])
    const items = v.nodes.videos!.items
    assert.equal(items['0']!.status, 'succeeded')
    assert.equal(items['1']!.status, 'failed')
    assert.equal(items['1']!.message, 'late message')
    // an item's render score is not a critic draft score
    assert.deepEqual(v.nodes.videos!.scores, [])
  })

  it("records a failed node's error, a failed run's error and a completed run's video", () => {
    seq = 0
    const failed = fold([
      ev('node.started', 'story'),
      ev('node.failed', 'story', { status: 'failed', error: { code: 'TIMEOUT', message: 'took too long' } }),
      ev('run.failed', undefined, { error: { code: 'NODE_FAILED', message: 'node "story" failed' } }),
    ])
    assert.deepEqual(failed.nodes.story!.error, { code: 'TIMEOUT', message: 'took too long' })
    assert.equal(failed.status, 'failed')
    assert.equal(failed.error?.code, 'NODE_FAILED')
    assert.match(failed.log[1]!.text, /^failed: TIMEOUT: took too long$/)
    seq = 0
    const done = fold([ev('run.completed', undefined, { outputs: {}, final_video_url: '/api/v2/generations/g1/artifacts/final.mp4' })])
    assert.equal(done.status, 'completed')
    assert.equal(done.finalVideoUrl, '/api/v2/generations/g1/artifacts/final.mp4')
  })

  it('folds a batch exactly as one frame at a time, and keeps the newest LOG_LIMIT entries', () => {
    seq = 0
    const frames: EventFrame[] = [ev('run.started', undefined), ev('node.started', 'videos')]
    for (let i = 0; i < LOG_LIMIT + 50; i++) frames.push(ev('node.progress', 'videos', { message: `m${i}`, item: String(i % 40), ...(i % 3 === 0 ? { item_status: 'succeeded' } : {}) }))
    frames.push(ev('node.completed', 'videos', { status: 'succeeded' }))
    const one = fold(frames)
    const batch = reduceAll(fromRecord(record()), frames)
    assert.deepEqual(batch, one)
    assert.equal(batch.log.length, LOG_LIMIT)
    assert.equal(batch.log.at(-1)!.seq, frames.at(-1)!.seq)
    assert.equal(batch.log[0]!.seq, frames.at(-LOG_LIMIT)!.seq)
  })

  it('once events are folded in, takes figures from a record but never its states (it may be older than the view)', () => {
    seq = 0
    const v = fold([
      ev('run.started', undefined),
      ev('node.started', 'story'),
      ev('node.completed', 'story', { status: 'succeeded' }),
      ev('approval.requested', 'approve', { gate: 'story', value: 'x', revision: 0 }),
    ])
    const base = record()
    const lagging = record({
      status: 'running',
      current_stage: 'story',
      nodes: { ...base.nodes, story: { ...base.nodes.story!, status: 'succeeded', attempts: 2, duration_ms: 1234 }, approve: { ...base.nodes.approve!, status: 'running' } },
    })
    const merged = withRecord(v, lagging)
    assert.equal(merged.status, 'awaiting_approval')
    assert.equal(merged.nodes.approve!.status, 'waiting')
    assert.equal(merged.nodes.story!.durationMs, 1234)
    assert.equal(merged.nodes.story!.attempts, 2)
    assert.deepEqual(merged.gates, v.gates)
    // before any event, the record is all there is
    const fresh = withRecord(fromRecord(base), lagging)
    assert.equal(fresh.nodes.approve!.status, 'running')
    assert.equal(fresh.stage, 'story')
  })

  it('keeps an item with steps running until its fan-out ends, and fails it when a step fails', () => {
    seq = 0
    const v = fold([
      ev('node.started', 'videos'),
      ev('node.progress', 'videos', { message: 'item 0 step draft succeeded', item: '0', step: 'draft', step_status: 'succeeded' }),
      ev('node.progress', 'videos', { message: 'item 1 step draft failed: X', item: '1', step: 'draft', step_status: 'failed' }),
    ])
    assert.equal(v.nodes.videos!.items['0']!.status, 'running')
    assert.equal(v.nodes.videos!.items['1']!.status, 'failed')
    const done = reduce(v, ev('node.completed', 'videos', { status: 'succeeded' }))
    assert.equal(done.nodes.videos!.items['0']!.status, 'succeeded')
    assert.equal(done.nodes.videos!.items['1']!.status, 'failed')
    // the batch owned its copies: the earlier view is unchanged
    assert.equal(v.nodes.videos!.items['0']!.status, 'running')
    assert.equal(v.nodes.videos!.status, 'running')
  })
})
