import { describe, it, after } from 'node:test'
import assert from 'node:assert/strict'
import { spawn } from 'node:child_process'
import { chmodSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import path from 'node:path'
import { ffmpegPath, ffprobePath, filterValue, fontPath, probe, readProbe, runFfmpeg } from '../../../engine/media/ffmpeg.ts'

const dir = mkdtempSync(path.join(tmpdir(), 'weft-ffmpeg-'))
const live = () => ({ signal: new AbortController().signal })
const code = (c: string) => (err: unknown) => (err as { code?: unknown }).code === c

after(() => rmSync(dir, { recursive: true, force: true }))

describe('media/ffmpeg: finding the binaries and the font', () => {
  it('falls back to the npm-installed binaries when PATH has none', () => {
    const ff = ffmpegPath({ PATH: '' })
    const fp = ffprobePath({ PATH: '' })
    assert.match(ff, /@ffmpeg-installer/)
    assert.match(fp, /@ffprobe-installer/)
    assert.ok(statSync(ff).isFile() && statSync(fp).isFile())
  })

  it('prefers a binary found on PATH', () => {
    const bin = path.join(dir, 'bin')
    mkdirSync(bin, { recursive: true })
    for (const name of ['ffmpeg', 'ffprobe']) {
      writeFileSync(path.join(bin, name), '#!/bin/sh\n')
      chmodSync(path.join(bin, name), 0o755)
    }
    assert.equal(ffmpegPath({ PATH: bin }), path.join(bin, 'ffmpeg'))
    assert.equal(ffprobePath({ PATH: bin }), path.join(bin, 'ffprobe'))
  })

  it('honours FFMPEG_PATH / FFPROBE_PATH, and names them when they point nowhere', () => {
    const real = ffmpegPath({ PATH: '' })
    assert.equal(ffmpegPath({ FFMPEG_PATH: real, PATH: '' }), real)
    const missing = path.join(dir, 'no-such-ffmpeg')
    assert.throws(
      () => ffmpegPath({ FFMPEG_PATH: missing }),
      (err: { code?: string; message: string; retryable?: boolean }) => {
        assert.equal(err.code, 'FFMPEG_NOT_FOUND')
        assert.equal(err.retryable, false)
        assert.ok(err.message.includes('FFMPEG_PATH'))
        return true
      },
    )
    assert.throws(() => ffprobePath({ FFPROBE_PATH: missing }), code('FFMPEG_NOT_FOUND'))
  })

  it('finds the bundled DejaVu Sans, and rejects a WEFT_FONT that does not exist', () => {
    assert.match(fontPath({}), /DejaVuSans\.ttf$/)
    assert.ok(statSync(fontPath({})).size > 100_000)
    assert.throws(() => fontPath({ WEFT_FONT: path.join(dir, 'nope.ttf') }), code('FONT_NOT_FOUND'))
  })
})

describe('media/ffmpeg: running ffmpeg and ffprobe', () => {
  it('renders, then probes dimensions, duration, codecs and rate', async () => {
    const out = path.join(dir, 'probe.mp4')
    await runFfmpeg(
      [
        '-f',
        'lavfi',
        '-i',
        'testsrc2=s=96x64:r=25:d=1',
        '-f',
        'lavfi',
        '-i',
        'anullsrc=r=48000:cl=mono',
        '-t',
        '1',
        '-c:v',
        'libx264',
        '-preset',
        'ultrafast',
        '-pix_fmt',
        'yuv420p',
        '-c:a',
        'aac',
        out,
      ],
      live(),
    )
    const info = await probe(out, live())
    assert.deepEqual(
      { ...info, duration_s: Math.round(info.duration_s * 100) / 100 },
      { width: 96, height: 64, duration_s: 1, has_video: true, has_audio: true, codec: 'h264', pix_fmt: 'yuv420p', fps: 25, audio_codec: 'aac' },
    )
  })

  it('rejects with MEDIA_FAILED, the exit code and the tail of stderr when ffmpeg fails', async () => {
    await assert.rejects(runFfmpeg(['-i', path.join(dir, 'missing.mp4'), '-f', 'null', '-'], live()), (err: { code?: string; details?: { exit_code: unknown; stderr_tail: string } }) => {
      assert.equal(err.code, 'MEDIA_FAILED')
      assert.equal(err.details!.exit_code, 1)
      assert.match(err.details!.stderr_tail, /missing\.mp4/)
      return true
    })
  })

  it('rejects with FFMPEG_NOT_FOUND when the binary cannot be started', async () => {
    await assert.rejects(runFfmpeg(['-version'], { ...live(), ffmpeg: path.join(dir, 'no-such-ffmpeg') }), code('FFMPEG_NOT_FOUND'))
    await assert.rejects(probe(path.join(dir, 'x.mp4'), { ...live(), ffprobe: path.join(dir, 'no-such-ffprobe') }), code('FFMPEG_NOT_FOUND'))
  })

  it('kills ffmpeg when the signal aborts and rejects with its reason', async () => {
    const ac = new AbortController()
    const reason = new Error('stop')
    const t0 = Date.now()
    const running = runFfmpeg(['-re', '-f', 'lavfi', '-i', 'testsrc2=s=64x64:r=25', '-f', 'null', '-'], { signal: ac.signal })
    setTimeout(() => ac.abort(reason), 200)
    await assert.rejects(running, (err) => err === reason)
    assert.ok(Date.now() - t0 < 3000)
    await assert.rejects(runFfmpeg(['-version'], { signal: ac.signal }), (err) => err === reason)
  })

  it('passes each stderr line to onStderrLine', async () => {
    const lines: string[] = []
    await runFfmpeg(['-f', 'lavfi', '-i', 'color=black:s=32x32:r=10:d=1', '-vf', 'blackdetect=d=0.1', '-f', 'null', '-'], { ...live(), onStderrLine: (l) => lines.push(l) })
    assert.ok(lines.some((l) => /black_start:0 black_end:/.test(l)))
  })

  it('probe rejects a file that is not media with MEDIA_FAILED', async () => {
    const junk = path.join(dir, 'junk.mp4')
    writeFileSync(junk, 'not a video')
    await assert.rejects(probe(junk, live()), code('MEDIA_FAILED'))
  })

  it('filterValue lets a path with quotes, colons, commas, brackets and semicolons through the filtergraph', async () => {
    const odd = path.join(dir, "it's: a, [strange]; dir")
    mkdirSync(odd, { recursive: true })
    const printed = path.join(odd, 'frames: 1,2.txt')
    await runFfmpeg(['-f', 'lavfi', '-i', 'color=black:s=32x32:r=1:d=1', '-vf', `signalstats,metadata=mode=print:file=${filterValue(printed)}`, '-f', 'null', '-'], live())
    assert.match(readFileSync(printed, 'utf8'), /lavfi\.signalstats\.YAVG=16/)
  })

  it('readProbe reads rates and falls back to the container duration', () => {
    const info = readProbe({ streams: [{ codec_type: 'video', codec_name: 'h264', width: 2, height: 2, avg_frame_rate: '30000/1001' }], format: { duration: '2.5' } })
    assert.equal(info.duration_s, 2.5)
    assert.equal(Math.round(info.fps * 1000), 29970)
    assert.equal(readProbe({}).has_video, false)
  })
})

describe('media/ffmpeg: a killed weft takes its encoders with it', () => {
  /** Pids of the processes whose parent is `pid` and whose name is `name` (Linux /proc). */
  const childrenNamed = (pid: number, name: string): number[] =>
    readdirSync('/proc')
      .filter((d) => /^\d+$/.test(d))
      .flatMap((d) => {
        try {
          const stat = readFileSync(`/proc/${d}/stat`, 'utf8')
          const comm = stat.slice(stat.indexOf('(') + 1, stat.lastIndexOf(')'))
          const ppid = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1])
          return ppid === pid && comm === name ? [Number(d)] : []
        } catch {
          return []
        }
      })
  const alive = (pid: number) => {
    try {
      // a zombie (reaped by init soon) counts as gone
      return !/^\S+ \(.*\) Z/.test(readFileSync(`/proc/${pid}/stat`, 'utf8'))
    } catch {
      return false
    }
  }

  it('SIGKILL of the process that started ffmpeg stops ffmpeg too (no orphan rendering on)', { skip: process.platform === 'linux' ? false : 'Linux only (parent-death signal)' }, async () => {
    const script = `import { runFfmpeg } from ${JSON.stringify(path.resolve('engine/media/ffmpeg.ts'))}
runFfmpeg(['-re', '-f', 'lavfi', '-i', 'testsrc2=s=64x64:r=25:d=120', '-f', 'null', '-'], { signal: new AbortController().signal }).catch(() => {})
setInterval(() => {}, 1000)`
    const child = spawn(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', script], { stdio: 'ignore' })
    try {
      let encoders: number[] = []
      for (let i = 0; i < 100 && encoders.length === 0; i++) {
        await new Promise((r) => setTimeout(r, 100))
        encoders = childrenNamed(child.pid!, 'ffmpeg')
      }
      assert.equal(encoders.length, 1, 'ffmpeg started under the child')
      child.kill('SIGKILL')
      const t0 = Date.now()
      while (alive(encoders[0]!) && Date.now() - t0 < 3000) await new Promise((r) => setTimeout(r, 50))
      assert.equal(alive(encoders[0]!), false, `ffmpeg ${encoders[0]} still runs ${Date.now() - t0} ms after its parent was killed`)
    } finally {
      child.kill('SIGKILL')
    }
  })
})
