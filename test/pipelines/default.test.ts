// The default video-ad pipeline end to end, as a newcomer runs it: offline model (or a model server that never answers), local ffmpeg media.
import { after, before, describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { spawn, spawnSync, type SpawnSyncReturns } from 'node:child_process'
import { existsSync, mkdtempSync, readdirSync, readFileSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import path from 'node:path'
import type { RunEvent, RunRecord } from '../../engine/ports.ts'
import { ffmpegPath, probe } from '../../engine/media/ffmpeg.ts'
import { startHangingServer, type HangingServer } from '../support/hanging-server.ts'

const root = path.resolve(import.meta.dirname, '..', '..')
const weftArgs = ['--import', 'tsx', path.join(root, 'cli', 'weft.ts')]
const env = { ...process.env, WEFT_DATA_DIR: mkdtempSync(path.join(tmpdir(), 'weft-default-')) }
// the smallest ad the pipeline takes (12 s: three scenes), at a small frame size so the suite stays quick
const brief = 'Meet Fizz, the sparkling lemon soda for summer afternoons. Tastes like sunshine. Grab one today!'
const small = ['--input', 'duration_s=12', '--set', 'video.width=640', '--set', 'video.height=360']

/** Quotes a word for /bin/sh. */
const sh = (s: string) => `'${s.replaceAll("'", `'\\''`)}'`

function run(...args: string[]): { code: number | null; record: RunRecord; stderr: string } {
  return runWith(env, ...args)
}

const runArgs = (args: string[]) => [...weftArgs, 'run', 'pipelines/default.yaml', '--json', '--store', 'memory', '--input', `prompt=${brief}`, ...args]

function runWith(runEnv: NodeJS.ProcessEnv, ...args: string[]): { code: number | null; record: RunRecord; stderr: string } {
  const r = spawnSync(process.execPath, runArgs(args), { cwd: root, env: runEnv, encoding: 'utf8', timeout: 240_000 })
  return { code: r.status, record: recordOf(r.stdout, r.status, r.stderr), stderr: r.stderr }
}

/** Like `runWith`, without blocking this process: for runs that talk to a server living in the test. */
function runAsync(runEnv: NodeJS.ProcessEnv, ...args: string[]): Promise<{ code: number | null; record: RunRecord; stderr: string }> {
  const child = spawn(process.execPath, runArgs(args), { cwd: root, env: runEnv, stdio: ['ignore', 'pipe', 'pipe'], timeout: 240_000 })
  let stdout = ''
  let stderr = ''
  child.stdout.setEncoding('utf8').on('data', (c: string) => (stdout += c))
  child.stderr.setEncoding('utf8').on('data', (c: string) => (stderr += c))
  return new Promise((resolve, reject) => {
    child.on('error', reject)
    child.on('close', (code) => {
      try {
        resolve({ code, record: recordOf(stdout, code, stderr), stderr })
      } catch (err) {
        reject(err)
      }
    })
  })
}

function recordOf(stdout: string, code: number | null, stderr: string): RunRecord {
  try {
    return JSON.parse(stdout) as RunRecord
  } catch {
    throw new Error(`no run record (exit ${code}):\n${stderr}`)
  }
}

/** One clip encode as the ffmpeg wrapper saw it: the clip's temporary output file, and when ffmpeg started and ended (epoch ms). */
interface Encode {
  file: string
  startMs: number
  endMs: number
}

/**
 * An FFMPEG_PATH wrapper that logs `start <epoch ms> <file>` and `end <epoch ms> <file>` around each clip encode and
 * runs the real ffmpeg for everything. A clip encode is the invocation whose last argument is the clip's output:
 * local media writes `file:<run>/clips/.scene-N.mp4.<hex>.partial` and renames it; quality scoring reads the clip
 * and writes to `-`, the stitch writes `.final.mp4…partial`, so neither is counted.
 */
function encodeLoggingFfmpeg(): { wrapper: string; log: string } {
  const dir = mkdtempSync(path.join(tmpdir(), 'weft-timing-ffmpeg-'))
  const log = path.join(dir, 'encodes.log')
  const wrapper = path.join(dir, 'ffmpeg')
  writeFileSync(
    wrapper,
    [
      '#!/bin/sh',
      'for last in "$@"; do :; done',
      'case "$last" in',
      '  file:*/clips/.scene-*.partial)',
      '    out=${last#file:}',
      `    printf 'start %s %s\\n' "$(date +%s%3N)" "$out" >> ${sh(log)}`,
      // not exec: the end line is written once ffmpeg has exited
      `    ${sh(ffmpegPath())} "$@"`,
      '    rc=$?',
      `    printf 'end %s %s\\n' "$(date +%s%3N)" "$out" >> ${sh(log)}`,
      '    exit $rc ;;',
      'esac',
      `exec ${sh(ffmpegPath())} "$@"`,
      '',
    ].join('\n'),
    { mode: 0o755 },
  )
  return { wrapper, log }
}

/**
 * Reads the wrapper's log: the encodes, and the most that were running at once. Lines are appended in the order they
 * happened (a start before ffmpeg starts, an end after it exits), so the count walks the log in order.
 */
function readEncodes(log: string): { encodes: Encode[]; maxAtOnce: number } {
  const open = new Map<string, number>()
  const encodes: Encode[] = []
  let running = 0
  let maxAtOnce = 0
  for (const line of existsSync(log) ? readFileSync(log, 'utf8').trim().split('\n') : []) {
    const m = /^(start|end) (\d+) (.+)$/.exec(line)
    assert.ok(m, `unreadable log line (the wrapper needs a \`date\` with %N): ${line}`)
    const [, what, ms, file] = m
    if (what === 'start') {
      assert.ok(!open.has(file!), `${file} started twice`)
      open.set(file!, Number(ms))
      maxAtOnce = Math.max(maxAtOnce, ++running)
    } else {
      assert.ok(open.has(file!), `${file} ended without starting`)
      encodes.push({ file: file!, startMs: open.get(file!)!, endMs: Number(ms) })
      open.delete(file!)
      running--
    }
  }
  assert.deepEqual([...open.keys()], [], 'every encode ended')
  return { encodes, maxAtOnce }
}

/** The encodes as `scene-N.mp4 +start..+end ms` from the first start, for assertion messages. */
function timeline(encodes: Encode[]): string {
  const t0 = Math.min(...encodes.map((e) => e.startMs))
  return encodes.map((e) => `${/scene-\d+\.mp4/.exec(e.file)?.[0]} +${e.startMs - t0}..+${e.endMs - t0} ms`).join(', ')
}

describe('pipelines/default.yaml', () => {
  it('turns a brief into a story, references, scenes, scored clips and a final MP4 ffprobe reads', async () => {
    const { code, record, stderr } = run(...small)
    assert.equal(code, 0, stderr)
    assert.equal(record.status, 'completed')
    // with the default threshold (85) the first, rougher draft is rewritten
    assert.ok((record.nodes.story!.output as { iterations: number }).iterations > 1)
    const o = record.outputs as Record<string, any>
    assert.equal(typeof o.story_text, 'string')
    assert.match(o.story_text, /Fizz/)
    assert.deepEqual(o.reference_images.map((r: { kind: string }) => r.kind).sort(), ['character', 'environment', 'product'])
    assert.equal(o.scenes.length, 3)
    assert.equal(o.video_clips.length, 3)
    assert.deepEqual(o.failed_clips, [])
    for (const clip of o.video_clips) {
      assert.ok(clip.quality.score >= 0 && clip.quality.score <= 100)
      assert.deepEqual(Object.keys(clip.quality.breakdown).sort(), ['black', 'flicker', 'frozen', 'sharpness'])
    }
    const signal = new AbortController().signal
    const final = await probe(o.final_video, { signal })
    assert.equal(final.has_video, true)
    assert.equal(final.codec, 'h264')
    assert.ok(final.duration_s >= 5, `final video is ${final.duration_s} s`)
    // the record the product relies on is filled from the outputs
    assert.equal(record.current_stage, 'videos')
    assert.equal(record.config.parallel && (record.config.parallel as { max_concurrent: number }).max_concurrent, 5)
  })

  it('a stage switched off in config skips it and what depends on it; the run still completes', () => {
    const { code, record } = run(...small, '--set', 'stages.videos=false', '--set', 'critic.story_threshold=50', '--set', 'approval.auto_min_score=50')
    assert.equal(code, 0)
    assert.equal(record.status, 'completed')
    assert.equal(record.nodes.videos!.status, 'skipped')
    assert.equal(record.nodes.final!.status, 'skipped')
    assert.equal((record.nodes.story!.output as { iterations: number }).iterations, 1)
    const o = record.outputs as Record<string, unknown>
    assert.equal(o.final_video, null)
    assert.equal(o.video_clips, null)
    assert.equal(typeof o.story_text, 'string')
    assert.equal((o.scenes as unknown[]).length, 3)
  })

  it('without the reference stage, scenes are still written, checked for cohesion and approved', () => {
    const { code, record } = run(...small, '--set', 'stages.reference_images=false', '--set', 'stages.videos=false')
    assert.equal(code, 0)
    assert.equal(record.nodes.reference_plan!.status, 'skipped')
    for (const id of ['scenes', 'cohesion', 'approve_scenes']) assert.equal(record.nodes[id]!.status, 'succeeded', id)
    assert.equal((record.outputs as { scenes: unknown[] }).scenes.length, 3)
  })

  it('an unreadable brand asset fails its node and the run precisely; what was made before is kept', () => {
    const { code, record } = run(...small, '--set', 'stages.videos=false', '--input', 'product_images=[/nonexistent/product.png]')
    assert.equal(code, 1)
    assert.equal(record.status, 'failed')
    assert.equal(record.nodes.references!.status, 'failed')
    assert.equal(record.nodes.references!.error?.code, 'FAN_OUT_ITEM_FAILED')
    assert.match(record.nodes.references!.error!.message, /ASSET_UNREADABLE: brand asset \/nonexistent\/product\.png cannot be read/)
    assert.equal(record.nodes.story!.status, 'succeeded')
    assert.equal(typeof (record.nodes.approve_story!.output as { value: { story: string } }).value.story, 'string')
  })

  it('a clip that fails to render is listed in `failed`; the other clips still make the final video; all that was made is kept', async () => {
    // the fault comes from outside the code: an ffmpeg that refuses any command naming scene-2.mp4 and runs the real one otherwise
    const dir = mkdtempSync(path.join(tmpdir(), 'weft-faulty-ffmpeg-'))
    const faults = path.join(dir, 'faults.log')
    const wrapper = path.join(dir, 'ffmpeg')
    writeFileSync(
      wrapper,
      [
        '#!/bin/sh',
        'for arg in "$@"; do',
        '  case "$arg" in *scene-2.mp4*)',
        `    echo "refused $arg" >> ${sh(faults)}`,
        '    echo "injected fault: cannot encode scene 2" >&2',
        '    exit 3 ;;',
        '  esac',
        'done',
        `exec ${sh(ffmpegPath())} "$@"`,
        '',
      ].join('\n'),
      { mode: 0o755 },
    )
    const out = mkdtempSync(path.join(tmpdir(), 'weft-default-out-'))
    const { code, record, stderr } = runWith({ ...env, FFMPEG_PATH: wrapper }, ...small, '--out', out)
    assert.equal(code, 0, stderr)
    assert.equal(record.status, 'completed')
    const runDir = path.join(out, record.id)

    // the fan-out succeeded with scene 2 (index 1) kept as null and listed with the error ffmpeg gave
    const videos = record.nodes.videos!
    assert.equal(videos.status, 'succeeded')
    const fanOut = videos.output as { results: Array<{ path: string; label: number; duration_s: number } | null>; failed: Array<{ index: number; error: { code: string; message: string } }> }
    assert.equal(fanOut.results.length, 3)
    assert.equal(fanOut.results[1], null)
    assert.deepEqual(
      fanOut.results.map((r) => r?.label ?? null),
      [1, null, 3],
    )
    assert.equal(fanOut.failed.length, 1)
    assert.equal(fanOut.failed[0]!.index, 1)
    assert.equal(fanOut.failed[0]!.error.code, 'MEDIA_FAILED')
    assert.match(fanOut.failed[0]!.error.message, /ffmpeg exited with 3: injected fault: cannot encode scene 2/)
    // the clip's own retry (attempts: 2) asked ffmpeg twice before giving up
    assert.equal(readFileSync(faults, 'utf8').trim().split('\n').length, 2)

    // the run's outputs list the same failure and only the clips that rendered
    const o = record.outputs as Record<string, any>
    assert.deepEqual(o.failed_clips, fanOut.failed)
    assert.deepEqual(
      o.video_clips.map((c: { scene: number }) => c.scene),
      [1, 3],
    )

    // everything made before and beside the failure is on disk and in the record
    for (const id of ['story', 'approve_story', 'reference_plan', 'references', 'scenes', 'cohesion', 'approve_scenes', 'final']) {
      assert.equal(record.nodes[id]!.status, 'succeeded', id)
    }
    for (const ref of o.reference_images) assert.ok(existsSync(ref.path), ref.path)
    assert.deepEqual(readdirSync(path.join(runDir, 'clips')).sort(), ['scene-1.mp4', 'scene-3.mp4'])
    assert.equal(o.final_video, path.join(runDir, 'final.mp4'))

    // the final video is the two clips that rendered; the join across the missing scene fades through black (no
    // overlap), whatever the cohesion pairs 1→2 and 2→3 asked for
    const signal = new AbortController().signal
    const [first, third, final] = await Promise.all([fanOut.results[0]!.path, fanOut.results[2]!.path, o.final_video].map((f: string) => probe(f, { signal })))
    assert.equal(final!.has_video, true)
    assert.equal(final!.codec, 'h264')
    assert.deepEqual([final!.width, final!.height], [640, 360])
    const expected = first!.duration_s + third!.duration_s
    assert.ok(
      Math.abs(final!.duration_s - expected) <= 0.05,
      `final video is ${final!.duration_s} s, expected ${expected} s (clips of ${first!.duration_s} s and ${third!.duration_s} s, faded through black)`,
    )
    // and not three clips' worth: scene 2 was planned to last this long
    const planned = (o.scenes as Array<{ duration_s: number }>)[1]!.duration_s
    assert.ok(final!.duration_s < expected + planned - 1, `final video is ${final!.duration_s} s; scene 2 would have added about ${planned} s`)
  })

  it('parallel.enabled: false encodes the clips one at a time; enabled, up to parallel.max_concurrent at once', () => {
    // the timing comes from outside the code: an ffmpeg wrapper logging when each clip encode starts and ends.
    // Tiny clips, no re-render after scoring (so one encode per scene); scoring still runs ffmpeg on each clip.
    const tiny = ['--input', 'duration_s=12', '--set', 'video.width=320', '--set', 'video.height=180', '--set', 'video.fps=12', '--set', 'quality.rerenders=0']
    const scenes = ['scene-1.mp4', 'scene-2.mp4', 'scene-3.mp4']
    const sceneOf = (e: Encode) => /\/clips\/\.(scene-\d+\.mp4)\.[0-9a-f]+\.partial$/.exec(e.file)?.[1]

    const serial = encodeLoggingFfmpeg()
    const off = runWith({ ...env, FFMPEG_PATH: serial.wrapper }, ...tiny, '--set', 'parallel.enabled=false', '--set', 'parallel.max_concurrent=3')
    assert.equal(off.code, 0, off.stderr)
    assert.equal(off.record.status, 'completed')
    assert.equal((off.record.outputs as { video_clips: unknown[] }).video_clips.length, 3)
    const one = readEncodes(serial.log)
    assert.deepEqual(one.encodes.map(sceneOf).sort(), scenes, timeline(one.encodes))
    assert.equal(one.maxAtOnce, 1, `clip encodes overlapped with parallel.enabled=false: ${timeline(one.encodes)}`)

    const parallel = encodeLoggingFfmpeg()
    const on = runWith({ ...env, FFMPEG_PATH: parallel.wrapper }, ...tiny, '--set', 'parallel.enabled=true', '--set', 'parallel.max_concurrent=2')
    assert.equal(on.code, 0, on.stderr)
    assert.equal(on.record.status, 'completed')
    assert.equal((on.record.outputs as { video_clips: unknown[] }).video_clips.length, 3)
    const many = readEncodes(parallel.log)
    assert.deepEqual(many.encodes.map(sceneOf).sort(), scenes, timeline(many.encodes))
    // three clips, two lanes: two encodes at once, never the third
    assert.equal(many.maxAtOnce, 2, `clip encodes with parallel.enabled=true, max_concurrent=2: ${timeline(many.encodes)}`)
  })

  describe('a model provider that never answers', () => {
    let server: HangingServer
    let result: Awaited<ReturnType<typeof runAsync>>
    let shown: SpawnSyncReturns<string>
    const timeoutMs = 300

    before(async () => {
      server = await startHangingServer()
      // recorded in a durable store of its own (SQLite in a fresh data directory, never a DATABASE_URL), to read it back
      const modelEnv: NodeJS.ProcessEnv = {
        ...env,
        WEFT_DATA_DIR: mkdtempSync(path.join(tmpdir(), 'weft-default-timeout-')),
        WEFT_MODEL_PROVIDER: 'openai',
        WEFT_MODEL_BASE_URL: server.baseUrl,
        WEFT_MODEL: 'gpt-weft-test',
        WEFT_MODEL_API_KEY: 'sk-weft-test',
        WEFT_MODEL_TIMEOUT: `${timeoutMs}ms`,
      }
      delete modelEnv.DATABASE_URL
      result = await runAsync(modelEnv, ...small, '--store', 'db')
      shown = spawnSync(process.execPath, [...weftArgs, 'show', result.record.id, '--json'], { cwd: root, env: modelEnv, encoding: 'utf8', timeout: 60_000 })
    })
    after(() => server.close())

    it("fails the story node and the run with MODEL_TIMEOUT after the adapter's retries; nothing downstream runs", () => {
      const { code, record, stderr } = result
      assert.equal(code, 1, stderr)
      assert.equal(record.status, 'failed')

      const story = record.nodes.story!
      assert.equal(story.status, 'failed')
      // the node itself is not retried (no `retry:` on it); the adapter retries 3 times after the first attempt
      assert.equal(story.attempts, 1)
      assert.equal(story.error?.code, 'MODEL_TIMEOUT')
      assert.deepEqual(story.error?.details, { status: null, attempts: 4, timeout_ms: timeoutMs, deadline_ms: null })
      assert.ok(story.error!.message.startsWith('openai/gpt-weft-test failed after 4 attempts: '), story.error!.message)
      assert.match(story.error!.message, /no answer within \d+ ms/)

      // the run's error is the node's, naming it
      assert.equal(record.error?.code, 'MODEL_TIMEOUT')
      assert.deepEqual(record.error?.details, { node: 'story' })
      assert.equal(record.error?.message, `node "story" failed: ${story.error!.message}`)

      for (const id of ['approve_story', 'reference_plan', 'references', 'scenes', 'cohesion', 'approve_scenes', 'videos', 'final']) {
        assert.equal(record.nodes[id]!.status, 'skipped', id)
        assert.equal(record.nodes[id]!.attempts, 0, id)
      }
      assert.equal(record.outputs, null)
    })

    it('asks 4 times, the same call each time, and gives each attempt up after WEFT_MODEL_TIMEOUT', () => {
      const { record } = result
      const requests = server.requests
      assert.equal(requests.length, 4)
      for (const r of requests) {
        assert.equal(r.method, 'POST')
        assert.equal(r.url, '/v1/chat/completions')
        assert.equal(r.body.model, 'gpt-weft-test')
        assert.equal(r.headers.authorization, 'Bearer sk-weft-test')
        // one logical call retried, not four calls: the story director's first draft
        assert.equal(r.headers['idempotency-key'], `${record.id}:story:1:story_director#1`)
      }
      // the client hung up on each attempt when WEFT_MODEL_TIMEOUT passed (not at once, not after the default 120 s); its
      // timer starts before the request is sent, so the server holds each a little less than the limit
      const held = requests.map((r) => Math.round(r.closedAt! - r.receivedAt))
      for (const ms of held) assert.ok(ms >= timeoutMs / 2 && ms < timeoutMs + 250, `attempts held for ${held.join(', ')} ms`)
      // and waited between attempts (backoff 500 ms doubling, less up to 25 % jitter) instead of hammering the server
      const gaps = requests.slice(1).map((r, i) => Math.round(r.receivedAt - requests[i]!.closedAt!))
      gaps.forEach((ms, i) => {
        assert.ok(ms >= 0.75 * 500 * 2 ** i - 50, `waits between attempts: ${gaps.join(', ')} ms`)
      })
    })

    it('the failed run is kept: `weft show` reads back the same record, with the failure and the skips in its events', () => {
      const { record } = result
      assert.equal(shown.status, 0, shown.stderr)
      const { events, ...kept } = JSON.parse(shown.stdout) as RunRecord & { events: RunEvent[] }
      assert.deepEqual(kept, record)
      const failed = events.filter((e) => e.type === 'node.failed')
      assert.deepEqual(
        failed.map((e) => [e.node, e.payload.error]),
        [['story', record.nodes.story!.error]],
      )
      assert.deepEqual(
        events
          .filter((e) => e.type === 'node.skipped')
          .map((e) => e.node)
          .sort(),
        ['approve_scenes', 'approve_story', 'cohesion', 'final', 'reference_plan', 'references', 'scenes', 'videos'],
      )
      // the story node started its first draft and did nothing else
      assert.deepEqual(
        events.filter((e) => e.node === 'story').map((e) => e.type),
        ['node.started', 'node.progress', 'node.failed'],
      )
      const last = events.at(-1)!
      assert.equal(last.type, 'run.failed')
      assert.deepEqual(last.payload.error, record.error)
    })

    it('names the limit that ran out in the error, and the setting to raise', () => {
      const story = result.record.nodes.story!
      assert.match(story.error!.message, new RegExp(`\\b${timeoutMs} ms\\b`))
      assert.match(story.error!.message, /WEFT_MODEL_TIMEOUT/)
      assert.equal((story.error!.details as { timeout_ms?: number }).timeout_ms, timeoutMs)
    })
  })

  it('rejects bad input before anything runs: unknown framework, empty prompt, too short', () => {
    for (const [args, code] of [
      [['--input', 'framework=XYZ'], 'INPUT_INVALID'],
      [['--input', 'duration_s=5'], 'INPUT_INVALID'],
    ] as const) {
      const r = spawnSync(process.execPath, [...weftArgs, 'run', 'pipelines/default.yaml', '--input', `prompt=${brief}`, ...args], { cwd: root, env, encoding: 'utf8' })
      assert.equal(r.status, 2)
      assert.match(r.stderr, new RegExp(code))
    }
    const empty = spawnSync(process.execPath, [...weftArgs, 'run', 'pipelines/default.yaml', '--input', 'prompt=  '], { cwd: root, env, encoding: 'utf8' })
    assert.equal(empty.status, 2)
    assert.match(empty.stderr, /INPUT_INVALID inputs\.prompt/)
  })
})
