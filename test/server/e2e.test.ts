// A real client against a real `weft serve` (child process, SQLite, offline model, local ffmpeg): it plays the
// UI over the WebSocket — story gate, scene gate with one revision — downloads the final video with a range
// request, and survives a server restart while a gate waits.
import { describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { randomBytes } from 'node:crypto'
import { mkdtempSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import path from 'node:path'
import { probe } from '../../engine/media/ffmpeg.ts'
import { Client, gate, post, serve } from '../support/e2e-client.ts'

const brief = 'Meet Fizz, the sparkling lemon soda for summer afternoons. Tastes like sunshine. Grab one today!'
// small frames and the shortest ad, so the suite stays quick; the same pipeline as `weft run`
const small = { video: { width: 640, height: 360 } }

function environment(): Record<string, string> {
  const data = mkdtempSync(path.join(tmpdir(), 'weft-e2e-'))
  const env: Record<string, string> = { WEFT_DATA_DIR: data, WEFT_WS_SECRET: randomBytes(32).toString('hex'), WEFT_LEASE_TTL: '2s' }
  // the durable store under test is SQLite in a folder of its own, whatever the CI environment says
  env.DATABASE_URL = ''
  writeFileSync(path.join(data, '.keep'), '')
  return env
}

describe('weft serve, end to end', { timeout: 300_000 }, () => {
  it('a client approves the story with an edit, revises the scenes once, approves, and downloads a playable final video', async () => {
    const server = await serve(environment())
    try {
      const started = await post(server.url, { prompt: brief, framework: 'PAS', interactive: true, duration_s: 12, config: small })
      const client = new Client(started.websocket_url, started.ws_token)
      await client.opened
      const story = await client.next(gate('approve_story'))
      assert.equal(story.generation_id, started.generation_id)
      assert.deepEqual(story.payload!.allowed, ['approve', 'reject', 'revise'])
      const edited = { ...story.payload!.value, story: `${story.payload!.value.story}\n\nEdited by the client.` }
      client.send({ type: 'approval.decision', gate: 'approve_story', decision: 'approve', edits: edited })
      const result = await client.next((f) => f.type === 'decision.result')
      assert.equal(result.applied, true)
      // the same decision again is answered, not applied twice
      const mark = client.frames.length
      client.send({ type: 'approval.decision', gate: 'approve_story', decision: 'approve', edits: edited })
      assert.equal((await client.next((f) => f.type === 'decision.result', mark)).applied, false)

      const scenes = await client.next(gate('approve_scenes'))
      assert.equal(scenes.payload!.revision, 0)
      client.send({ type: 'approval.decision', gate: 'approve_scenes', decision: 'revise', feedback: 'Scene 2: make it funnier' })
      const again = await client.next((f) => gate('approve_scenes')(f) && f.payload!.revision === 1)
      assert.equal(again.payload!.value.scenes.length, scenes.payload!.value.scenes.length)
      client.send({ type: 'approval.decision', gate: 'approve_scenes', decision: 'approve' })
      const done = await client.next((f) => f.type === 'run.completed' || f.type === 'run.failed')
      assert.equal(done.type, 'run.completed', JSON.stringify(done.payload))
      // events arrive in order, without gaps
      const seqs = client.frames.filter((f) => typeof f.seq === 'number' && f.generation_id === started.generation_id).map((f) => f.seq as number)
      assert.deepEqual(
        seqs,
        seqs.slice().sort((a, b) => a - b),
      )
      const record = (await (await fetch(`${server.url}${started.status_url}`)).json()) as { status: string; outputs: { story_text: string } }
      assert.equal(record.status, 'completed')
      assert.match(record.outputs.story_text, /Edited by the client\./)

      const videoUrl = `${server.url}${done.payload!.final_video_url}`
      const head = await fetch(videoUrl, { headers: { range: 'bytes=0-99' } })
      assert.equal(head.status, 206)
      assert.equal((await head.arrayBuffer()).byteLength, 100)
      const whole = Buffer.from(await (await fetch(videoUrl)).arrayBuffer())
      const file = path.join(mkdtempSync(path.join(tmpdir(), 'weft-e2e-dl-')), 'final.mp4')
      writeFileSync(file, whole)
      const info = await probe(file, { signal: new AbortController().signal })
      assert.equal(info.codec, 'h264')
      assert.ok(info.duration_s >= 5, `duration ${info.duration_s}`)
      client.close()
    } finally {
      await server.stop()
    }
  })

  for (const signal of ['SIGTERM', 'SIGKILL'] as const)
    it(`a restart (${signal}) while a gate waits: the client reconnects with after_seq, gets the gate again, decides, and the run completes`, async () => {
      const env = environment()
      let server = await serve(env)
      const started = await post(server.url, { prompt: brief, interactive: true, duration_s: 12, config: { ...small, stages: { videos: false } } })
      let client = new Client(started.websocket_url, started.ws_token)
      await client.opened
      await client.next(gate('approve_story'))
      const lastSeq = Math.max(...client.frames.filter((f) => typeof f.seq === 'number').map((f) => f.seq as number))
      client.close()
      await server.stop(signal)
      server = await serve(env)
      try {
        // the token outlives the restart (WEFT_WS_SECRET); the WebSocket URL moved with the new port
        const wsUrl = started.websocket_url.replace(/^ws:\/\/[^/]+/, server.url.replace(/^http/, 'ws'))
        // a client that knows where it stopped connects for live events only and resumes from there
        client = new Client(`${wsUrl}?replay=none`, started.ws_token)
        await client.opened
        client.send({ type: 'resume', generation_id: started.generation_id, after_seq: lastSeq })
        const reasked = await client.next(gate('approve_story'))
        assert.equal(reasked.payload!.gate, 'approve_story')
        client.send({ type: 'approval.decision', generation_id: started.generation_id, gate: 'approve_story', decision: 'approve' })
        await client.next(gate('approve_scenes'))
        client.send({ type: 'approval.decision', generation_id: started.generation_id, gate: 'approve_scenes', decision: 'approve' })
        const done = await client.next((f) => f.type === 'run.completed' || f.type === 'run.failed')
        assert.equal(done.type, 'run.completed', JSON.stringify(done.payload))
        // nothing replayed after the resume point came twice
        const replayed = client.frames.filter((f) => typeof f.seq === 'number').map((f) => f.seq as number)
        assert.equal(new Set(replayed).size, replayed.length)
        assert.ok(replayed.every((s) => s > lastSeq))
        client.close()
      } finally {
        await server.stop()
      }
    })
})

describe('weft serve: approval gates per fan-out item, over the WebSocket', { timeout: 120_000 }, () => {
  it('each item asks at `clips[i].review`; a client approves one, revises one, rejects one, and the fan-out collects them', async () => {
    const env = environment()
    const pipelines = mkdtempSync(path.join(tmpdir(), 'weft-e2e-pipelines-'))
    writeFileSync(
      path.join(pipelines, 'per_item.yaml'),
      `
pipeline: per_item
inputs:
  prompt: { type: string, required: true }
plugins: [${JSON.stringify(path.resolve(import.meta.dirname, '..', 'fixtures', 'plugins', 'drafts.mjs'))}]
nodes:
  clips:
    type: fan_out
    items: [0, 1, 2]
    on_item_error: collect
    steps:
      draft: { type: drafter, text: "\${{ inputs.prompt + ' ' + string(item) }}" }
      review: { type: approval, gate: draft, path: draft }
    result: \${{ steps.review.output.value }}
outputs:
  clips: \${{ nodes.clips.output.results }}
`,
    )
    env.WEFT_PLUGIN_DIRS = path.resolve(import.meta.dirname, '..', 'fixtures', 'plugins')
    const server = await serve(env, ['--pipelines', pipelines])
    try {
      const started = await post(server.url, { prompt: 'scene', pipeline: 'per_item', interactive: true })
      const client = new Client(started.websocket_url, started.ws_token)
      await client.opened
      for (const i of [0, 1, 2]) await client.next(gate(`clips[${i}].review`))
      client.send({ type: 'approval.decision', gate: 'clips[1].review', decision: 'revise', feedback: 'brighter' })
      const again = await client.next((f) => gate('clips[1].review')(f) && f.payload!.revision === 1)
      assert.equal(again.payload!.value, 'scene 1 + brighter')
      assert.equal(again.node, 'clips')
      client.send({ type: 'approval.decision', gate: 'clips[2].review', decision: 'reject', feedback: 'off brief' })
      client.send({ type: 'approval.decision', gate: 'clips[0].review', decision: 'approve' })
      client.send({ type: 'approval.decision', gate: 'clips[1].review', decision: 'approve' })
      await client.next((f) => f.type === 'run.completed')
      const record = (await (await fetch(started.status_url.startsWith('http') ? started.status_url : `${server.url}${started.status_url}`)).json()) as {
        status: string
        outputs: { clips: unknown[] }
        nodes: { clips: { output: { failed: Array<{ index: number }> } } }
      }
      assert.equal(record.status, 'completed')
      assert.deepEqual(record.outputs.clips, ['scene 0', 'scene 1 + brighter', null])
      assert.deepEqual(
        record.nodes.clips.output.failed.map((f) => f.index),
        [2],
      )
      client.close()
    } finally {
      await server.stop()
    }
  })
})
