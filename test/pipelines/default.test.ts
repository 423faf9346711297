// The default video-ad pipeline end to end, as a newcomer runs it: offline model, local ffmpeg media.
import { describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { spawnSync } from 'node:child_process'
import { existsSync, mkdtempSync, readdirSync, readFileSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import path from 'node:path'
import type { RunRecord } from '../../engine/ports.ts'
import { ffmpegPath, probe } from '../../engine/media/ffmpeg.ts'

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

function runWith(runEnv: NodeJS.ProcessEnv, ...args: string[]): { code: number | null; record: RunRecord; stderr: string } {
  const r = spawnSync(process.execPath, [...weftArgs, 'run', 'pipelines/default.yaml', '--json', '--store', 'memory', '--input', `prompt=${brief}`, ...args], { cwd: root, env: runEnv, encoding: 'utf8', timeout: 240_000 })
  let record: RunRecord
  try {
    record = JSON.parse(r.stdout) as RunRecord
  } catch {
    throw new Error(`no run record (exit ${r.status}):\n${r.stderr}`)
  }
  return { code: r.status, record, stderr: r.stderr }
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
    assert.equal(((record.outputs as { scenes: unknown[] }).scenes).length, 3)
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
    writeFileSync(wrapper, [
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
    ].join('\n'), { mode: 0o755 })
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
    assert.deepEqual(fanOut.results.map((r) => r?.label ?? null), [1, null, 3])
    assert.equal(fanOut.failed.length, 1)
    assert.equal(fanOut.failed[0]!.index, 1)
    assert.equal(fanOut.failed[0]!.error.code, 'MEDIA_FAILED')
    assert.match(fanOut.failed[0]!.error.message, /ffmpeg exited with 3: injected fault: cannot encode scene 2/)
    // the clip's own retry (attempts: 2) asked ffmpeg twice before giving up
    assert.equal(readFileSync(faults, 'utf8').trim().split('\n').length, 2)

    // the run's outputs list the same failure and only the clips that rendered
    const o = record.outputs as Record<string, any>
    assert.deepEqual(o.failed_clips, fanOut.failed)
    assert.deepEqual(o.video_clips.map((c: { scene: number }) => c.scene), [1, 3])

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
    assert.ok(Math.abs(final!.duration_s - expected) <= 0.05, `final video is ${final!.duration_s} s, expected ${expected} s (clips of ${first!.duration_s} s and ${third!.duration_s} s, faded through black)`)
    // and not three clips' worth: scene 2 was planned to last this long
    const planned = (o.scenes as Array<{ duration_s: number }>)[1]!.duration_s
    assert.ok(final!.duration_s < expected + planned - 1, `final video is ${final!.duration_s} s; scene 2 would have added about ${planned} s`)
  })

  it('rejects bad input before anything runs: unknown framework, empty prompt, too short', () => {
    for (const [args, code] of [[['--input', 'framework=XYZ'], 'INPUT_INVALID'], [['--input', 'duration_s=5'], 'INPUT_INVALID']] as const) {
      const r = spawnSync(process.execPath, [...weftArgs, 'run', 'pipelines/default.yaml', '--input', `prompt=${brief}`, ...args], { cwd: root, env, encoding: 'utf8' })
      assert.equal(r.status, 2)
      assert.match(r.stderr, new RegExp(code))
    }
    const empty = spawnSync(process.execPath, [...weftArgs, 'run', 'pipelines/default.yaml', '--input', 'prompt=  '], { cwd: root, env, encoding: 'utf8' })
    assert.equal(empty.status, 2)
    assert.match(empty.stderr, /INPUT_INVALID inputs\.prompt/)
  })
})
