// The local provider's look, as pure functions: seeded randomness, palettes, the painted background, wrapped text, camera moves.
import { filterValue } from './ffmpeg.ts'

/** A colour as 0–255 channels. */
export interface Rgb {
  r: number
  g: number
  b: number
}

export { hashString, seededRandom } from '../seeded.ts'

const DEFAULT_PALETTES: string[][] = [
  ['#1d3557', '#457b9d', '#f1faee', '#e63946'],
  ['#264653', '#2a9d8f', '#e9c46a', '#f4a261'],
  ['#2b2d42', '#8d99ae', '#edf2f4', '#ef233c'],
  ['#3d405b', '#81b29a', '#f2cc8f', '#e07a5f'],
  ['#22223b', '#4a4e69', '#c9ada7', '#f2e9e4'],
]

/**
 * Parses `#rrggbb` / `#rgb` colours (invalid entries and near-duplicates are skipped) and fills up to four colours with
 * derived shades; a default palette chosen by `fallbackSeed` stands in when none is valid.
 */
export function paletteColours(palette: readonly string[] | undefined, fallbackSeed: number): Rgb[] {
  const parsed = (palette ?? []).map(parseColour).filter((c): c is Rgb => c !== undefined)
  const given = parsed.length > 0 ? parsed : DEFAULT_PALETTES[fallbackSeed % DEFAULT_PALETTES.length]!.map((c) => parseColour(c)!)
  // near-duplicates add no contrast (a flat frame has no detail to see or to score): derive shades instead
  const colours: Rgb[] = []
  for (const c of given) if (colours.every((k) => distance(k, c) >= 48)) colours.push(c)
  const first = colours[0]!
  // too few colours: derive a deep shade and a light tint so gradients and accents still have contrast
  if (colours.length < 2) colours.push(mix(first, { r: 0, g: 0, b: 0 }, 0.55))
  if (colours.length < 3) colours.push(mix(first, { r: 255, g: 255, b: 255 }, 0.6))
  if (colours.length < 4) colours.push(mix(colours[1]!, colours[2]!, 0.5))
  return colours
}

function parseColour(s: string): Rgb | undefined {
  const m = /^#?([0-9a-f]{3}|[0-9a-f]{6})$/i.exec(s.trim())
  if (!m) return undefined
  const hex = m[1]!.length === 3 ? [...m[1]!].map((c) => c + c).join('') : m[1]!
  const n = parseInt(hex, 16)
  return { r: (n >> 16) & 255, g: (n >> 8) & 255, b: n & 255 }
}

function distance(a: Rgb, b: Rgb): number {
  return Math.hypot(a.r - b.r, a.g - b.g, a.b - b.b)
}

function mix(a: Rgb, b: Rgb, t: number): Rgb {
  return { r: Math.round(a.r + (b.r - a.r) * t), g: Math.round(a.g + (b.g - a.g) * t), b: Math.round(a.b + (b.b - a.b) * t) }
}

/** `0xrrggbb` for ffmpeg colour options, with an optional `@alpha`. */
export function ffColour(c: Rgb, alpha?: number): string {
  const hex = '0x' + [c.r, c.g, c.b].map((v) => v.toString(16).padStart(2, '0')).join('')
  return alpha === undefined ? hex : `${hex}@${alpha.toFixed(2)}`
}

/** Relative luminance 0–1, to pick readable text colours. */
export function luminance(c: Rgb): number {
  return (0.2126 * c.r + 0.7152 * c.g + 0.0722 * c.b) / 255
}

/**
 * A filter chain (no inputs, one output) painting a `width×height` background: a diagonal gradient between the first two
 * colours, soft "bokeh" glows of the others at seeded places, and a vignette. Painted small with `geq`, then scaled up,
 * so it costs a few milliseconds at any size. The output is planar RGB: callers convert (zoompan and drawbox need YUV).
 */
export function backgroundChain(colours: readonly Rgb[], width: number, height: number, random: () => number): string {
  const long = 192
  const lw = width >= height ? long : Math.max(2, Math.round((long * width) / height))
  const lh = width >= height ? Math.max(2, Math.round((long * height) / width)) : long
  const angle = random() * Math.PI * 2
  const [ca, sa] = [Math.cos(angle).toFixed(3), Math.sin(angle).toFixed(3)]
  const blobs = Array.from({ length: 4 }, (_, i) => ({
    colour: colours[(i % (colours.length - 1)) + 1]!,
    cx: (0.1 + random() * 0.8) * lw,
    cy: (0.1 + random() * 0.8) * lh,
    r: (0.12 + random() * 0.2) * Math.max(lw, lh),
    a: 0.25 + random() * 0.3,
  }))
  // geq runs on slice threads that share st()/ld() registers, so the expression is written out without them
  const channel = (k: keyof Rgb) => {
    const t = `clip(((X/W-0.5)*${ca}+(Y/H-0.5)*${sa})*1.3+0.5,0,1)`
    let colour = `(${colours[0]![k]}+${colours[1]![k] - colours[0]![k]}*${t})`
    for (const b of blobs) {
      const m = `clip((${b.r.toFixed(2)}-hypot(X-${b.cx.toFixed(2)},Y-${b.cy.toFixed(2)}))/${(b.r * 0.6).toFixed(2)},0,1)*${b.a.toFixed(3)}`
      colour = `(${colour}*(1-${m})+${b.colour[k]}*${m})`
    }
    return `clip(${colour}*(1-0.9*(pow(X/W-0.5,2)+pow(Y/H-0.5,2))),0,255)`
  }
  return [
    `color=c=black:s=${lw}x${lh}:r=1:d=1`,
    'format=gbrp',
    `geq=r=${filterValue(channel('r'))}:g=${filterValue(channel('g'))}:b=${filterValue(channel('b'))}`,
    `scale=${width}:${height}:flags=bicubic`,
  ].join(',')
}

/** `count` translucent, outlined `drawbox` panels in palette accents at seeded places and sizes (YUV input): the seed's composition. */
export function panelBoxes(colours: readonly Rgb[], width: number, height: number, random: () => number, count: number): string[] {
  return Array.from({ length: count }, (_, i) => {
    const w = Math.round(width * (0.15 + random() * 0.35))
    const h = Math.round(height * (0.1 + random() * 0.35))
    const x = Math.round(random() * (width - w))
    const y = Math.round(random() * (height - h))
    const fill = colours[(i % 3) + 1]!
    const edge = luminance(fill) > 0.5 ? 'black@0.35' : 'white@0.45'
    const line = Math.max(1, Math.round(Math.min(width, height) / 300))
    return `drawbox=x=${x}:y=${y}:w=${w}:h=${h}:color=${ffColour(fill, 0.15 + random() * 0.2)}:t=fill,drawbox=x=${x}:y=${y}:w=${w}:h=${h}:color=${edge}:t=${line}`
  })
}

/** Collapses whitespace and control characters to single spaces. */
export function cleanText(s: string): string {
  return s.replace(/[\u0000-\u001f\u007f\s]+/g, ' ').trim()
}

/** Word-wraps `text` to lines of at most `maxChars`, keeping `maxLines` (the last one ends with "…" when text was cut). */
export function wrapText(text: string, maxChars: number, maxLines: number): string[] {
  const words = cleanText(text).split(' ').filter(Boolean)
  const lines: string[] = []
  let line = ''
  let cut = false
  for (const raw of words) {
    const word = raw.length > maxChars ? raw.slice(0, maxChars - 1) + '…' : raw
    if (!line) line = word
    else if (line.length + 1 + word.length <= maxChars) line += ' ' + word
    else {
      lines.push(line)
      line = word
      if (lines.length === maxLines) {
        cut = true
        break
      }
    }
  }
  if (!cut && line) lines.push(line)
  if (cut) {
    const last = lines[maxLines - 1]!
    lines[maxLines - 1] = (last.length + 1 > maxChars ? last.slice(0, maxChars - 1) : last) + '…'
  }
  return lines
}

/** How many characters of DejaVu Sans at `fontSize` fit in `px` (an average advance of 0.58 em). */
export function charsFitting(px: number, fontSize: number): number {
  return Math.max(8, Math.floor(px / (fontSize * 0.58)))
}

/**
 * The largest font size from `maxSize` down to `minSize` at which all of `text` wraps into a block `width` × `height`
 * pixels (lines 1.3 sizes apart), with its lines; at `minSize` a text still too long is cut with `…`.
 */
export function fitText(text: string, width: number, height: number, maxSize: number, minSize: number): { size: number; lines: string[] } {
  for (let size = Math.round(maxSize); size >= Math.round(minSize); size--) {
    const fit = Math.max(1, Math.floor(height / (size * 1.3)))
    const lines = wrapText(text, charsFitting(width, size), fit + 1)
    if (lines.length <= fit && !lines.at(-1)?.endsWith('…')) return { size, lines }
  }
  const size = Math.round(minSize)
  return { size, lines: wrapText(text, charsFitting(width, size), Math.max(1, Math.floor(height / (size * 1.3)))) }
}

/** The gentle camera moves the local provider knows. */
export type Motion = 'zoom_in' | 'zoom_out' | 'pan_left' | 'pan_right' | 'tilt_up' | 'tilt_down' | 'drift'

/** Maps a camera direction ("slow push-in", "pan left", "pull back"…) to a motion; anything else drifts. */
export function motionFor(camera: string | undefined): Motion {
  const c = (camera ?? '').toLowerCase()
  if (/pull[- ]?(back|out)|zoom[- ]?out|dolly[- ]?out/.test(c)) return 'zoom_out'
  if (/push[- ]?in|zoom|dolly[- ]?in|close[- ]?in/.test(c)) return 'zoom_in'
  if (/pan[- ]?left|track(ing)?[- ]?left/.test(c)) return 'pan_left'
  if (/pan[- ]?right|track(ing)?[- ]?right|pan/.test(c)) return 'pan_right'
  if (/tilt[- ]?up|crane[- ]?up|pedestal[- ]?up/.test(c)) return 'tilt_up'
  if (/tilt[- ]?down|crane[- ]?down|pedestal[- ]?down/.test(c)) return 'tilt_down'
  return 'drift'
}

/**
 * A `zoompan` filter turning one still frame into `frames` frames of `motion` at `width×height`, `fps`.
 * Moves are slow on purpose (about 15 % zoom or travel over an 8 s clip, more over longer ones so the motion never slows
 * to a standstill): gentle, but never a frozen frame.
 */
export function zoompanFilter(motion: Motion, frames: number, width: number, height: number, fps: number): string {
  const p = `(on/${Math.max(1, frames - 1)})`
  const k = Math.max(1, frames / fps / 8)
  const [zoom, hold] = [(0.15 * k).toFixed(3), (1 + 0.18 * k).toFixed(3)]
  const centre = { x: 'iw/2-iw/zoom/2', y: 'ih/2-ih/zoom/2' }
  const moves: Record<Motion, { z: string; x: string; y: string }> = {
    zoom_in: { z: `1+${zoom}*${p}`, ...centre },
    zoom_out: { z: `1+${zoom}-${zoom}*${p}`, ...centre },
    pan_left: { z: hold, x: `(iw-iw/zoom)*(1-${p})`, y: centre.y },
    pan_right: { z: hold, x: `(iw-iw/zoom)*${p}`, y: centre.y },
    tilt_up: { z: hold, x: centre.x, y: `(ih-ih/zoom)*(1-${p})` },
    tilt_down: { z: hold, x: centre.x, y: `(ih-ih/zoom)*${p}` },
    drift: { z: `1.08+${(0.06 * k).toFixed(3)}*${p}`, x: `(iw-iw/zoom)*(0.25+0.5*${p})`, y: `(ih-ih/zoom)*(0.7-0.4*${p})` },
  }
  const m = moves[motion]
  return `zoompan=z=${filterValue(m.z)}:x=${filterValue(m.x)}:y=${filterValue(m.y)}:d=${frames}:s=${width}x${height}:fps=${fps}`
}
