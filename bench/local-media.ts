// Local media benchmark: renders N clips with the embedded ffmpeg provider, K at a time, then stitches and scores them.
// Prints per-clip times and one JSON summary; asserts nothing.
//   node --import tsx bench/local-media.ts [--clips 5] [--seconds 6] [--size 1280x720] [--concurrency 2] [--preset veryfast]
// Without --preset the provider's default encoder settings are used.
import { mkdtempSync, rmSync } from 'node:fs'
import { cpus, tmpdir } from 'node:os'
import path from 'node:path'
import { performance } from 'node:perf_hooks'
import { parseArgs } from 'node:util'
import { LocalMedia } from '../engine/adapters/local-media.ts'
import { scoreClip } from '../engine/media/quality.ts'

const { values: o } = parseArgs({
  options: {
    clips: { type: 'string', default: '5' },
    seconds: { type: 'string', default: '6' },
    size: { type: 'string', default: '1280x720' },
    concurrency: { type: 'string', default: '2' },
    preset: { type: 'string' },
    keep: { type: 'boolean', default: false },
  },
})
const [width, height] = o.size.split('x').map(Number) as [number, number]
const clipCount = Number(o.clips)
const seconds = Number(o.seconds)
const dir = mkdtempSync(path.join(tmpdir(), 'weft-bench-media-'))
const media = new LocalMedia(o.preset ? { preset: o.preset } : {})
const signal = new AbortController().signal
const palette = ['#1d3557', '#457b9d', '#f1faee', '#e63946']
const cameras = ['slow push-in', 'pan left', 'static', 'pan right', 'pull back']

const time = async <T>(fn: () => Promise<T>): Promise<[T, number]> => {
  const t = performance.now()
  const r = await fn()
  return [r, Math.round(performance.now() - t)]
}

const refs = await Promise.all(
  ['character', 'product'].map((role, i) =>
    media.render(
      { kind: 'image', role, title: role, prompt: `The ${role} of the ad, as described by the story`, out: path.join(dir, `${role}.png`), width: 1024, height: 1024, palette, seed: i },
      { signal, idempotencyKey: role },
    ),
  ),
)

const clipMs: number[] = []
const clips: string[] = []
let next = 0
const wallStart = performance.now()
await Promise.all(
  Array.from({ length: Number(o.concurrency) }, async () => {
    while (next < clipCount) {
      const i = next++
      const out = path.join(dir, `scene-${i + 1}.mp4`)
      const [, ms] = await time(() =>
        media.render(
          {
            kind: 'video',
            prompt: `Scene ${i + 1}: the product in use, the character reacts`,
            out,
            width,
            height,
            fps: 24,
            duration_s: seconds,
            images: refs.map((r) => r.path),
            palette,
            camera: cameras[i % cameras.length],
            caption: `Scene ${i + 1} caption`,
            seed: i,
          },
          { signal, idempotencyKey: `scene-${i}` },
        ),
      )
      clipMs[i] = ms
      clips[i] = out
      console.log(`scene ${i + 1}: ${ms} ms`)
    }
  }),
)
const wallMs = Math.round(performance.now() - wallStart)
const [stitched, stitchMs] = await time(() =>
  media.render(
    {
      kind: 'stitch',
      out: path.join(dir, 'final.mp4'),
      clips,
      fade_s: 0.5,
      transitions: clips.slice(1).map((_, i) => (i % 2 ? { type: 'fade' as const, duration_s: 0.8 } : { type: 'crossfade' as const, duration_s: 0.5 })),
    },
    { signal, idempotencyKey: 'stitch' },
  ),
)
const [quality, scoreMs] = await time(() => scoreClip(clips[0]!, { signal }))
const summary = {
  clips: clipCount,
  seconds,
  size: o.size,
  concurrency: Number(o.concurrency),
  preset: o.preset ?? 'default',
  cores: cpus().length,
  clip_ms: clipMs,
  clips_wall_ms: wallMs,
  stitch_ms: stitchMs,
  stitched_s: stitched.duration_s,
  score_ms: scoreMs,
  score: quality.score,
}
console.log(JSON.stringify(summary))
console.log(
  `${clipCount} clips of ${seconds} s at ${o.size}, ${o.concurrency} at a time: ${wallMs} ms (mean ${Math.round(clipMs.reduce((a, b) => a + b, 0) / clipCount)} ms a clip); stitch ${stitchMs} ms; score ${scoreMs} ms`,
)
if (o.keep) console.log(`files kept in ${dir}`)
else rmSync(dir, { recursive: true, force: true })
