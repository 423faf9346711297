// The filtergraph of a local video clip (pure): painted palette background with a camera move, reference images, caption,
// and a synthesised audio bed.
import type { VideoRequest } from '../ports.ts'
import { audioBed, audioBedFilter } from './audio-bed.ts'
import { filterValue } from './ffmpeg.ts'
import { backgroundChain, charsFitting, fitText, hashString, motionFor, paletteColours, panelBoxes, seededRandom, wrapText, zoompanFilter } from './look.ts'

/** What ffmpeg needs to render a clip: the graph (outputs `[v]` and `[a]`), text files to write in its cwd, the frame count. */
export interface ClipGraph {
  filter: string
  /** File name (relative to ffmpeg's cwd) → content, for drawtext's `textfile=`. */
  texts: Record<string, string>
  frames: number
  /** Audio samples at 48 kHz, matching the frames exactly. */
  samples: number
}

/** At most this many reference images are composited; the rest are ignored. */
export const MAX_CLIP_IMAGES = 4

/** Frames of a clip: `duration_s × fps`, rounded, at least one. */
function clipFrames(durationS: number, fps: number): number {
  return Math.max(1, Math.round(durationS * fps))
}

/**
 * Builds the clip's filtergraph. Inputs `0…n-1` are the reference images (already validated), in `req.images` order;
 * `font` is the TrueType file for drawtext.
 */
export function clipGraph(req: VideoRequest, font: string, imageCount: number): ClipGraph {
  const { width: W, height: H, fps } = req
  const frames = clipFrames(req.duration_s, fps)
  const samples = Math.round((frames / fps) * 48000)
  const random = seededRandom((req.seed ?? 0) ^ hashString(req.prompt))
  const colours = paletteColours(req.palette, hashString(req.prompt))
  const short = Math.min(W, H)
  const landscape = W >= H
  const n = Math.min(imageCount, MAX_CLIP_IMAGES)
  const margin = Math.round(short * 0.07)
  const fontArg = `fontfile=${filterValue(font)}:expansion=none`
  const texts: Record<string, string> = {}
  const parts: string[] = []

  const boxes = panelBoxes(colours, W, H, random, 2 + Math.floor(random() * 3)).join(',')
  parts.push(`${backgroundChain(colours, W, H, random)},format=yuv420p,${boxes},${zoompanFilter(motionFor(req.camera), frames, W, H, fps)},setsar=1,format=yuv420p[bg]`)
  let current = 'bg'

  const panel = landscape ? { x: W * 0.55, y: H * 0.1, w: W * 0.4, h: H * 0.6 } : { x: W * 0.08, y: H * 0.2, w: W * 0.84, h: H * 0.4 }
  const cells = imageCells(panel, n)
  const border = Math.max(2, Math.round(short * 0.006))
  const drift = Math.max(2, Math.round(short * 0.012))
  const period = Math.max(4, req.duration_s * 1.5)
  cells.forEach((c, i) => {
    const fit = `min(${Math.round(c.w - 2 * border)}/iw,${Math.round(c.h - 2 * border)}/ih)`
    parts.push(
      `[${i}:v]scale=w=${filterValue(`2*trunc(${fit}*iw/2)`)}:h=${filterValue(`2*trunc(${fit}*ih/2)`)},setsar=1,format=rgba,` +
        `pad=w=iw+${2 * border}:h=ih+${2 * border}:x=${border}:y=${border}:color=white@0.9[img${i}]`,
    )
    const phase = (random() * Math.PI * 2).toFixed(3)
    const x = `${Math.round(c.x)}+(${Math.round(c.w)}-overlay_w)/2+${drift}*sin(2*PI*t/${period.toFixed(2)}+${phase})`
    const y = `${Math.round(c.y)}+(${Math.round(c.h)}-overlay_h)/2+${drift}*cos(2*PI*t/${period.toFixed(2)}+${phase})`
    parts.push(`[${current}][img${i}]overlay=x=${filterValue(x)}:y=${filterValue(y)}:eval=frame[ov${i}]`)
    current = `ov${i}`
  })

  const textWidth = n > 0 && landscape ? W * 0.47 - margin : W - 2 * margin
  const draw: string[] = []
  const caption = req.caption?.trim()
  const captionSize = Math.round(short * 0.065)
  const captionLines = caption ? wrapText(caption, charsFitting(W - 2 * margin, captionSize), 2) : []
  // the scene's text is shown whole: the font shrinks (down to a size still readable) until it fits above the caption
  // (and, in portrait, above the image panel)
  const textBottom = Math.min(caption ? H - margin - captionLines.length * captionSize * 1.3 - margin * 0.6 : H - margin, n > 0 && !landscape ? panel.y - margin * 0.3 : H)
  const { size: promptSize, lines: promptLines } = fitText(req.prompt, textWidth, textBottom - margin, short * (n > 0 ? 0.038 : 0.045), short * 0.026)
  if (promptLines.length > 0) {
    texts['prompt.txt'] = promptLines.join('\n')
    draw.push(
      `drawtext=${fontArg}:textfile=prompt.txt:fontsize=${promptSize}:fontcolor=white:line_spacing=${Math.round(promptSize * 0.3)}` +
        `:x=${margin}:y=${margin}:box=1:boxcolor=black@0.35:boxborderw=${Math.round(promptSize * 0.4)}:shadowx=1:shadowy=1:shadowcolor=black@0.6`,
    )
  }
  if (caption) {
    const size = captionSize
    // the caption sits below the image panel, so it may use the full width
    const lines = captionLines
    texts['caption.txt'] = lines.join('\n')
    const blockH = lines.length * size * 1.3
    // the caption rises a few pixels and fades in over half a second
    const y = `${Math.round(H - margin - blockH)}+${Math.round(short * 0.02)}*(1-min(1,t/0.5))`
    draw.push(
      `drawtext=${fontArg}:textfile=caption.txt:fontsize=${size}:fontcolor=white:line_spacing=${Math.round(size * 0.3)}` +
        `:x=${margin}:y=${filterValue(y)}:alpha=${filterValue('min(1,t/0.5)')}:box=1:boxcolor=black@0.5:boxborderw=${Math.round(size * 0.35)}`,
    )
  }
  parts.push(`[${current}]${draw.length > 0 ? draw.join(',') + ',' : ''}format=yuv420p[v]`)
  parts.push(audioBedFilter(audioBed(req.palette, req.prompt, req.seed ?? 0), samples))
  return { filter: parts.join(';'), texts, frames, samples }
}

interface Box {
  x: number
  y: number
  w: number
  h: number
}

// one image fills the panel; with more, the first takes the top two thirds and the others share the bottom row
function imageCells(panel: Box, n: number): Box[] {
  if (n === 0) return []
  if (n === 1) return [panel]
  const gap = panel.h * 0.04
  const mainH = panel.h * 0.64
  const rowH = panel.h - mainH - gap
  const cellW = (panel.w - gap * (n - 2)) / (n - 1)
  return [{ x: panel.x, y: panel.y, w: panel.w, h: mainH }, ...Array.from({ length: n - 1 }, (_, i) => ({ x: panel.x + i * (cellW + gap), y: panel.y + mainH + gap, w: cellW, h: rowH }))]
}
