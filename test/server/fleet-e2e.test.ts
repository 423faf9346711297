// `weft serve --workers 0` on Postgres with two `weft worker` processes doing all the work: a WebSocket client
// drives an interactive generation through its gates (approve, revise, approve) to a playable final video, with
// every event relayed from the workers through LISTEN/NOTIFY. Needs DATABASE_URL (CI sets it).
import { after, describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { spawn, type ChildProcess } from 'node:child_process'
import { randomBytes } from 'node:crypto'
import { mkdtempSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import path from 'node:path'
import { probe } from '../../engine/media/ffmpeg.ts'
import { Client, gate, post, serve, weftArgs } from '../support/e2e-client.ts'
import { closeAdmin, createDatabase } from '../support/pg-database.ts'

const root = path.resolve(import.meta.dirname, '..', '..')
const brief = 'Meet Fizz, the sparkling lemon soda for summer afternoons. Tastes like sunshine. Grab one today!'
const small = { video: { width: 640, height: 360 } }

function worker(env: Record<string, string>): ChildProcess {
  return spawn(process.execPath, [...weftArgs, 'worker', '--concurrency', '4'], { cwd: root, env: { ...process.env, ...env }, stdio: ['ignore', 'ignore', 'ignore'] })
}

const stop = (w: ChildProcess) =>
  new Promise<void>((resolve) => {
    if (w.exitCode !== null || w.signalCode !== null) return resolve()
    w.once('exit', () => resolve())
    w.kill('SIGTERM')
  })

if (!process.env.DATABASE_URL) {
  describe('weft serve --workers 0 with a fleet', () => {
    it('runs on Postgres', { skip: 'DATABASE_URL is not set; this runs in CI, where it is set' }, () => {})
  })
} else {
  describe('weft serve --workers 0 with a fleet', { timeout: 300_000 }, () => {
    after(closeAdmin)
    it('a WebSocket client approves the story, revises the scenes, approves, and gets the final video; workers did the work', async () => {
      const db = await createDatabase()
      const data = mkdtempSync(path.join(tmpdir(), 'weft-fleet-e2e-'))
      writeFileSync(path.join(data, '.keep'), '')
      const env = { DATABASE_URL: db.url, WEFT_DATA_DIR: data, WEFT_WS_SECRET: randomBytes(32).toString('hex'), WEFT_HEARTBEAT_TTL: '5s' }
      const server = await serve(env, ['--workers', '0'])
      const workers = [worker(env), worker(env)]
      try {
        const started = await post(server.url, { prompt: brief, framework: 'PAS', interactive: true, duration_s: 12, config: small })
        const client = new Client(started.websocket_url, started.ws_token)
        await client.opened
        const story = await client.next(gate('approve_story'))
        client.send({ type: 'approval.decision', gate: 'approve_story', decision: 'approve' })
        assert.equal((await client.next((f) => f.type === 'decision.result')).applied, true)
        const scenes = await client.next(gate('approve_scenes'))
        assert.equal(scenes.payload!.revision, 0)
        client.send({ type: 'approval.decision', gate: 'approve_scenes', decision: 'revise', feedback: 'Scene 2: make it funnier' })
        const again = await client.next((f) => gate('approve_scenes')(f) && f.payload!.revision === 1)
        assert.equal(again.payload!.value.scenes.length, scenes.payload!.value.scenes.length)
        client.send({ type: 'approval.decision', gate: 'approve_scenes', decision: 'approve' })
        const done = await client.next((f) => f.type === 'run.completed' || f.type === 'run.failed')
        assert.equal(done.type, 'run.completed', JSON.stringify(done.payload))
        // every event of the run reached the client once, in order, with no gap
        const seqs = client.frames.filter((f) => typeof f.seq === 'number' && f.generation_id === started.generation_id).map((f) => f.seq as number)
        assert.deepEqual(
          seqs,
          Array.from({ length: seqs.length }, (_, i) => i + 1),
        )
        assert.ok(story.seq! > 0)
        assert.ok(
          client.frames.some((f) => f.type === 'node.progress'),
          'progress reported by workers reaches the client',
        )
        const video = Buffer.from(await (await fetch(`${server.url}${done.payload!.final_video_url}`)).arrayBuffer())
        const file = path.join(data, 'downloaded.mp4')
        writeFileSync(file, video)
        const info = await probe(file, { signal: new AbortController().signal })
        assert.equal(info.codec, 'h264')
        client.close()
      } finally {
        await Promise.all(workers.map(stop))
        await server.stop()
        await db.drop()
      }
    })

    it('`weft serve` with DATABASE_URL and no --workers runs one worker loop itself: one command still does everything, re-runs included', async () => {
      const db = await createDatabase()
      const data = mkdtempSync(path.join(tmpdir(), 'weft-fleet-serve-'))
      const server = await serve({ DATABASE_URL: db.url, WEFT_DATA_DIR: data, WEFT_WS_SECRET: randomBytes(32).toString('hex') })
      try {
        const started = await post(server.url, { prompt: brief, duration_s: 12, config: { ...small, stages: { videos: false } } })
        let status = ''
        for (const end = Date.now() + 120_000; Date.now() < end; await new Promise((r) => setTimeout(r, 250))) {
          status = ((await (await fetch(`${server.url}${started.status_url}`)).json()) as { status: string }).status
          if (['completed', 'failed', 'cancelled'].includes(status)) break
        }
        assert.equal(status, 'completed')

        // a re-run from the scenes, through the fleet: the story is kept, the scenes execute again although cached
        const res = await fetch(`${server.url}/api/v2/generations/${started.generation_id}/rerun`, {
          method: 'POST',
          headers: { 'content-type': 'application/json' },
          body: JSON.stringify({ from: 'scenes' }),
        })
        assert.equal(res.status, 202, await res.clone().text())
        const again = (await res.json()) as { generation_id: string; status_url: string }
        type Gen = { status: string; nodes: Record<string, { status: string; cache?: { hit: boolean; from?: { run: string } } }> }
        let record: Gen | undefined
        for (const end = Date.now() + 120_000; Date.now() < end; await new Promise((r) => setTimeout(r, 250))) {
          record = (await (await fetch(`${server.url}${again.status_url}`)).json()) as Gen
          if (['completed', 'failed', 'cancelled'].includes(record.status)) break
        }
        assert.equal(record?.status, 'completed')
        assert.deepEqual(record!.nodes.story!.cache?.from?.run, started.generation_id, 'the story kept from the re-run generation')
        assert.equal(record!.nodes.scenes!.cache?.hit, false, 'the scenes executed again, bypassing the cache')
        assert.equal(record!.nodes.cohesion!.cache?.hit, false)
      } finally {
        await server.stop()
        await db.drop()
      }
    })
  })
}
