// Finding and running ffmpeg/ffprobe (env → PATH → bundled npm binary), the drawtext font, and reading a file back with ffprobe.
import { execFile, spawn } from 'node:child_process'
import { accessSync, constants, statSync } from 'node:fs'
import { createRequire } from 'node:module'
import path from 'node:path'
import { WeftError } from '../errors.ts'

type Env = Record<string, string | undefined>

const require = createRequire(import.meta.url)
const cache = new Map<string, string>()

/** What ffprobe says about a media file. */
export interface ProbeResult {
  /** Of the first video stream; 0 when there is none. */
  width: number
  height: number
  /** The first video stream's duration when it reports one, else the container's; 0 when neither does. */
  duration_s: number
  has_video: boolean
  has_audio: boolean
  /** Codec of the first video stream (`h264`, `png`…), else of the first audio stream; `''` when neither. */
  codec: string
  /** Pixel format of the first video stream (`yuv420p`…); `''` when there is none. */
  pix_fmt: string
  /** Average frame rate of the first video stream; 0 when unknown. */
  fps: number
  /** Codec of the first audio stream; `''` when there is none. */
  audio_codec: string
}

/**
 * The ffmpeg binary: `FFMPEG_PATH`, else `ffmpeg` on `PATH`, else the one shipped by `@ffmpeg-installer/ffmpeg`.
 * Cached per (FFMPEG_PATH, PATH). Throws `FFMPEG_NOT_FOUND` when `FFMPEG_PATH` names no executable or nothing is found.
 */
export function ffmpegPath(env: Env = process.env): string {
  return resolveBinary('ffmpeg', 'FFMPEG_PATH', '@ffmpeg-installer/ffmpeg', env)
}

/** The ffprobe binary: `FFPROBE_PATH`, else `ffprobe` on `PATH`, else `@ffprobe-installer/ffprobe`'s. Same rules as `ffmpegPath`. */
export function ffprobePath(env: Env = process.env): string {
  return resolveBinary('ffprobe', 'FFPROBE_PATH', '@ffprobe-installer/ffprobe', env)
}

const SYSTEM_FONTS = [
  '/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf',
  '/usr/share/fonts/TTF/DejaVuSans.ttf',
  '/usr/share/fonts/dejavu/DejaVuSans.ttf',
  '/usr/share/fonts/dejavu-sans-fonts/DejaVuSans.ttf',
  '/usr/local/share/fonts/DejaVuSans.ttf',
  '/Library/Fonts/DejaVuSans.ttf',
]

/**
 * The TrueType font drawtext uses: `WEFT_FONT`, else DejaVuSans.ttf from the bundled `dejavu-fonts-ttf` package,
 * else a system DejaVu Sans. Throws `FONT_NOT_FOUND` when `WEFT_FONT` names no file or none is found.
 */
export function fontPath(env: Env = process.env): string {
  const key = `font\0${env.WEFT_FONT ?? ''}`
  const hit = cache.get(key)
  if (hit) return hit
  let found: string | undefined
  if (env.WEFT_FONT) {
    if (!isFile(env.WEFT_FONT)) throw new WeftError('FONT_NOT_FOUND', `WEFT_FONT points to "${env.WEFT_FONT}", which is not a readable file; unset it or point it to a .ttf font`, { retryable: false })
    found = path.resolve(env.WEFT_FONT)
  } else {
    found = [bundledFont(), ...SYSTEM_FONTS].find((f) => f !== undefined && isFile(f))
  }
  if (!found) throw new WeftError('FONT_NOT_FOUND', 'no font for drawtext: reinstall the "dejavu-fonts-ttf" package or set WEFT_FONT to a .ttf file', { retryable: false })
  cache.set(key, found)
  return found
}

function bundledFont(): string | undefined {
  try {
    return require.resolve('dejavu-fonts-ttf/ttf/DejaVuSans.ttf')
  } catch {
    return undefined
  }
}

function resolveBinary(name: string, envVar: string, npmPackage: string, env: Env): string {
  const explicit = env[envVar]
  const key = `${name}\0${explicit ?? ''}\0${env.PATH ?? ''}`
  const hit = cache.get(key)
  if (hit) return hit
  let found: string | undefined
  if (explicit) {
    if (!isExecutable(explicit)) {
      throw new WeftError('FFMPEG_NOT_FOUND', `${envVar} points to "${explicit}", which is not an executable file; fix or unset ${envVar}`, { details: { [envVar]: explicit }, retryable: false })
    }
    found = path.resolve(explicit)
  } else {
    found = onPath(name, env.PATH) ?? fromPackage(npmPackage)
  }
  if (!found) {
    throw new WeftError('FFMPEG_NOT_FOUND', `${name} not found: install it on PATH, reinstall ${npmPackage}, or set ${envVar} to the binary`, { retryable: false })
  }
  cache.set(key, found)
  return found
}

function onPath(name: string, pathVar: string | undefined): string | undefined {
  const exe = process.platform === 'win32' ? `${name}.exe` : name
  for (const dir of (pathVar ?? '').split(path.delimiter)) {
    if (!dir) continue
    const candidate = path.join(dir, exe)
    if (isExecutable(candidate)) return candidate
  }
  return undefined
}

function fromPackage(pkg: string): string | undefined {
  try {
    // the installer packages throw on unsupported platforms; a missing binary is then "not found"
    const p = (require(pkg) as { path?: unknown }).path
    return typeof p === 'string' && isExecutable(p) ? p : undefined
  } catch {
    return undefined
  }
}

function isFile(p: string): boolean {
  try {
    return statSync(p).isFile()
  } catch {
    return false
  }
}

function isExecutable(p: string): boolean {
  try {
    accessSync(p, constants.X_OK)
    return isFile(p)
  } catch {
    return false
  }
}

/** Options of `runFfmpeg`. */
export interface RunFfmpegOptions {
  /** Aborting it kills ffmpeg (SIGKILL) and rejects with the signal's reason. */
  signal: AbortSignal
  /** Working directory (relative paths in filter options resolve against it). */
  cwd?: string
  /** The binary (default: `ffmpegPath()`). */
  ffmpeg?: string
  /** Called with each complete stderr line (for filters that log their findings, e.g. blackdetect). */
  onStderrLine?: (line: string) => void
}

const STDERR_TAIL = 8_000

/**
 * On Linux, ffmpeg starts through util-linux's `setpriv --pdeathsig KILL`, which asks the kernel to kill it when the
 * thread that started it is gone: a weft process killed with -9 takes its encoders with it instead of leaving them
 * writing for seconds. Where setpriv is missing, ffmpeg starts directly.
 */
const SETPRIV = process.platform === 'linux' && isExecutable('/usr/bin/setpriv') ? '/usr/bin/setpriv' : undefined

/**
 * Runs ffmpeg with `-hide_banner -nostdin -y` before `args` (an argument array, never a shell). Resolves with the tail of
 * stderr; rejects with `MEDIA_FAILED` (`details: { exit_code, stderr_tail }`) on a non-zero exit, `FFMPEG_NOT_FOUND`
 * when the binary cannot be started, or the signal's reason when aborted.
 */
export function runFfmpeg(args: readonly string[], opts: RunFfmpegOptions): Promise<{ stderr_tail: string }> {
  const { signal } = opts
  if (signal.aborted) return Promise.reject(signal.reason)
  let bin: string
  try {
    bin = opts.ffmpeg ?? ffmpegPath()
  } catch (err) {
    return Promise.reject(err)
  }
  return new Promise((resolve, reject) => {
    const argv = ['-hide_banner', '-nostdin', '-y', ...args]
    const child = SETPRIV
      ? spawn(SETPRIV, ['--pdeathsig', 'KILL', '--', bin, ...argv], { cwd: opts.cwd, stdio: ['ignore', 'ignore', 'pipe'], windowsHide: true })
      : spawn(bin, argv, { cwd: opts.cwd, stdio: ['ignore', 'ignore', 'pipe'], windowsHide: true })
    let tail = ''
    let partial = ''
    child.stderr.setEncoding('utf8')
    child.stderr.on('data', (chunk: string) => {
      tail = (tail + chunk).slice(-STDERR_TAIL)
      if (!opts.onStderrLine) return
      const lines = (partial + chunk).split(/\r?\n|\r/)
      partial = lines.pop() ?? ''
      for (const line of lines) if (line) opts.onStderrLine(line)
    })
    const onAbort = () => child.kill('SIGKILL')
    signal.addEventListener('abort', onAbort, { once: true })
    child.on('error', (err: NodeJS.ErrnoException) => {
      signal.removeEventListener('abort', onAbort)
      if (err.code === 'ENOENT' || err.code === 'EACCES') {
        reject(new WeftError('FFMPEG_NOT_FOUND', `cannot run ffmpeg at "${bin}" (${err.code}); set FFMPEG_PATH to an ffmpeg binary`, { cause: err, retryable: false }))
      } else {
        reject(new WeftError('MEDIA_FAILED', `ffmpeg could not start: ${err.message}`, { cause: err }))
      }
    })
    child.on('close', (code, sig) => {
      signal.removeEventListener('abort', onAbort)
      if (partial && opts.onStderrLine) opts.onStderrLine(partial)
      if (signal.aborted) return reject(signal.reason)
      if (code === 0) return resolve({ stderr_tail: tail })
      // setpriv could not start the binary: the same as spawn's ENOENT/EACCES without it
      if (SETPRIV && (code === 126 || code === 127) && /^setpriv: failed to execute/m.test(tail)) {
        return reject(new WeftError('FFMPEG_NOT_FOUND', `cannot run ffmpeg at "${bin}" (${code === 127 ? 'ENOENT' : 'EACCES'}); set FFMPEG_PATH to an ffmpeg binary`, { retryable: false }))
      }
      const lastLine = tail.trim().split(/\r?\n/).pop() ?? ''
      reject(new WeftError('MEDIA_FAILED', `ffmpeg exited with ${code ?? sig}: ${lastLine}`, { details: { exit_code: code ?? sig, stderr_tail: tail } }))
    })
  })
}

/** Reads a media file's streams with `ffprobe -print_format json -show_streams -show_format`. Rejects with `MEDIA_FAILED` when ffprobe cannot read it. */
export function probe(file: string, opts: { signal: AbortSignal; ffprobe?: string }): Promise<ProbeResult> {
  const { signal } = opts
  if (signal.aborted) return Promise.reject(signal.reason)
  let bin: string
  try {
    bin = opts.ffprobe ?? ffprobePath()
  } catch (err) {
    return Promise.reject(err)
  }
  const args = ['-v', 'error', '-print_format', 'json', '-show_streams', '-show_format', file]
  return new Promise((resolve, reject) => {
    execFile(bin, args, { signal, killSignal: 'SIGKILL', maxBuffer: 16 * 1024 * 1024, windowsHide: true }, (err, stdout, stderr) => {
      if (signal.aborted) return reject(signal.reason)
      if (err) {
        const code = (err as NodeJS.ErrnoException).code
        if (code === 'ENOENT' || code === 'EACCES')
          return reject(new WeftError('FFMPEG_NOT_FOUND', `cannot run ffprobe at "${bin}" (${code}); set FFPROBE_PATH to an ffprobe binary`, { cause: err, retryable: false }))
        return reject(
          new WeftError('MEDIA_FAILED', `ffprobe cannot read "${file}": ${String(stderr).trim().split('\n').pop() ?? err.message}`, {
            details: { file, exit_code: (err as { code?: unknown }).code ?? null, stderr_tail: String(stderr).slice(-STDERR_TAIL) },
            cause: err,
          }),
        )
      }
      try {
        resolve(readProbe(JSON.parse(String(stdout))))
      } catch (e) {
        reject(new WeftError('MEDIA_FAILED', `ffprobe gave unreadable output for "${file}"`, { details: { file }, cause: e }))
      }
    })
  })
}

interface ProbeJson {
  streams?: Array<{ codec_type?: string; codec_name?: string; width?: number; height?: number; pix_fmt?: string; duration?: string; avg_frame_rate?: string }>
  format?: { duration?: string }
}

/** Turns ffprobe's JSON into a `ProbeResult` (exported for tests). */
export function readProbe(json: ProbeJson): ProbeResult {
  const streams = json.streams ?? []
  const video = streams.find((s) => s.codec_type === 'video')
  const audio = streams.find((s) => s.codec_type === 'audio')
  const num = (s: string | undefined) => (s !== undefined && Number.isFinite(Number(s)) ? Number(s) : undefined)
  const [n, d] = (video?.avg_frame_rate ?? '0/0').split('/').map(Number)
  return {
    width: video?.width ?? 0,
    height: video?.height ?? 0,
    duration_s: num(video?.duration) ?? num(json.format?.duration) ?? 0,
    has_video: video !== undefined,
    has_audio: audio !== undefined,
    codec: video?.codec_name ?? audio?.codec_name ?? '',
    pix_fmt: video?.pix_fmt ?? '',
    fps: n && d ? n / d : 0,
    audio_codec: audio?.codec_name ?? '',
  }
}

/**
 * Escapes a value for a filter option inside a filtergraph (both escaping levels of ffmpeg's filtergraph syntax), so
 * paths with `:`, `'`, `,`, `[` … survive, e.g. `drawtext=fontfile=${filterValue(font)}`.
 */
export function filterValue(value: string): string {
  const level1 = value.replace(/[\\':]/g, (c) => `\\${c}`)
  return level1.replace(/[\\'[\],;]/g, (c) => `\\${c}`)
}
