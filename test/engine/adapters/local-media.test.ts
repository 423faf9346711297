import { describe, it, after } from 'node:test'
import assert from 'node:assert/strict'
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync, copyFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import path from 'node:path'
import { LocalMedia } from '../../../engine/adapters/local-media.ts'
import { fontPath, probe, runFfmpeg } from '../../../engine/media/ffmpeg.ts'
import type { ImageRequest, MediaRequest, StitchRequest, VideoRequest } from '../../../engine/ports.ts'

const dir = mkdtempSync(path.join(tmpdir(), 'weft-local-media-'))
after(() => rmSync(dir, { recursive: true, force: true }))
const media = new LocalMedia({ preset: 'ultrafast' })
const live = () => ({ signal: new AbortController().signal, idempotencyKey: 'test' })
const file = (name: string) => path.join(dir, name)
const hasCode = (code: string) => (err: unknown) => (err as { code?: unknown }).code === code
const FRAME = 1 / 24

/** A solid-colour H.264/AAC clip, `seconds` long at 24 fps (the stitch tests' raw material). */
async function solid(name: string, colour: string, seconds: number, size = '160x90', audio = true): Promise<string> {
  const out = file(name)
  await runFfmpeg(
    [
      '-f',
      'lavfi',
      '-i',
      `color=${colour}:s=${size}:r=24:d=${seconds}`,
      ...(audio ? ['-f', 'lavfi', '-i', `sine=frequency=440:sample_rate=48000:duration=${seconds}`, '-c:a', 'aac'] : []),
      '-c:v',
      'libx264',
      '-preset',
      'ultrafast',
      '-pix_fmt',
      'yuv420p',
      out,
    ],
    live(),
  )
  return out
}

/** Mean luma of the frame shown at `t` seconds (of the `crop` region, `w:h:x:y`, when given). */
async function lumaAt(video: string, t: number, crop?: string): Promise<number> {
  const work = mkdtempSync(path.join(dir, 'luma-'))
  const vf = `select='gte(t,${t})',${crop ? `crop=${crop},` : ''}signalstats,metadata=mode=print:file=m.txt`
  await runFfmpeg(['-i', video, '-vf', vf, '-frames:v', '1', '-an', '-f', 'null', '-'], { ...live(), cwd: work })
  return Number(/YAVG=([\d.]+)/.exec(readFileSync(path.join(work, 'm.txt'), 'utf8'))![1])
}

describe('LocalMedia: images', () => {
  const req: ImageRequest = {
    kind: 'image',
    prompt: 'A friendly barista in a green apron behind a wooden counter',
    out: file('img/barista.png'),
    width: 320,
    height: 200,
    role: 'character',
    title: 'Maya',
    palette: ['#2d6a4f', '#d8f3dc'],
    seed: 7,
  }

  it('writes a PNG of the requested size and reports it', async () => {
    const res = await media.render(req, live())
    assert.deepEqual(res, { path: req.out, kind: 'image', width: 320, height: 200, source: 'local/ffmpeg' })
    const info = await probe(req.out, live())
    assert.equal(info.codec, 'png')
    assert.deepEqual([info.width, info.height], [320, 200])
    assert.deepEqual([...readFileSync(req.out).subarray(0, 4)], [0x89, 0x50, 0x4e, 0x47])
  })

  it('is deterministic: same request, same bytes; another seed or prompt, another picture', async () => {
    const a = await media.render({ ...req, out: file('img/a.png') }, live())
    const b = await media.render({ ...req, out: file('img/b.png') }, live())
    const c = await media.render({ ...req, out: file('img/c.png'), seed: 8 }, live())
    const d = await media.render({ ...req, out: file('img/d.png'), prompt: 'A tall barista' }, live())
    const bytes = (p: string) => readFileSync(p)
    assert.ok(bytes(a.path).equals(bytes(b.path)))
    assert.ok(!bytes(a.path).equals(bytes(c.path)))
    assert.ok(!bytes(a.path).equals(bytes(d.path)))
  })

  it('takes odd sizes for images (videos need even ones)', async () => {
    const res = await media.render({ ...req, out: file('img/odd.png'), width: 101, height: 51 }, live())
    assert.deepEqual([res.width, res.height], [101, 51])
  })

  it('leaves only the finished file in the folder (no temporary siblings)', () => {
    assert.deepEqual(
      readdirSync(path.dirname(req.out)).filter((f) => f.startsWith('.')),
      [],
    )
  })

  it('removes what a killed render left: the partial file of its output, and scratch folders of processes that are gone', async () => {
    const out = file('img/again.png')
    mkdirSync(path.dirname(out), { recursive: true })
    const stale = path.join(path.dirname(out), '.again.png.deadbeef.partial')
    writeFileSync(stale, 'half a picture')
    // a pid that is not running here, and one that is (this process's parent)
    let gone = 4_000_000
    while (existsSync(`/proc/${gone}`)) gone++
    const dead = mkdtempSync(path.join(tmpdir(), `weft-media-${gone}-`))
    const running = mkdtempSync(path.join(tmpdir(), `weft-media-${process.ppid}-`))
    try {
      await new LocalMedia({ preset: 'ultrafast' }).render({ ...req, out }, live())
      assert.equal(existsSync(stale), false, 'the partial file is gone')
      assert.equal(existsSync(dead), false, "the dead process's scratch folder is gone")
      assert.equal(existsSync(running), true, "a live process's scratch folder is kept")
      assert.deepEqual(
        readdirSync(path.dirname(out)).filter((f) => f.startsWith('.again')),
        [],
      )
    } finally {
      rmSync(dead, { recursive: true, force: true })
      rmSync(running, { recursive: true, force: true })
    }
  })
})

describe('LocalMedia: video clips', () => {
  it('renders H.264/yuv420p with AAC, at the requested size, rate and exact duration', async () => {
    const out = file('clip.mp4')
    const res = await media.render(
      { kind: 'video', prompt: 'A cyclist crosses a bridge at dawn', out, width: 320, height: 180, fps: 24, duration_s: 2, caption: 'Ride further', camera: 'pan left' },
      live(),
    )
    assert.equal(res.kind, 'video')
    assert.equal(res.source, 'local/ffmpeg')
    assert.deepEqual([res.width, res.height], [320, 180])
    const info = await probe(out, live())
    assert.deepEqual([info.codec, info.pix_fmt, info.audio_codec, info.width, info.height, info.fps], ['h264', 'yuv420p', 'aac', 320, 180, 24])
    assert.ok(Math.abs(info.duration_s - 2) < FRAME / 2, `duration ${info.duration_s}`)
    assert.ok(Math.abs(res.duration_s! - 2) < FRAME / 2)
  })

  it('renders 1280×720 with PNG, JPEG and WebP reference images composited', async () => {
    const png = (await media.render({ kind: 'image', prompt: 'Product shot of a tumbler', out: file('ref.png'), width: 256, height: 256, role: 'product' }, live())).path
    const jpg = file('ref.jpg')
    const webp = file('ref.webp')
    await runFfmpeg(['-i', png, jpg], live())
    await runFfmpeg(['-i', png, '-c:v', 'libwebp', webp], live())
    const out = file('hd.mp4')
    const res = await media.render(
      {
        kind: 'video',
        prompt: 'The tumbler on a desk, steam rising',
        out,
        width: 1280,
        height: 720,
        fps: 24,
        duration_s: 1.5,
        images: [png, jpg, webp],
        camera: 'slow push-in',
        caption: 'Hot for 12 hours',
        palette: ['#111111', '#b87333'],
      },
      live(),
    )
    assert.deepEqual([res.width, res.height], [1280, 720])
    assert.ok(Math.abs(res.duration_s! - 1.5) < FRAME / 2)
  })

  it('composites a reference image into its panel, and renders the same request to the same bytes', async () => {
    const white = file('white.png')
    await runFfmpeg(['-f', 'lavfi', '-i', 'color=white:s=64x64', '-frames:v', '1', white], live())
    const req: Omit<VideoRequest, 'out'> = { kind: 'video', prompt: 'A dark room', width: 320, height: 180, fps: 24, duration_s: 1, palette: ['#111111', '#222222'] }
    const bare = await media.render({ ...req, out: file('bare.mp4') }, live())
    const withImage = await media.render({ ...req, out: file('with-image.mp4'), images: [white] }, live())
    const again = await media.render({ ...req, out: file('with-image-again.mp4'), images: [white] }, live())
    // the panel is the right part of a landscape frame: x 55–95 %, y 10–70 %
    const panel = '100:80:190:30'
    const lit = await lumaAt(withImage.path, 0.5, panel)
    const dark = await lumaAt(bare.path, 0.5, panel)
    assert.ok(lit > dark + 60, `panel luma ${lit} with the image, ${dark} without`)
    assert.ok(readFileSync(withImage.path).equals(readFileSync(again.path)))
  })

  it('refuses an unreadable reference image with MEDIA_INPUT_INVALID naming it, before running ffmpeg', async () => {
    const fake = file('not-an-image.png')
    writeFileSync(fake, 'this is text, not a PNG')
    // with no usable ffmpeg, any attempt to run it would fail with FFMPEG_NOT_FOUND instead
    const noFfmpeg = new LocalMedia({ ffmpeg: file('no-such-ffmpeg') })
    for (const bad of [fake, file('missing.png')]) {
      const out = file('never.mp4')
      await assert.rejects(
        noFfmpeg.render({ kind: 'video', prompt: 'x', out, width: 64, height: 64, fps: 24, duration_s: 1, images: [bad] }, live()),
        (err: { code?: string; message: string; details?: { file?: string } }) => {
          assert.equal(err.code, 'MEDIA_INPUT_INVALID')
          assert.equal(err.details?.file, bad)
          assert.ok(err.message.includes(bad))
          return true
        },
      )
      assert.equal(existsSync(out), false)
    }
  })

  it('an aborted render rejects with the reason and leaves nothing at `out` (an older file there stays intact)', async () => {
    const sub = file('abort')
    mkdirSync(sub)
    const out = path.join(sub, 'long.mp4')
    const ac = new AbortController()
    const reason = new Error('cancelled by test')
    const rendering = media.render({ kind: 'video', prompt: 'A long take', out, width: 640, height: 360, fps: 24, duration_s: 120 }, { signal: ac.signal, idempotencyKey: 'a' })
    setTimeout(() => ac.abort(reason), 400)
    await assert.rejects(rendering, (err) => err === reason)
    assert.deepEqual(readdirSync(sub), [])

    writeFileSync(out, 'previous render')
    const again = new AbortController()
    const second = media.render({ kind: 'video', prompt: 'A long take', out, width: 640, height: 360, fps: 24, duration_s: 120 }, { signal: again.signal, idempotencyKey: 'b' })
    setTimeout(() => again.abort(reason), 400)
    await assert.rejects(second, (err) => err === reason)
    assert.deepEqual(readdirSync(sub), ['long.mp4'])
    assert.equal(readFileSync(out, 'utf8'), 'previous render')
  })

  it('draws text with a font whose path has quotes, colons and commas', async () => {
    const odd = file("fonts: it's, [odd]")
    mkdirSync(odd)
    const font = path.join(odd, 'f.ttf')
    copyFileSync(fontPath(), font)
    const res = await new LocalMedia({ font, preset: 'ultrafast' }).render(
      { kind: 'video', prompt: 'Text: 100% "quoted", {braced}; done', out: file('odd.mp4'), width: 160, height: 90, fps: 12, duration_s: 0.5, caption: "it's 50% off: today, only" },
      live(),
    )
    assert.ok(Math.abs(res.duration_s! - 0.5) < 1 / 24)
  })

  it('rejects bad sizes, durations and kinds with MEDIA_INPUT_INVALID', async () => {
    const base: VideoRequest = { kind: 'video', prompt: 'x', out: file('bad.mp4'), width: 64, height: 64, fps: 24, duration_s: 1 }
    await assert.rejects(media.render({ ...base, width: 63 }, live()), hasCode('MEDIA_INPUT_INVALID'))
    await assert.rejects(media.render({ ...base, duration_s: 0 }, live()), hasCode('MEDIA_INPUT_INVALID'))
    await assert.rejects(media.render({ ...base, out: 'relative.mp4' }, live()), hasCode('MEDIA_INPUT_INVALID'))
    await assert.rejects(media.render({ kind: 'audio', out: file('x') } as unknown as MediaRequest, live()), hasCode('MEDIA_INPUT_INVALID'))
  })

  it('fails with FFMPEG_NOT_FOUND when FFMPEG_PATH points to a missing file', async () => {
    const saved = process.env.FFMPEG_PATH
    process.env.FFMPEG_PATH = file('no-such-ffmpeg')
    try {
      await assert.rejects(new LocalMedia().render({ kind: 'image', prompt: 'x', out: file('nf.png'), width: 64, height: 64 }, live()), hasCode('FFMPEG_NOT_FOUND'))
    } finally {
      if (saved === undefined) delete process.env.FFMPEG_PATH
      else process.env.FFMPEG_PATH = saved
    }
  })
})

describe('LocalMedia: stitching', () => {
  const clips = { white: '', grey: '', black: '', silent: '', wide: '' }

  it('prepares solid clips', async () => {
    clips.white = await solid('white.mp4', 'white', 2)
    clips.grey = await solid('grey.mp4', 'gray', 1.5)
    clips.black = await solid('black.mp4', 'black', 2)
    clips.silent = await solid('silent.mp4', 'white', 1, '160x90', false)
    clips.wide = await solid('wide.mp4', 'gray', 1, '320x90')
  })

  const stitch = (name: string, req: Omit<StitchRequest, 'kind' | 'out'>) => media.render({ kind: 'stitch', out: file(name), ...req }, live())

  it('cuts: the duration is the sum of the clips', async () => {
    const res = await stitch('cut.mp4', { clips: [clips.white, clips.grey, clips.black], transitions: [] })
    assert.ok(Math.abs(res.duration_s! - 5.5) < FRAME, `duration ${res.duration_s}`)
    const info = await probe(res.path, live())
    assert.deepEqual([info.codec, info.pix_fmt, info.audio_codec, info.fps, info.width, info.height], ['h264', 'yuv420p', 'aac', 24, 160, 90])
    assert.ok((await lumaAt(res.path, 1.9)) > 200)
    assert.ok((await lumaAt(res.path, 2.1)) < 150)
  })

  it('crossfades overlap: sum minus the overlaps, and the middle of a crossfade is a blend', async () => {
    const res = await stitch('cross.mp4', {
      clips: [clips.white, clips.black, clips.grey],
      transitions: [
        { type: 'crossfade', duration_s: 0.5 },
        { type: 'crossfade', duration_s: 0.25 },
      ],
    })
    assert.ok(Math.abs(res.duration_s! - (5.5 - 0.75)) < FRAME, `duration ${res.duration_s}`)
    // white over 0–2 s, black from 1.5 s, fading in over 0.5 s: at 1.75 s about halfway between
    const mid = await lumaAt(res.path, 1.75)
    assert.ok(mid > 90 && mid < 160, `luma ${mid}`)
    assert.ok((await lumaAt(res.path, 1.4)) > 200)
    assert.ok((await lumaAt(res.path, 2.2)) < 30)
  })

  it('gives a clip an audio bed that is heard, not silence', async () => {
    const r = await media.render({ kind: 'video', out: file('bed.mp4'), prompt: 'the mug on the counter', duration_s: 3, width: 320, height: 180, fps: 24, palette: ['#b8703f', '#f5d547'] }, live())
    const { stderr_tail: log } = await runFfmpeg(['-i', r.path, '-af', 'volumedetect', '-f', 'null', '-'], { signal: new AbortController().signal })
    const mean = Number(/mean_volume: (-?[\d.]+) dB/.exec(log)?.[1])
    const max = Number(/max_volume: (-?[\d.]+) dB/.exec(log)?.[1])
    // heard under a voice-over, never clipping: a silent track reads −91 dB
    assert.ok(mean > -40 && mean < -12, `mean ${mean} dB`)
    assert.ok(max < -1, `max ${max} dB`)
  })

  it('chains crossfades over rendered clips with sound (ffmpeg 4.1 crashed chaining acrossfade)', async () => {
    const rendered: string[] = []
    for (let i = 0; i < 3; i++) {
      const r = await media.render({ kind: 'video', out: file(`chain-${i}.mp4`), prompt: `scene ${i}`, duration_s: 4, width: 320, height: 180, fps: 24, caption: 'hi' }, live())
      rendered.push(r.path)
    }
    const cross = { type: 'crossfade' as const, duration_s: 0.5 }
    const res = await stitch('chain.mp4', { clips: rendered, transitions: [cross, cross], fade_s: 0.5 })
    assert.ok(Math.abs(res.duration_s! - (12 - 1)) < FRAME, `duration ${res.duration_s}`)
    const info = await probe(res.path, live())
    assert.equal(info.has_audio, true)
    assert.ok(Math.abs(info.duration_s - res.duration_s!) < FRAME)
  })

  it('keeps every frame when crossfades leave a clip a single frame of its own', async () => {
    // black (48 frames) overlaps white by 24 and grey by 23: one frame of pure black between the two blends
    const res = await stitch('one-frame.mp4', {
      clips: [clips.white, clips.black, clips.grey],
      transitions: [
        { type: 'crossfade', duration_s: 1 },
        { type: 'crossfade', duration_s: 23 / 24 },
      ],
    })
    assert.ok(Math.abs(res.duration_s! - 85 / 24) < FRAME / 2, `duration ${res.duration_s}`)
    assert.ok((await lumaAt(res.path, 48 / 24)) < 30)
    assert.ok((await lumaAt(res.path, 36 / 24)) > 90)
  })

  it('fades through black do not overlap: the duration is the sum, and the join is black', async () => {
    const res = await stitch('fade.mp4', { clips: [clips.white, clips.grey], transitions: [{ type: 'fade', duration_s: 0.8 }], fade_s: 0.3 })
    assert.ok(Math.abs(res.duration_s! - 3.5) < FRAME, `duration ${res.duration_s}`)
    assert.ok((await lumaAt(res.path, 1.99)) < 30)
    assert.ok((await lumaAt(res.path, 1.0)) > 200)
    // fade_s: the film opens from black
    assert.ok((await lumaAt(res.path, 0)) < 40)
  })

  it('mixes transitions, clips without sound, and other sizes (scaled to the first clip)', async () => {
    const res = await stitch('mixed.mp4', {
      clips: [clips.white, clips.silent, clips.wide, clips.grey],
      transitions: [
        { type: 'crossfade', duration_s: 0.5 },
        { type: 'fade', duration_s: 0.8 },
      ],
      fade_s: 0.5,
      fps: 30,
    })
    // missing third transition is a cut: 2 + 1 + 1 + 1.5 − 0.5
    assert.ok(Math.abs(res.duration_s! - 5) < 1 / 30, `duration ${res.duration_s}`)
    const info = await probe(res.path, live())
    assert.deepEqual([info.width, info.height, info.fps, info.has_audio], [160, 90, 30, true])
  })

  it('rejects bad stitches with MEDIA_INPUT_INVALID', async () => {
    await assert.rejects(
      stitch('x.mp4', {
        clips: [clips.white, clips.grey],
        transitions: [
          { type: 'cut', duration_s: 0 },
          { type: 'cut', duration_s: 0 },
        ],
      }),
      hasCode('MEDIA_INPUT_INVALID'),
    )
    await assert.rejects(stitch('x.mp4', { clips: [], transitions: [] }), hasCode('MEDIA_INPUT_INVALID'))
    await assert.rejects(stitch('x.mp4', { clips: [clips.white, file('missing.mp4')], transitions: [] }), hasCode('MEDIA_INPUT_INVALID'))
    await assert.rejects(stitch('x.mp4', { clips: [clips.white, clips.grey], transitions: [{ type: 'crossfade', duration_s: 1.9 }] }), hasCode('MEDIA_INPUT_INVALID'))
    const junk = file('junk.mp4')
    writeFileSync(junk, 'not a video')
    await assert.rejects(stitch('x.mp4', { clips: [clips.white, junk], transitions: [] }), hasCode('MEDIA_INPUT_INVALID'))
    assert.equal(existsSync(file('x.mp4')), false)
  })
})
