// Text tools for the offline model: seeded hashing, words and keywords, colour names, visual vocabulary.

/** FNV-1a, 32 bits: the offline model's only source of variety (same input, same choice). */
export { hashString as hash } from '../../seeded.ts'

/** A deterministic choice from `items`, varied by `salt`. */
export function pick<T>(items: readonly T[], seed: number, salt = 0): T {
  return items[((seed + Math.imul(salt + 1, 0x9e3779b1)) >>> 0) % items.length]!
}

/** A variable as a JSON object: objects as they are, JSON text parsed; otherwise undefined. */
export function asObject(value: unknown): Record<string, unknown> | undefined {
  let v = value
  if (typeof v === 'string') {
    const t = v.trim()
    if (!t.startsWith('{')) return undefined
    try {
      v = JSON.parse(t)
    } catch {
      return undefined
    }
  }
  return v && typeof v === 'object' && !Array.isArray(v) ? (v as Record<string, unknown>) : undefined
}

/** A variable as an array (JSON text parsed, `{ images | scenes: [...] }` unwrapped). */
export function asArray(value: unknown, key?: string): unknown[] {
  let v = value
  if (typeof v === 'string') {
    try {
      v = JSON.parse(v)
    } catch {
      return []
    }
  }
  if (Array.isArray(v)) return v
  if (key && v && typeof v === 'object' && Array.isArray((v as Record<string, unknown>)[key])) return (v as Record<string, unknown[]>)[key]!
  return []
}

/** A variable as an integer within [min, max], or `fallback`. */
export function asInt(value: unknown, fallback: number, min = 1, max = 1000): number {
  const n = typeof value === 'number' ? value : typeof value === 'string' && value.trim() ? Number(value) : NaN
  return Number.isFinite(n) ? Math.min(max, Math.max(min, Math.round(n))) : fallback
}

export function str(value: unknown): string {
  return typeof value === 'string' ? value.trim() : ''
}

const STOPWORDS = new Set(
  (
    'a an and are as at be been but by can could do does for from had has have he her his how i in into is it its ' +
    'itself just me more most my no not of on or our ours out she so some such than that the their them then there these they this those ' +
    'through to too up us very was we were what when where which while who whom why will with would you your yours about after again ' +
    'against all also am any because before being below between both down during each few further here just off once only other over own ' +
    'same should under until well like make makes made get gets one two three four five new second seconds sec ad ads advert advertisement ' +
    'commercial spot video promo campaign clip film something every ever around across want needs need feel feels scene frame shot ' +
    'picks picking continuing continues previous next final first last still keeps keep beat story meet introducing make'
  ).split(' '),
)

/** Lower-case words (letters, digits, inner hyphens and apostrophes). */
export function words(text: string): string[] {
  return text.toLowerCase().match(/[a-z0-9]+(?:['’-][a-z0-9]+)*/g) ?? []
}

export function wordCount(text: string): number {
  return words(text).length
}

/** Content words of `text` (no stopwords, at least 4 letters), most frequent first, ties by first use. */
export function keywords(text: string, limit = 8, exclude: Iterable<string> = []): string[] {
  const skip = new Set([...exclude].flatMap((e) => words(e)))
  const counts = new Map<string, number>()
  for (const w of words(text)) {
    if (w.length < 4 || STOPWORDS.has(w) || skip.has(w) || /^\d/.test(w)) continue
    counts.set(w, (counts.get(w) ?? 0) + 1)
  }
  return [...counts.entries()]
    .sort((a, b) => b[1] - a[1])
    .slice(0, limit)
    .map(([w]) => w)
}

/** The distinct content words of `text` (for overlap checks). */
export function keySet(text: string, exclude: Iterable<string> = []): Set<string> {
  const skip = new Set([...exclude].flatMap((e) => words(e)))
  return new Set(
    words(text)
      .filter((w) => w.length >= 3 && !STOPWORDS.has(w) && !skip.has(w) && !/^\d+$/.test(w))
      .map(stem),
  )
}

/** A crude stem so "glows" meets "glow" and "trolleys" meets "trolley". */
function stem(w: string): string {
  return w.length > 4 && w.endsWith('s') && !w.endsWith('ss') ? w.slice(0, -1) : w
}

/** How often `phrase` occurs in `text`, as whole words, ignoring case. */
export function countOf(text: string, phrase: string): number {
  const p = phrase.trim()
  if (!p) return 0
  const re = new RegExp(`(?<![\\w-])${escapeRe(p)}(?![\\w-])`, 'gi')
  return text.match(re)?.length ?? 0
}

export function mentions(text: string, phrase: string): boolean {
  return countOf(text, phrase) > 0
}

export function escapeRe(s: string): string {
  return s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')
}

/** Cuts `text` to `max` characters at a word boundary, with an ellipsis when cut. */
export function clip(text: string, max: number): string {
  const t = text.replace(/\s+/g, ' ').trim()
  if (t.length <= max) return t
  const cut = t.slice(0, max - 1)
  const at = cut.lastIndexOf(' ')
  return `${(at > max / 2 ? cut.slice(0, at) : cut).replace(/[\s,;:.—-]+$/, '')}…`
}

export function capital(s: string): string {
  return s ? s[0]!.toUpperCase() + s.slice(1) : s
}

export function sentences(text: string): string[] {
  return (
    text
      .match(/[^.!?]+[.!?]+(?=\s|$)|[^.!?]+$/g)
      ?.map((s) => s.trim())
      .filter(Boolean) ?? []
  )
}

/** Named colours: read from briefs, and used to name a palette's hex values in prose. */
export const COLOURS: Record<string, string> = {
  red: '#d1343a',
  crimson: '#b0203a',
  coral: '#f0725c',
  orange: '#f08a24',
  amber: '#f2a93b',
  gold: '#d4a72c',
  yellow: '#f5d547',
  cream: '#f4ecd8',
  beige: '#d9c6a5',
  sand: '#d8c49a',
  peach: '#f6b38e',
  brown: '#7a5233',
  copper: '#b8703f',
  terracotta: '#c8643b',
  olive: '#7d8a3a',
  green: '#3f9d58',
  emerald: '#1f8a5b',
  mint: '#9fe0c4',
  teal: '#1c8c8c',
  turquoise: '#35c2c1',
  cyan: '#3fc1e0',
  blue: '#2f6fd1',
  navy: '#1f2f5c',
  indigo: '#3d3a9e',
  purple: '#7a4bb5',
  violet: '#8f5fd6',
  lavender: '#b9a7e6',
  magenta: '#c2389a',
  pink: '#f28bb3',
  rose: '#e0607e',
  white: '#f7f7f5',
  ivory: '#fbf6e9',
  silver: '#c3c7cc',
  grey: '#8a8f96',
  gray: '#8a8f96',
  charcoal: '#33373d',
  black: '#141414',
}

/** Colour words of `text`, in order of use, as `#rrggbb`. */
export function coloursIn(text: string): string[] {
  const out: string[] = []
  for (const w of words(text)) {
    const hex = COLOURS[w]
    if (hex && !out.includes(hex)) out.push(hex)
  }
  return out
}

/** `#rrggbb` from hue (degrees), saturation and lightness (0–1). */
export function hslHex(h: number, s: number, l: number): string {
  const k = (n: number) => (n + h / 30) % 12
  const a = s * Math.min(l, 1 - l)
  const f = (n: number) => l - a * Math.max(-1, Math.min(k(n) - 3, 9 - k(n), 1))
  return (
    '#' +
    [0, 8, 4]
      .map((n) =>
        Math.round(f(n) * 255)
          .toString(16)
          .padStart(2, '0'),
      )
      .join('')
  )
}

/** The hue of `#rrggbb`, in degrees. */
export function hueOf(hex: string): number {
  const [r, g, b] = [1, 3, 5].map((i) => parseInt(hex.slice(i, i + 2), 16) / 255) as [number, number, number]
  const max = Math.max(r, g, b)
  const d = max - Math.min(r, g, b)
  if (d === 0) return 0
  const h = max === r ? ((g - b) / d) % 6 : max === g ? (b - r) / d + 2 : (r - g) / d + 4
  return Math.round((h * 60 + 360) % 360)
}

/** The nearest colour name for `#rrggbb`. */
export function colourName(hex: string): string {
  const rgb = (h: string) => [1, 3, 5].map((i) => parseInt(h.slice(i, i + 2), 16))
  const [r, g, b] = rgb(hex)
  let best = 'grey'
  let bestD = Infinity
  for (const [name, h] of Object.entries(COLOURS)) {
    if (name === 'gray') continue
    const [r2, g2, b2] = rgb(h)
    const d = (r! - r2!) ** 2 + (g! - g2!) ** 2 + (b! - b2!) ** 2
    if (d < bestD) [best, bestD] = [name, d]
  }
  return best
}

export const isHex = (s: unknown): boolean => typeof s === 'string' && /^#[0-9a-fA-F]{6}$/.test(s)

/** Words a cinematographer would use: colour, light, lens and camera, texture. */
const VISUAL_TERMS = [
  ...Object.keys(COLOURS),
  'golden',
  'pastel',
  'monochrome',
  'saturated',
  'muted',
  'light',
  'lighting',
  'lit',
  'glow',
  'glows',
  'glowing',
  'sunlight',
  'sunlit',
  'backlit',
  'rim light',
  'shadow',
  'shadows',
  'silhouette',
  'golden hour',
  'blue hour',
  'dusk',
  'dawn',
  'sunrise',
  'sunset',
  'lamplight',
  'neon',
  'haze',
  'hazy',
  'flare',
  'diffused',
  'harsh',
  'dim',
  'bright',
  'candlelight',
  'moonlight',
  'fluorescent',
  'highlights',
  'reflection',
  'reflections',
  'close-up',
  'wide',
  'medium',
  'macro',
  'push-in',
  'pull-out',
  'dolly',
  'pan',
  'tilt',
  'orbit',
  'tracking',
  'handheld',
  'crane',
  'overhead',
  'aerial',
  'angle',
  'focus',
  'depth of field',
  'bokeh',
  'slow motion',
  'rack focus',
  'lens',
  '35mm',
  '50mm',
  '85mm',
  'texture',
  'textures',
  'textured',
  'matte',
  'glossy',
  'brushed',
  'grain',
  'velvet',
  'linen',
  'steel',
  'wood',
  'wooden',
  'glass',
  'marble',
  'concrete',
  'leather',
  'ceramic',
  'chrome',
  'fabric',
  'condensation',
  'steam',
  'mist',
  'dust',
  'cotton',
  'wool',
  'tile',
  'tiled',
  'brick',
  'metal',
  'metallic',
]
const VISUAL_RE = new RegExp(
  `(?<![\\w-])(${VISUAL_TERMS.map(escapeRe)
    .sort((a, b) => b.length - a.length)
    .join('|')})(?![\\w-])|#[0-9a-f]{6}\\b`,
  'gi',
)

/** Distinct visual terms in `text` (colours, light, lens and camera, textures; hex colours count). */
export function visualTerms(text: string): string[] {
  return [...new Set((text.match(VISUAL_RE) ?? []).map((t) => t.toLowerCase()))]
}

/** Words of feeling, for emotional-arc checks. */
const EMOTIONS = [
  'tired',
  'weary',
  'restless',
  'frustrated',
  'exasperated',
  'stressed',
  'anxious',
  'curious',
  'intrigued',
  'hopeful',
  'relieved',
  'delighted',
  'confident',
  'proud',
  'calm',
  'joy',
  'joyful',
  'happy',
  'surprised',
  'excited',
  'content',
  'grateful',
  'amused',
  'inspired',
  'impressed',
  'reassured',
  'moved',
  'gleeful',
  'determined',
  'empowered',
  'at ease',
]

export function emotionWords(text: string): string[] {
  return EMOTIONS.filter((e) => mentions(text, e))
}

/** "a" or "an" before `phrase`, by its first sound as spelled (an everyday customer, a user, an hour, a one-off). */
export function article(phrase: string): 'a' | 'an' {
  const w = phrase.trim().toLowerCase()
  if (/^(?:hour|honest|honou?r|heir)/.test(w)) return 'an'
  if (/^(?:uni|use|usu|uti|eu|one|once|ewe)/.test(w)) return 'a'
  return /^[aeiou]/.test(w) ? 'an' : 'a'
}
