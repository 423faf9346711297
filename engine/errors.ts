// Error shapes shared by the whole engine: DSL diagnostics (data) and runtime errors (one class, branch on `code`).

/** Severity of a pipeline diagnostic. Errors make a pipeline invalid; warnings do not. */
export type Severity = 'error' | 'warning'

/** One problem found in a pipeline file, with its position. `line` and `col` are 1-based. */
export interface Diagnostic {
  /** Stable SCREAMING_SNAKE code, e.g. `SCHEMA_INVALID`, `UNKNOWN_NODE`, `CYCLE`. */
  code: string
  message: string
  file: string
  line: number
  col: number
  /** Dotted path inside the document, e.g. `nodes.story.max_iterations`. */
  path: string
  severity: Severity
  /** What to do about it, when there is something to say beyond the message. */
  hint?: string
}

/** Formats a diagnostic the way the CLI prints it: `file:line:col CODE path: message`. */
export function formatDiagnostic(d: Diagnostic): string {
  const where = d.path ? `${d.path}: ` : ''
  const sev = d.severity === 'warning' ? ' (warning)' : ''
  const at = d.line > 0 ? `${d.file}:${d.line}:${d.col}` : d.file
  return `${at} ${d.code}${sev} ${where}${d.message}${d.hint ? `\n  hint: ${d.hint}` : ''}`
}

/** The serialisable form of a runtime error, as it crosses worker threads and reaches run records. */
export interface ErrorInfo {
  code: string
  message: string
  details?: unknown
  /** False when retrying cannot help (bad config, invalid output). Absent means retryable. */
  retryable?: boolean
}

/** The one runtime error class. Code is SCREAMING_SNAKE; branch on it, never on `instanceof`. */
export class WeftError extends Error {
  readonly code: string
  readonly details: unknown
  readonly retryable: boolean

  constructor(code: string, message: string, opts: { details?: unknown; cause?: unknown; retryable?: boolean } = {}) {
    super(message, opts.cause === undefined ? undefined : { cause: opts.cause })
    this.name = 'WeftError'
    this.code = code
    this.details = opts.details
    this.retryable = opts.retryable ?? true
  }

  toJSON(): ErrorInfo {
    const out: ErrorInfo = { code: this.code, message: this.message }
    if (this.details !== undefined) out.details = this.details
    if (!this.retryable) out.retryable = false
    return out
  }

  /** Rebuilds an error from its serialised form (e.g. after a worker thread). */
  static from(info: ErrorInfo): WeftError {
    return new WeftError(info.code, info.message, { details: info.details, retryable: info.retryable ?? true })
  }
}

/** Normalises anything thrown (Error, WeftError, string, structured-cloned object) to ErrorInfo. */
export function toErrorInfo(err: unknown, fallbackCode = 'NODE_FAILED'): ErrorInfo {
  if (err && typeof err === 'object') {
    const e = err as { code?: unknown; message?: unknown; details?: unknown; retryable?: unknown; name?: unknown }
    const code = typeof e.code === 'string' && /^[A-Z][A-Z0-9_]*$/.test(e.code) ? e.code : fallbackCode
    const message = typeof e.message === 'string' && e.message ? e.message : String(err)
    const info: ErrorInfo = { code, message }
    if (e.details !== undefined) info.details = safeDetails(e.details)
    if (e.retryable === false) info.retryable = false
    return info
  }
  return { code: fallbackCode, message: String(err) }
}

function safeDetails(details: unknown): unknown {
  try {
    return JSON.parse(JSON.stringify(details))
  } catch {
    return String(details)
  }
}
