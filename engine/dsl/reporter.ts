// Collects diagnostics against a YAML source, turning document paths into file:line:col.
import { distance } from 'fastest-levenshtein'
import type { Diagnostic, Severity } from '../errors.ts'
import type { YamlSource } from './yaml-source.ts'

export type DocPath = ReadonlyArray<string | number>

export interface ReportOptions {
  /** Point at the map key rather than its value (unknown keys, missing fields). */
  which?: 'key' | 'value'
  /** A piece of text inside the value to point at (an expression or reference). */
  needle?: string
  /** An offset inside the string value `text` to point at (exact when the scalar is written plainly). */
  offset?: { text: string; at: number }
  severity?: Severity
}

/** Formats a document path as `nodes.story.retry.attempts` (indices as `[0]`). */
export function pathString(path: DocPath): string {
  let out = ''
  for (const p of path) out += typeof p === 'number' ? `[${p}]` : out ? `.${p}` : p
  return out
}

export class Reporter {
  readonly diagnostics: Diagnostic[] = []
  constructor(readonly source: YamlSource) {}

  report(code: string, path: DocPath, message: string, opts: ReportOptions = {}): void {
    let pos = this.source.locate(path, opts.which ?? 'value')
    const range = opts.needle || opts.offset ? this.source.range(path) : undefined
    if (range) {
      const raw = this.source.text.slice(range[0], range[1])
      const base = opts.offset ? raw.indexOf(opts.offset.text) : -1
      if (opts.offset && base >= 0) pos = this.source.position(range[0] + base + opts.offset.at)
      else if (opts.needle) {
        const idx = raw.indexOf(opts.needle)
        if (idx >= 0) pos = this.source.position(range[0] + idx)
      }
    }
    this.diagnostics.push({
      code,
      message,
      file: this.source.file,
      line: pos.line,
      col: pos.col,
      path: pathString(path),
      severity: opts.severity ?? 'error',
    })
  }

  /** A problem found in another file (a prompt file the pipeline names), at its own line and column there. */
  reportElsewhere(code: string, at: { file: string; line: number; col: number; path: string }, message: string, severity: Severity = 'error'): void {
    this.diagnostics.push({ code, message, file: at.file, line: at.line, col: at.col, path: at.path, severity })
  }

  get errorCount(): number {
    return this.diagnostics.filter((d) => d.severity === 'error').length
  }
}

/** The closest candidate to `name` (edit distance ≤ 1/3 of its length), for "did you mean" hints. */
function suggest(name: string, candidates: Iterable<string>): string | undefined {
  let best: string | undefined
  let bestDist = Infinity
  // word order counts for little: "story_approval" is close to "approve_story"
  const words = (s: string) =>
    s
      .toLowerCase()
      .split(/[_\-.]/)
      .map((w) => w.replace(/(al|e|ed|ing|s)$/, ''))
      .sort()
      .join('_')
  for (const c of candidates) {
    const d = Math.min(distance(name.toLowerCase(), c.toLowerCase()), distance(words(name), words(c)))
    if (d < bestDist) {
      best = c
      bestDist = d
    }
  }
  return best !== undefined && bestDist <= Math.max(1, Math.floor(name.length / 3)) ? best : undefined
}

export function didYouMean(name: string, candidates: Iterable<string>): string {
  const s = suggest(name, candidates)
  return s ? ` (did you mean "${s}"?)` : ''
}
