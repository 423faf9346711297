// Clip quality score: a few signal-level checks in the spirit of VBench's dimensions, not VBench.
//
// One ffmpeg pass over the file measures, on every frame (strobing alternates frame by frame) sampled down to at most
// 320 px wide:
//   black     blackdetect (pixels below 10 % luma on 98 % of the picture, ≥ 0.1 s): the fraction of the clip that is black;
//   frozen    freezedetect (−60 dB, ≥ 1 s): the fraction of the clip with no change. Frames are compared with the first frame
//             of the suspected freeze, so a slow, steady move (the local provider's gentle camera) is not a freeze;
//   flicker   signalstats per frame: the mean |second difference| of average luma (brightness that jumps back and forth;
//             smooth fades and single cuts barely count) and the mean YDIF (per-pixel change, high for noise and strobing);
// and on every sixth frame (detail changes slowly), scaled to at most 640 px wide (the share of edge pixels depends on scale):
//   sharpness edgedetect (Canny), averaged: the share of edge pixels, a proxy for detail and focus.
// Sub-scores are 0–100: black = 100·(1 − 2·black fraction), frozen = 100·(1 − 2·frozen fraction), flicker = the lower of
// 100·(1 − (jerk − 1)/5) and 100·(1 − (YDIF − 10)/20), sharpness = 100·(edge luma − 0.5)/2 (about 1 % edge pixels scores
// 100), each clamped. Score = 0.3·black + 0.3·frozen + 0.2·flicker + 0.2·sharpness, capped at the lowest sub-score + 40 so
// that a clip failing one check outright (all black, a still, strobing) cannot pass on the others; rounded.
// Measured: a black clip scores 20, a still image 40, strobing 40, a heavily blurred clip about 65, clips from the
// local provider and stitches of them 97–100.
import { mkdtemp, readFile, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import path from 'node:path'
import { WeftError } from '../errors.ts'
import { filterValue, runFfmpeg } from './ffmpeg.ts'

/** Sub-scores, each 0–100 (higher is better). */
interface QualityBreakdown {
  black: number
  frozen: number
  flicker: number
  sharpness: number
}

/** The raw figures the score is computed from. */
export interface QualityMeasurements {
  frames: number
  duration_s: number
  black_s: number
  black_fraction: number
  frozen_s: number
  frozen_fraction: number
  /** Mean per-pixel luma change between consecutive frames (0–255). */
  ydif_mean: number
  ydif_std: number
  /** Mean |YAVG(t+1) − 2·YAVG(t) + YAVG(t−1)|, each term capped at 30. */
  luma_jerk: number
  yavg_mean: number
  /** Mean luma of the Canny edge map (255 × the share of edge pixels). */
  edge_luma: number
}

export interface QualityReport {
  /** 0–100, integer. */
  score: number
  breakdown: QualityBreakdown
  measurements: QualityMeasurements
}

/** Weights of the sub-scores in `score`. */
const QUALITY_WEIGHTS: Readonly<QualityBreakdown> = { black: 0.3, frozen: 0.3, flicker: 0.2, sharpness: 0.2 }

/** The score is at most the lowest sub-score plus this. */
export const FAIL_CAP = 40

// About 0.6 CPU s for 8 s of 720p, half of it decoding; a single chain at 640 px with edges on every third frame took
// 1.2–1.9 s. Bilinear sampling (not area averaging) keeps per-pixel noise in YDIF: it reads about the same for a clip
// 640, 1280 or 1920 px wide, where the single chain read it twice as high at 640 as at 1280.
const ANALYSIS = [
  'split[stats][edges]',
  [
    `[stats]scale=w=${filterValue('min(320,iw)')}:h=-2:flags=fast_bilinear`,
    'format=yuv420p',
    'blackdetect=d=0.1:pic_th=0.98:pix_th=0.10',
    'freezedetect=n=0.001:d=1',
    'signalstats',
    'metadata=mode=print:file=stats.txt',
    'nullsink',
  ].join(','),
  [
    `[edges]select=${filterValue('not(mod(n,6))')}`,
    `scale=w=${filterValue('min(640,iw)')}:h=-2`,
    'format=gray',
    'edgedetect',
    // averaging the edge map down keeps signalstats cheap; area scaling preserves the mean
    'scale=w=64:h=36:flags=area',
    'signalstats',
    'metadata=mode=print:file=edges.txt',
    'nullsink',
  ].join(','),
].join(';')

/** Scores a video file (see the header of this file). Rejects with `MEDIA_FAILED` when ffmpeg cannot read it, `MEDIA_INPUT_INVALID` when it has no frames. */
export async function scoreClip(file: string, opts: { signal: AbortSignal; ffmpeg?: string }): Promise<QualityReport> {
  const scratch = await mkdtemp(path.join(tmpdir(), 'weft-quality-'))
  try {
    const black: Array<{ start: number; end: number }> = []
    const freezes: Array<{ start: number; end?: number }> = []
    await runFfmpeg(['-i', `file:${file}`, '-an', '-sn', '-filter_complex', ANALYSIS, '-f', 'null', '-'], {
      signal: opts.signal,
      cwd: scratch,
      ffmpeg: opts.ffmpeg,
      onStderrLine(line) {
        const b = /black_start:\s*([\d.]+)\s+black_end:\s*([\d.]+)/.exec(line)
        if (b) black.push({ start: Number(b[1]), end: Number(b[2]) })
        const fs = /freezedetect\.freeze_start:\s*([\d.]+)/.exec(line)
        if (fs) freezes.push({ start: Number(fs[1]) })
        const fe = /freezedetect\.freeze_end:\s*([\d.]+)/.exec(line)
        const open = freezes[freezes.length - 1]
        if (fe && open && open.end === undefined) open.end = Number(fe[1])
      },
    })
    const stats = parseMetadata(await readFile(path.join(scratch, 'stats.txt'), 'utf8'))
    const edges = parseMetadata(await readFile(path.join(scratch, 'edges.txt'), 'utf8').catch(() => ''))
    if (stats.length === 0) throw new WeftError('MEDIA_INPUT_INVALID', `"${file}" has no video frames to score`, { details: { file }, retryable: false })
    return score(measure(stats, edges, black, freezes))
  } finally {
    await rm(scratch, { recursive: true, force: true })
  }
}

interface FrameStats {
  time: number
  values: Record<string, number>
}

/** Parses the output of `metadata=mode=print` (a `frame:… pts_time:…` line, then `key=value` lines). */
export function parseMetadata(text: string): FrameStats[] {
  const frames: FrameStats[] = []
  for (const line of text.split('\n')) {
    const head = /^frame:\s*\d+\s+pts:\s*\S+\s+pts_time:\s*(\S+)/.exec(line)
    if (head) {
      frames.push({ time: Number(head[1]), values: {} })
      continue
    }
    const kv = /^lavfi\.signalstats\.(\w+)=(\S+)/.exec(line)
    const current = frames[frames.length - 1]
    if (kv && current) current.values[kv[1]!] = Number(kv[2])
  }
  return frames
}

function measure(stats: FrameStats[], edges: FrameStats[], black: Array<{ start: number; end: number }>, freezes: Array<{ start: number; end?: number }>): QualityMeasurements {
  const n = stats.length
  const step = n > 1 ? (stats[n - 1]!.time - stats[0]!.time) / (n - 1) : 0
  const first = stats[0]!.time
  const duration = Math.max(step, stats[n - 1]!.time - first + step)
  const last = first + duration
  // detectors report an interval still open at the end as ending on the last frame's start: extend it to the end
  const until = (end: number | undefined) => (end === undefined || end >= last - step * 1.5 ? last : end)
  const blackS = Math.min(
    duration,
    black.reduce((s, b) => s + Math.max(0, until(b.end) - b.start), 0),
  )
  const frozenS = Math.min(
    duration,
    freezes.reduce((s, f) => s + Math.max(0, until(f.end) - f.start), 0),
  )
  const ydif = stats.slice(1).map((f) => f.values.YDIF ?? 0)
  const yavg = stats.map((f) => f.values.YAVG ?? 0)
  const jerks = yavg.slice(1, -1).map((y, i) => Math.min(30, Math.abs(yavg[i + 2]! - 2 * y + yavg[i]!)))
  const ydifMean = mean(ydif)
  return {
    frames: n,
    duration_s: round(duration),
    black_s: round(blackS),
    black_fraction: round(blackS / duration),
    frozen_s: round(frozenS),
    frozen_fraction: round(frozenS / duration),
    ydif_mean: round(ydifMean),
    ydif_std: round(Math.sqrt(mean(ydif.map((d) => (d - ydifMean) ** 2)))),
    luma_jerk: round(mean(jerks)),
    yavg_mean: round(mean(yavg)),
    edge_luma: round(mean(edges.map((f) => f.values.YAVG ?? 0))),
  }
}

/** Turns measurements into sub-scores and the weighted score (exported for tests). */
export function score(m: QualityMeasurements): QualityReport {
  const pct = (x: number) => Math.round(100 * Math.min(1, Math.max(0, x)))
  const breakdown: QualityBreakdown = {
    black: pct(1 - 2 * m.black_fraction),
    frozen: pct(1 - 2 * m.frozen_fraction),
    flicker: Math.min(pct(1 - (m.luma_jerk - 1) / 5), pct(1 - (m.ydif_mean - 10) / 20)),
    sharpness: pct((m.edge_luma - 0.5) / 2),
  }
  const keys = Object.keys(QUALITY_WEIGHTS) as Array<keyof QualityBreakdown>
  const weighted = keys.reduce((s, k) => s + QUALITY_WEIGHTS[k] * breakdown[k], 0)
  const cap = Math.min(...keys.map((k) => breakdown[k])) + FAIL_CAP
  return { score: Math.round(Math.min(weighted, cap)), breakdown, measurements: m }
}

function mean(xs: number[]): number {
  return xs.length === 0 ? 0 : xs.reduce((a, b) => a + b, 0) / xs.length
}

function round(x: number): number {
  return Math.round(x * 1000) / 1000
}
