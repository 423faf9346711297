// The filtergraph that stitches clips (pure): the video is a concat of segments, each clip's own frames or a crossfade.
// ffmpeg 4.1 has no `xfade`, so a crossfade is the next clip's head faded in with alpha and overlaid on the previous clip's
// tail; only those overlap frames are blended, every other frame passes straight from its decoder to the encoder.
import { WeftError } from '../errors.ts'
import type { StitchRequest } from '../ports.ts'

/** A clip as probed: its video duration and whether it has sound. */
export interface StitchClip {
  duration_s: number
  has_audio: boolean
}

/** A run of output frames: `frames` frames of one clip from its frame `from`, or a crossfade from clip `clip` to the next. */
type StitchSegment = { kind: 'clip'; clip: number; from: number; frames: number } | { kind: 'crossfade'; clip: number; frames: number }

/** The stitch's graph (outputs `[v]` and `[a]`), with where each clip lands, in frames at the output rate. */
export interface StitchGraph {
  filter: string
  /** First frame of each clip in the output. */
  starts: number[]
  /** Frames of each clip (its duration at the output rate). */
  frames: number[]
  /** The video in order; their frames add up to `totalFrames`. */
  segments: StitchSegment[]
  totalFrames: number
  /** `totalFrames / fps`: the sum of clip durations minus crossfade overlaps. */
  duration_s: number
}

const RATE = 48000

/**
 * Plans the stitch of `clips` (inputs `0…n-1`) into `width×height` at `fps`. Transitions: `cut`; `crossfade` (the clips
 * overlap by `duration_s`); `fade` (clip i fades to black over the first half of `duration_s`, clip i+1 in from black over the
 * second half, no overlap). Missing transitions are cuts. Throws `MEDIA_INPUT_INVALID` when an overlap does not fit a clip.
 */
export function stitchGraph(req: Pick<StitchRequest, 'transitions' | 'fade_s'>, clips: readonly StitchClip[], size: { width: number; height: number }, fps: number): StitchGraph {
  const n = clips.length
  const frames = clips.map((c) => Math.max(1, Math.round(c.duration_s * fps)))
  const cross = Array<number>(n).fill(0) // overlap after clip i, frames
  const fadeOut = Array<number>(n).fill(0)
  const fadeIn = Array<number>(n).fill(0)
  for (let i = 0; i < n - 1; i++) {
    const t = req.transitions[i]
    const k = t ? Math.max(0, Math.round(t.duration_s * fps)) : 0
    if (!t || t.type === 'cut' || k === 0) continue
    if (t.type === 'crossfade') {
      if (k > frames[i]! || k > frames[i + 1]!) throw invalid(`crossfade ${i} (${t.duration_s} s) is longer than clip ${i} or ${i + 1}`, { transition: i })
      cross[i] = k
    } else {
      fadeOut[i] = Math.min(frames[i]!, Math.floor(k / 2))
      fadeIn[i + 1] = Math.min(frames[i + 1]!, k - Math.floor(k / 2))
    }
  }
  for (let i = 1; i < n; i++) {
    if (cross[i - 1]! + cross[i]! > frames[i]!) throw invalid(`clip ${i} is shorter than the crossfades on both its sides`, { clip: i })
  }
  const starts: number[] = []
  let at = 0
  for (let i = 0; i < n; i++) {
    starts.push(at)
    at += frames[i]! - cross[i]!
  }
  const totalFrames = starts[n - 1]! + frames[n - 1]!
  const segments: StitchSegment[] = []
  for (let i = 0; i < n; i++) {
    const head = i > 0 ? cross[i - 1]! : 0
    if (head) segments.push({ kind: 'crossfade', clip: i - 1, frames: head })
    const own = frames[i]! - head - cross[i]!
    if (own > 0) segments.push({ kind: 'clip', clip: i, from: head, frames: own })
  }

  const { width: W, height: H } = size
  const parts: string[] = []
  for (let i = 0; i < n; i++) {
    const f = frames[i]!
    const head = i > 0 ? cross[i - 1]! : 0
    const tail = cross[i]!
    parts.push(`[${i}:v]setpts=PTS-STARTPTS,fps=${fps},scale=${W}:${H}:force_original_aspect_ratio=decrease,` + `pad=${W}:${H}:(ow-iw)/2:(oh-ih)/2:color=black,setsar=1,format=yuv420p[n${i}]`)
    // black after the clip, read only if its stream ends before its probed duration: the clip fills exactly `f` frames
    parts.push(`color=c=black:s=${W}x${H}:r=${fps},setsar=1,format=yuv420p[k${i}]`)
    const chain = [`[n${i}][k${i}]concat=n=2:v=1:a=0`, `trim=end_frame=${f},setpts=PTS-STARTPTS`]
    if (fadeIn[i]) chain.push(`fade=t=in:s=0:n=${fadeIn[i]}`)
    if (fadeOut[i]) chain.push(`fade=t=out:s=${f - fadeOut[i]!}:n=${fadeOut[i]}`)
    // the clip's frames split into its head (faded in over the previous clip), its own part, and its tail (under the next)
    const pieces: Array<{ label: string; from: number; to: number; extra?: string }> = []
    if (head) pieces.push({ label: `h${i}`, from: 0, to: head, extra: `format=yuva420p,fade=t=in:s=0:n=${head}:alpha=1` })
    if (f - head - tail > 0) pieces.push({ label: `m${i}`, from: head, to: f - tail })
    if (tail) pieces.push({ label: `t${i}`, from: f - tail, to: f })
    if (pieces.length === 1) {
      const only = pieces[0]!
      parts.push(`${chain.join(',')}${only.extra ? `,${only.extra}` : ''}[${only.label}]`)
      continue
    }
    parts.push(`${chain.join(',')},split=${pieces.length}${pieces.map((p) => `[p${i}${p.label}]`).join('')}`)
    for (const p of pieces) {
      const trim = [p.from > 0 ? `start_frame=${p.from}` : '', p.to < f ? `end_frame=${p.to}` : ''].filter(Boolean).join(':')
      parts.push(`[p${i}${p.label}]trim=${trim},setpts=PTS-STARTPTS${p.extra ? `,${p.extra}` : ''}[${p.label}]`)
    }
  }
  const labels = segments.map((s) => {
    if (s.kind === 'clip') return `[m${s.clip}]`
    parts.push(`[t${s.clip}][h${s.clip + 1}]overlay=format=yuv420,format=yuv420p[x${s.clip}]`)
    return `[x${s.clip}]`
  })
  const fade = Math.min(Math.max(0, Math.round((req.fade_s ?? 0) * fps)), Math.floor(totalFrames / 2))
  const endFades = fade > 0 ? `fade=t=in:s=0:n=${fade},fade=t=out:s=${totalFrames - fade}:n=${fade},` : ''
  // ffmpeg 4.1's concat times a segment by its mean frame duration, so a one-frame segment would last zero: number frames
  const video = labels.length > 1 ? `${labels.join('')}concat=n=${labels.length}:v=1:a=0,` : labels[0]!
  parts.push(`${video}setpts=N/(${fps}*TB),${endFades}format=yuv420p[v]`)

  // Sound: clips join end to end, a crossfade's overlap split between the two (each dips out/in over its half).
  // ffmpeg 4.1's acrossfade crashes when chained over three or more clips, so no overlap is mixed.
  const samples = (frameCount: number) => Math.round((frameCount / fps) * RATE)
  for (let i = 0; i < n; i++) {
    const head = i > 0 ? Math.ceil(cross[i - 1]! / 2) : 0
    const tail = Math.floor(cross[i]! / 2)
    const keep = frames[i]! - head - tail
    const src = clips[i]!.has_audio ? `[${i}:a]` : `anullsrc=r=${RATE}:cl=stereo,`
    const chain = [
      `${src}aresample=${RATE},aformat=sample_fmts=fltp:sample_rates=${RATE}:channel_layouts=stereo`,
      'asetpts=PTS-STARTPTS,apad',
      `atrim=start_sample=${samples(head)}:end_sample=${samples(head + keep)}`,
      'asetpts=PTS-STARTPTS',
    ]
    const inFrames = head || fadeIn[i]!
    const outFrames = tail || fadeOut[i]!
    if (inFrames) chain.push(`afade=t=in:ss=0:ns=${samples(Math.min(inFrames, keep))}`)
    if (outFrames) chain.push(`afade=t=out:ss=${samples(keep - Math.min(outFrames, keep))}:ns=${samples(Math.min(outFrames, keep))}`)
    parts.push(`${chain.join(',')}[s${i}]`)
  }
  const joined = n > 1 ? `${clips.map((_, i) => `[s${i}]`).join('')}concat=n=${n}:v=0:a=1,` : '[s0]'
  const total = samples(totalFrames)
  const audioFades = fade > 0 ? `,afade=t=in:ss=0:ns=${samples(fade)},afade=t=out:ss=${total - samples(fade)}:ns=${samples(fade)}` : ''
  parts.push(`${joined}apad,atrim=end_sample=${total}${audioFades}[a]`)
  return { filter: parts.join(';'), starts, frames, segments, totalFrames, duration_s: totalFrames / fps }
}

function invalid(message: string, details: Record<string, unknown>): WeftError {
  return new WeftError('MEDIA_INPUT_INVALID', message, { details, retryable: false })
}
