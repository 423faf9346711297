import { recordingSleep, rejection } from '../../support/adapter-calls.ts'
import { describe, it, before, after, beforeEach } from 'node:test'
import assert from 'node:assert/strict'
import { existsSync, mkdtempSync, readFileSync, readdirSync, writeFileSync } from 'node:fs'
import { createServer } from 'node:http'
import type { AddressInfo } from 'node:net'
import { tmpdir } from 'node:os'
import path from 'node:path'
import { ReplicateMedia, type ReplicateMediaOptions } from '../../../engine/adapters/replicate-media.ts'
import { aspectRatio, IMAGE_ASPECT_RATIOS, VIDEO_ASPECT_RATIOS } from '../../../engine/adapters/replicate-inputs.ts'
import type { ImageRequest, VideoRequest } from '../../../engine/ports.ts'
import { startReplicateServer, type ReplicateServer } from '../../support/replicate-server.ts'

const key = 'run1:hero:1'
const live = () => ({ signal: new AbortController().signal, idempotencyKey: key })

/** Resolves once `check` holds, polling every 5 ms (at most 2 s). */
async function until(check: () => boolean): Promise<void> {
  for (let i = 0; i < 400 && !check(); i++) await new Promise((r) => setTimeout(r, 5))
  assert.ok(check(), 'condition never held')
}

describe('ReplicateMedia', () => {
  let server: ReplicateServer
  let timing: ReturnType<typeof recordingSleep>
  let dir: string
  const media = (opts: Partial<ReplicateMediaOptions> = {}) =>
    new ReplicateMedia({
      token: 'r8_test',
      baseUrl: server.baseUrl,
      imageModel: 'black-forest-labs/flux-schnell',
      videoModel: 'google/veo-3.1',
      sleep: timing.sleep,
      ...opts,
    })
  const image = (over: Partial<ImageRequest> = {}): ImageRequest => ({ kind: 'image', prompt: 'a red can', out: path.join(dir, 'ref.png'), width: 1920, height: 1080, ...over })
  const video = (over: Partial<VideoRequest> = {}): VideoRequest => ({
    kind: 'video',
    prompt: 'the can spins',
    out: path.join(dir, 'scene.mp4'),
    duration_s: 6,
    width: 1080,
    height: 1920,
    fps: 24,
    ...over,
  })

  before(async () => {
    server = await startReplicateServer()
  })
  after(() => server.close())
  beforeEach(() => {
    server.reset()
    timing = recordingSleep()
    dir = mkdtempSync(path.join(tmpdir(), 'weft-replicate-'))
  })

  it('creates, polls starting → processing → succeeded, and downloads the output byte for byte', async () => {
    const bytes = Buffer.from([0x89, 0x50, 0x4e, 0x47, 0, 1, 2, 255, 254])
    server.script({ kind: 'accept', plan: { polls: ['starting', 'processing', 'succeeded'], output: bytes } })
    const res = await media({ pollIntervalMs: 1234 }).render(image({ seed: 42 }), live())
    assert.deepEqual(res, { path: path.join(dir, 'ref.png'), kind: 'image', width: 1920, height: 1080, source: 'replicate/black-forest-labs/flux-schnell' })
    assert.deepEqual(readFileSync(res.path), bytes)
    assert.deepEqual(readdirSync(dir), ['ref.png'])
    const [create] = server.calls('POST', '/v1/models/')
    assert.equal(create!.path, '/v1/models/black-forest-labs/flux-schnell/predictions')
    assert.equal(create!.headers.authorization, 'Bearer r8_test')
    assert.match(String(create!.headers['idempotency-key']), /^run1:hero:1:[0-9a-f]{16}$/)
    assert.equal(create!.headers.prefer, undefined)
    assert.deepEqual(create!.body, { input: { prompt: 'a red can', aspect_ratio: '16:9', seed: 42 } })
    assert.equal(server.calls('GET', '/v1/predictions/p1').length, 3)
    assert.deepEqual(timing.delays, [1234, 1234, 1234])
    assert.equal(server.calls('POST', '/v1/predictions/p1/cancel').length, 0)
  })

  it('maps a video request: duration, aspect ratio, camera and palette in the prompt, references as data URIs; returns duration_s', async () => {
    const ref = path.join(dir, 'can.png')
    writeFileSync(ref, Buffer.from('png-bytes'))
    const res = await media().render(video({ images: [ref], camera: 'slow push-in', palette: ['#ff0000', '#ffffff'], seed: 7, caption: 'Fizz!' }), live())
    assert.equal(res.kind, 'video')
    assert.equal(res.duration_s, 6)
    assert.equal(res.source, 'replicate/google/veo-3.1')
    const [create] = server.calls('POST', '/v1/models/')
    assert.equal(create!.path, '/v1/models/google/veo-3.1/predictions')
    assert.deepEqual(create!.body.input, {
      prompt: 'the can spins Camera: slow push-in. Colour palette: #ff0000, #ffffff.',
      duration: 6,
      aspect_ratio: '9:16',
      seed: 7,
      reference_images: [`data:image/png;base64,${Buffer.from('png-bytes').toString('base64')}`],
    })
  })

  it('leaves reference_images and seed out when there are none', async () => {
    await media().render(video({ width: 1280, height: 720 }), live())
    assert.deepEqual(server.calls('POST', '/v1/models/')[0]!.body.input, { prompt: 'the can spins', duration: 6, aspect_ratio: '16:9' })
  })

  it('takes the first URL of a list output, and uses the input mapping given in options', async () => {
    server.script({ kind: 'accept', plan: { outputAsList: true, output: 'first' } })
    const m = media({ inputs: { image: (req) => ({ text: req.prompt, size: `${req.width}x${req.height}` }) } })
    await m.render(image(), live())
    assert.equal(readFileSync(path.join(dir, 'ref.png'), 'utf8'), 'first')
    assert.deepEqual(server.calls('POST', '/v1/models/')[0]!.body.input, { text: 'a red can', size: '1920x1080' })
  })

  it('sends the token to the API host only, not to an output URL on another host', async () => {
    const seen: Array<string | undefined> = []
    const files = createServer((req, res) => {
      seen.push(req.headers.authorization)
      res.end('elsewhere')
    })
    await new Promise<void>((resolve) => files.listen(0, '127.0.0.1', resolve))
    try {
      // another port is another origin
      server.script({ kind: 'accept', plan: { outputUrl: `http://127.0.0.1:${(files.address() as AddressInfo).port}/out.png` } })
      await media().render(image(), live())
      assert.equal(readFileSync(path.join(dir, 'ref.png'), 'utf8'), 'elsewhere')
      assert.deepEqual(seen, [undefined])
    } finally {
      files.closeAllConnections()
      await new Promise((resolve) => files.close(resolve))
    }
  })

  it("a prediction the model's content filter refused: MEDIA_REFUSED, not retryable, with its words", async () => {
    for (const error of ['NSFW content detected: the prompt was flagged as sensitive (E005)', 'Output blocked by the safety filter', 'The input violates our content policy']) {
      server.reset()
      server.script({ kind: 'accept', plan: { polls: ['processing', 'failed'], error } })
      const err = await rejection(media().render(image(), live()))
      assert.equal(err.code, 'MEDIA_REFUSED', error)
      assert.equal(err.retryable, false)
      assert.ok(err.message.includes(error))
      assert.match(err.message, /change the prompt/)
    }
  })

  it("a node's own model replaces the default for that request, and is what the result names", async () => {
    server.script({ kind: 'accept', plan: { polls: ['succeeded'], output: Buffer.from('png') } })
    const m = media()
    const res = await m.render(image({ model: 'google/nano-banana' }), live())
    assert.equal(server.calls('POST', '/v1/models/')[0]!.path, '/v1/models/google/nano-banana/predictions')
    assert.equal(res.source, 'replicate/google/nano-banana')
    assert.equal(m.sourceOf(image({ model: 'google/nano-banana' })), 'replicate/google/nano-banana')
    assert.equal(m.sourceOf(video()), 'replicate/google/veo-3.1')
  })

  it('runs a pinned version through POST /predictions and sends Prefer: wait when asked', async () => {
    await media({ imageModel: 'owner/model:abc123', preferWaitS: 10 }).render(image(), live())
    const [create] = server.calls('POST', '/v1/predictions')
    assert.equal(create!.path, '/v1/predictions')
    assert.equal(create!.body.version, 'abc123')
    assert.equal(create!.headers.prefer, 'wait=10')
  })

  it('a failed prediction: MEDIA_FAILED with the prediction error verbatim', async () => {
    server.script({ kind: 'accept', plan: { polls: ['processing', 'failed'], error: 'CUDA out of memory (E1001)' } })
    const err = await rejection(media().render(image(), live()))
    assert.equal(err.code, 'MEDIA_FAILED')
    assert.notEqual(err.retryable, false)
    assert.ok(err.message.includes('CUDA out of memory (E1001)'))
    assert.deepEqual(err.details, { prediction_id: 'p1', status: 'failed', error: 'CUDA out of memory (E1001)' })
    assert.equal(existsSync(path.join(dir, 'ref.png')), false)
    assert.equal(server.calls('POST', '/v1/predictions/p1/cancel').length, 0)
  })

  it('a create that 500s after the server recorded it is retried with the same key and makes no duplicate', async () => {
    server.script({ kind: 'accept-then-500' })
    await media().render(image(), live())
    const creates = server.calls('POST', '/v1/models/')
    assert.equal(creates.length, 2)
    assert.equal(creates[0]!.headers['idempotency-key'], creates[1]!.headers['idempotency-key'])
    assert.equal(server.predictions.length, 1)
    assert.equal(timing.delays.length, 1 + 2) // one backoff, then two polls
  })

  it('honours Retry-After on a 429 create', async () => {
    server.script({ kind: 'status', status: 429, headers: { 'retry-after': '4' }, body: { detail: 'Request was throttled.' } })
    await media().render(image(), live())
    assert.equal(timing.delays[0], 4000)
    assert.equal(server.calls('POST', '/v1/models/').length, 2)
    assert.equal(server.predictions.length, 1)
  })

  it('two different renders under one attempt key get different idempotency keys', async () => {
    await media().render(image({ prompt: 'one', out: path.join(dir, 'a.png') }), live())
    await media().render(image({ prompt: 'two', out: path.join(dir, 'b.png') }), live())
    const [a, b] = server.calls('POST', '/v1/models/')
    assert.notEqual(a!.headers['idempotency-key'], b!.headers['idempotency-key'])
    assert.equal(server.predictions.length, 2)
  })

  it('a 422 on create: MEDIA_REQUEST_REJECTED with the detail, not retried', async () => {
    server.script({ kind: 'status', status: 422, body: { title: 'Input validation failed', detail: 'input.aspect_ratio: must be one of 16:9, 9:16', status: 422 } })
    const err = await rejection(media().render(image(), live()))
    assert.equal(err.code, 'MEDIA_REQUEST_REJECTED')
    assert.equal(err.retryable, false)
    assert.deepEqual(err.details, { status: 422 })
    assert.ok(err.message.includes('input.aspect_ratio: must be one of 16:9, 9:16'))
    assert.equal(server.calls('POST', '/v1/models/').length, 1)
  })

  it('5xx on every create: MEDIA_UNAVAILABLE after maxRetries', async () => {
    server.script(...Array.from({ length: 3 }, () => ({ kind: 'status' as const, status: 503 })))
    const err = await rejection(media({ maxRetries: 2 }).render(image(), live()))
    assert.equal(err.code, 'MEDIA_UNAVAILABLE')
    assert.equal(err.retryable, true)
    assert.deepEqual(err.details, { status: 503, attempts: 3 })
    assert.equal(server.predictions.length, 0)
  })

  it('a poll that fails with 503 is retried', async () => {
    server.script({ kind: 'accept', plan: { polls: ['processing', 503, 'succeeded'] } })
    await media().render(image(), live())
    assert.equal(server.calls('GET', '/v1/predictions/p1').length, 3)
  })

  it('an abort while polling cancels the prediction and rejects with the abort reason (real sleep)', async () => {
    server.script({ kind: 'accept', plan: { polls: ['processing'] } })
    const ac = new AbortController()
    const reason = new Error('run cancelled')
    const t0 = Date.now()
    const pending = media({ sleep: undefined, pollIntervalMs: 30_000 }).render(image(), { signal: ac.signal, idempotencyKey: key })
    await until(() => server.predictions.length === 1)
    ac.abort(reason)
    await assert.rejects(pending, (err) => err === reason)
    assert.ok(Date.now() - t0 < 2000, `took ${Date.now() - t0} ms`)
    // the abort may land before the create's answer: the prediction is then canceled once that answer arrives
    await until(() => server.calls('POST', '/v1/predictions/p1/cancel').length === 1)
    assert.equal(server.predictions[0]!.status, 'canceled')
  })

  it('an abort while the create call is in flight still cancels the prediction it made', async () => {
    server.script({ kind: 'accept', plan: { polls: ['processing'] }, answerDelayMs: 400 })
    const ac = new AbortController()
    const reason = new Error('run cancelled')
    const pending = media({ sleep: undefined, pollIntervalMs: 30_000 }).render(image(), { signal: ac.signal, idempotencyKey: key })
    // the server has made the prediction; its answer is still 400 ms away
    await until(() => server.predictions.length === 1)
    const t0 = Date.now()
    ac.abort(reason)
    await assert.rejects(pending, (err) => err === reason)
    assert.ok(Date.now() - t0 < 300, `the abort took ${Date.now() - t0} ms: it waited for the create call`)
    assert.equal(server.calls('POST', '/v1/predictions/p1/cancel').length, 0)
    await until(() => server.calls('POST', '/v1/predictions/p1/cancel').length === 1)
    assert.equal(server.predictions.length, 1)
    assert.equal(server.predictions[0]!.status, 'canceled')
  })

  it('past timeoutMs: MEDIA_TIMEOUT (retryable) and the prediction is canceled', async () => {
    server.script({ kind: 'accept', plan: { polls: ['processing'] } })
    const err = await rejection(media({ sleep: undefined, pollIntervalMs: 20, timeoutMs: 150 }).render(image(), live()))
    assert.equal(err.code, 'MEDIA_TIMEOUT')
    assert.equal(err.retryable, true)
    assert.deepEqual(err.details, { timeout_ms: 150, prediction_id: 'p1' })
    assert.ok(server.calls('GET', '/v1/predictions/p1').length >= 2)
    assert.equal(server.calls('POST', '/v1/predictions/p1/cancel').length, 1)
  })

  it('a prediction canceled elsewhere: MEDIA_FAILED with status canceled', async () => {
    server.script({ kind: 'accept', plan: { polls: ['processing', 'canceled'] } })
    const err = await rejection(media().render(image(), live()))
    assert.equal(err.code, 'MEDIA_FAILED')
    assert.deepEqual(err.details, { prediction_id: 'p1', status: 'canceled', error: null })
  })

  it('an empty output file or no output URL: MEDIA_OUTPUT_INVALID, and nothing is left on disk', async () => {
    server.script({ kind: 'accept', plan: { output: '' } }, { kind: 'accept', plan: { noOutput: true } })
    const empty = await rejection(media().render(image({ prompt: 'empty' }), live()))
    assert.equal(empty.code, 'MEDIA_OUTPUT_INVALID')
    assert.equal((empty.details as { prediction_id: string }).prediction_id, 'p1')
    const none = await rejection(media().render(image({ prompt: 'none' }), live()))
    assert.equal(none.code, 'MEDIA_OUTPUT_INVALID')
    assert.equal((none.details as { prediction_id: string }).prediction_id, 'p2')
    assert.deepEqual(readdirSync(dir), [])
  })

  it('cannot stitch: MEDIA_UNSUPPORTED, nothing sent', async () => {
    const err = await rejection(media().render({ kind: 'stitch', out: path.join(dir, 'final.mp4'), clips: ['a.mp4', 'b.mp4'], transitions: [] }, live()))
    assert.equal(err.code, 'MEDIA_UNSUPPORTED')
    assert.equal(err.retryable, false)
    assert.equal(server.requests.length, 0)
  })

  it('chooses the accepted aspect ratio closest to width:height', () => {
    assert.equal(aspectRatio(1920, 1080, IMAGE_ASPECT_RATIOS), '16:9')
    assert.equal(aspectRatio(1024, 1024, IMAGE_ASPECT_RATIOS), '1:1')
    assert.equal(aspectRatio(1080, 1350, IMAGE_ASPECT_RATIOS), '4:5')
    assert.equal(aspectRatio(2560, 1080, IMAGE_ASPECT_RATIOS), '21:9')
    assert.equal(aspectRatio(1080, 1080, VIDEO_ASPECT_RATIOS), '16:9')
    assert.equal(aspectRatio(720, 1280, VIDEO_ASPECT_RATIOS), '9:16')
  })
})
