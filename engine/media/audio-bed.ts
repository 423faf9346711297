// The audio bed of a local clip (pure): a soft synthesised pad, so an animatic has music instead of silence. The key
// comes from the palette (the same for every clip of one ad), the chord from the scene, the pulse from the tempo:
// clips stitched in order play one piece in one key, each scene on its own chord of a I–V–vi–IV progression.
import { hashString } from '../seeded.ts'
import { filterValue } from './ffmpeg.ts'

/** Roots of the keys a bed is played in (G3 to D4), in Hz. */
const ROOTS = [196, 207.65, 220, 233.08, 246.94, 261.63, 277.18, 293.66]
/** I, V, vi, IV: semitones above the key's root, and whether the chord is minor. */
const PROGRESSION: Array<{ root: number; minor: boolean }> = [
  { root: 0, minor: false },
  { root: 7, minor: false },
  { root: 9, minor: true },
  { root: 5, minor: false },
]

export interface AudioBed {
  /** Hz of the key's root, the chord's notes (bass first) and the pulse's beats per minute. */
  key: number
  notes: number[]
  bpm: number
}

/** The key, chord and tempo of a clip's bed: the key by the palette, the chord by the scene, the tempo by the key. */
export function audioBed(palette: readonly string[] | undefined, scene: string, seed = 0): AudioBed {
  const keySeed = hashString((palette ?? []).join(',') || 'weft')
  const key = ROOTS[keySeed % ROOTS.length]!
  const n = PROGRESSION.length
  // any integer seed, negative ones too, picks a chord of the progression
  const chord = PROGRESSION[(((hashString(scene) + seed) % n) + n) % n]!
  const root = key * 2 ** (chord.root / 12)
  const third = root * 2 ** ((chord.minor ? 3 : 4) / 12)
  const fifth = root * 2 ** (7 / 12)
  return { key, notes: [root / 2, root, third, fifth], bpm: 84 + (keySeed % 5) * 6 }
}

/**
 * The filter chain that plays a bed for `samples` samples at 48 kHz, stereo, labelled `[a]`: detuned sines for a pad,
 * a bass an octave down, a gentle pulse on the beat, low-passed, faded in and out at the clip's edges (a stitched
 * crossfade then blends the chords).
 */
export function audioBedFilter(bed: AudioBed, samples: number): string {
  const seconds = samples / 48000
  const beat = bed.bpm / 60
  const [bass, ...chord] = bed.notes
  const voice = (f: number, detune: number, amp: number) => `${amp}*sin(2*PI*${(f * detune).toFixed(3)}*t)`
  const pad = (detune: number) => chord.map((f, i) => voice(f, detune, [0.05, 0.04, 0.035][i] ?? 0.03)).join('+')
  // the pulse swells on each beat and never falls silent
  const pulse = `(0.65+0.35*pow(sin(PI*${beat.toFixed(4)}*t),2))`
  const left = `(${pad(1)}+${voice(bass!, 1, 0.06)})*${pulse}`
  const right = `(${pad(1.003)}+${voice(bass!, 1, 0.06)})*${pulse}`
  const fade = Math.min(0.5, seconds / 4)
  return [
    `aevalsrc=exprs=${filterValue(`${left}|${right}`)}:s=48000:c=stereo:d=${seconds.toFixed(4)}`,
    'lowpass=f=2200',
    `afade=t=in:st=0:d=${fade.toFixed(3)}`,
    `afade=t=out:st=${Math.max(0, seconds - fade).toFixed(3)}:d=${fade.toFixed(3)}`,
    `apad,atrim=end_sample=${samples}[a]`,
  ].join(',')
}
