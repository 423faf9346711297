import { describe, it, after } from 'node:test'
import assert from 'node:assert/strict'
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import path from 'node:path'
import { LocalMedia } from '../../../engine/adapters/local-media.ts'
import { runFfmpeg } from '../../../engine/media/ffmpeg.ts'
import { FAIL_CAP, parseMetadata, score, scoreClip, type QualityMeasurements } from '../../../engine/media/quality.ts'

const dir = mkdtempSync(path.join(tmpdir(), 'weft-quality-'))
const live = () => ({ signal: new AbortController().signal })
after(() => rmSync(dir, { recursive: true, force: true }))

/** Encodes a lavfi source (2 s, 24 fps; 320×180 unless the source says otherwise) to H.264, like a provider's clip. */
async function clip(name: string, source: string, vf?: string): Promise<string> {
  const out = path.join(dir, name)
  await runFfmpeg(['-f', 'lavfi', '-i', source, ...(vf ? ['-vf', vf] : []), '-t', '2', '-c:v', 'libx264', '-preset', 'ultrafast', '-pix_fmt', 'yuv420p', out], live())
  return out
}

describe('media/quality: scoring real files', () => {
  it('a black clip scores low: all black, all frozen, no detail', async () => {
    const r = await scoreClip(await clip('black.mp4', 'color=black:s=320x180:r=24'), live())
    assert.ok(r.score < 40, `score ${r.score}`)
    assert.equal(r.breakdown.black, 0)
    assert.equal(r.breakdown.frozen, 0)
    assert.equal(r.breakdown.sharpness, 0)
    assert.equal(r.measurements.black_fraction, 1)
    assert.equal(r.measurements.frames, 48)
  })

  it('a frozen frame of a detailed picture is low on frozen, fine on black and sharpness, and fails the default threshold', async () => {
    const still = await clip('still.mp4', 'testsrc2=s=320x180:r=24', 'trim=end_frame=1,loop=loop=-1:size=1,setpts=N/24/TB')
    const r = await scoreClip(still, live())
    assert.equal(r.breakdown.frozen, 0)
    assert.ok(r.measurements.frozen_fraction > 0.75, `frozen ${r.measurements.frozen_fraction}`)
    assert.equal(r.breakdown.black, 100)
    assert.ok(r.breakdown.sharpness >= 80, `sharpness ${r.breakdown.sharpness}`)
    assert.ok(r.score < 60, `score ${r.score}`)
  })

  it('the same picture in motion is not frozen', async () => {
    const r = await scoreClip(await clip('moving.mp4', 'testsrc2=s=320x180:r=24'), live())
    assert.equal(r.breakdown.frozen, 100)
    assert.ok(r.score >= 80, `score ${r.score}`)
  })

  it('strobing brightness is caught as flicker', async () => {
    const r = await scoreClip(await clip('strobe.mp4', 'testsrc2=s=320x180:r=24', "eq=brightness='-0.25*mod(n,2)':eval=frame"), live())
    assert.ok(r.breakdown.flicker < 30, `flicker ${r.breakdown.flicker}`)
    assert.ok(r.measurements.luma_jerk > 10)
    assert.ok(r.score < 60, `score ${r.score}`)
  })

  it('a heavy blur costs sharpness', async () => {
    const sharp = await scoreClip(await clip('sharp.mp4', 'testsrc2=s=320x180:r=24'), live())
    const blurred = await scoreClip(await clip('blurred.mp4', 'testsrc2=s=320x180:r=24', 'boxblur=8:2'), live())
    assert.ok(blurred.measurements.edge_luma < sharp.measurements.edge_luma / 2)
    assert.ok(blurred.breakdown.sharpness < 60, `sharpness ${blurred.breakdown.sharpness}`)
  })

  it('measures a 1280×720 clip on sampled-down frames and still catches a freeze and strobing', async () => {
    const still = await scoreClip(await clip('still-hd.mp4', 'testsrc2=s=1280x720:r=24', 'trim=end_frame=1,loop=loop=-1:size=1,setpts=N/24/TB'), live())
    assert.equal(still.breakdown.frozen, 0)
    assert.equal(still.breakdown.sharpness, 100)
    assert.ok(still.score < 60, `score ${still.score}`)
    const strobe = await scoreClip(await clip('strobe-hd.mp4', 'testsrc2=s=1280x720:r=24', "eq=brightness='-0.25*mod(n,2)':eval=frame"), live())
    assert.ok(strobe.breakdown.flicker < 30, `flicker ${strobe.breakdown.flicker}`)
    assert.equal(strobe.measurements.frames, 48)
  })

  it('a clip rendered by LocalMedia scores at least 80 (its gentle motion is not a freeze)', async () => {
    const out = path.join(dir, 'local.mp4')
    await new LocalMedia().render(
      { kind: 'video', prompt: 'A cyclist crosses a bridge at dawn', out, width: 320, height: 180, fps: 24, duration_s: 3, caption: 'Ride further', palette: ['#264653', '#e9c46a'] },
      { ...live(), idempotencyKey: 'q' },
    )
    const r = await scoreClip(out, live())
    assert.ok(r.score >= 80, `score ${r.score} ${JSON.stringify(r.breakdown)}`)
    assert.equal(r.breakdown.frozen, 100)
    assert.equal(r.breakdown.black, 100)
  })

  it('rejects a file that is not a video with MEDIA_FAILED, and an aborted signal with its reason', async () => {
    const junk = path.join(dir, 'junk.mp4')
    writeFileSync(junk, 'nope')
    await assert.rejects(scoreClip(junk, live()), (err: { code?: string }) => err.code === 'MEDIA_FAILED')
    const ac = new AbortController()
    const reason = new Error('stop')
    ac.abort(reason)
    await assert.rejects(scoreClip(junk, { signal: ac.signal }), (err) => err === reason)
  })
})

describe('media/quality: the arithmetic', () => {
  const perfect: QualityMeasurements = {
    frames: 48,
    duration_s: 2,
    black_s: 0,
    black_fraction: 0,
    frozen_s: 0,
    frozen_fraction: 0,
    ydif_mean: 1,
    ydif_std: 0.2,
    luma_jerk: 0.1,
    yavg_mean: 120,
    edge_luma: 4,
  }

  it('weights the sub-scores and caps the score at the worst sub-score + FAIL_CAP', () => {
    assert.deepEqual(score(perfect).breakdown, { black: 100, frozen: 100, flicker: 100, sharpness: 100 })
    assert.equal(score(perfect).score, 100)
    // a quarter black: black 50, weighted 85, cap 90
    assert.equal(score({ ...perfect, black_fraction: 0.25 }).score, 85)
    // all frozen: weighted 70, capped at 0 + FAIL_CAP
    assert.equal(score({ ...perfect, frozen_fraction: 1 }).score, FAIL_CAP)
    // blur halfway: sharpness (1.5 − 0.5) / 2 = 50
    assert.equal(score({ ...perfect, edge_luma: 1.5 }).breakdown.sharpness, 50)
    // flicker takes the worse of jerk and YDIF
    assert.equal(score({ ...perfect, luma_jerk: 3.5 }).breakdown.flicker, 50)
    assert.equal(score({ ...perfect, ydif_mean: 20 }).breakdown.flicker, 50)
  })

  it('parses metadata=print output per frame', () => {
    const frames = parseMetadata('frame:0    pts:0       pts_time:0\nlavfi.signalstats.YAVG=16\nlavfi.signalstats.YDIF=0\nframe:1    pts:512     pts_time:0.0416667\nlavfi.signalstats.YAVG=20.5\n')
    assert.deepEqual(frames, [
      { time: 0, values: { YAVG: 16, YDIF: 0 } },
      { time: 0.0416667, values: { YAVG: 20.5 } },
    ])
  })
})
