// Durations in the DSL: a number of milliseconds or a string such as `500ms`, `30s`, `2m`, `1h` (parsed by `ms`).
import ms from 'ms'
import { WeftError } from './errors.ts'

/** Parses a DSL duration; returns undefined when the value is not a valid non-negative duration. */
export function parseDuration(value: unknown): number | undefined {
  if (typeof value === 'number') return Number.isFinite(value) && value >= 0 ? value : undefined
  if (typeof value !== 'string') return undefined
  const s = value.trim()
  if (s === '' || s.length > 100) return undefined
  // `ms` accepts a bare number string as milliseconds; keep that, reject anything else it cannot read.
  const parsed = ms(s as ms.StringValue)
  return typeof parsed === 'number' && Number.isFinite(parsed) && parsed >= 0 ? parsed : undefined
}

/** Formats milliseconds compactly for humans (`850ms`, `12.3s`, `2m 05s`). */
export function formatDuration(msValue: number): string {
  if (msValue < 1000) return `${Math.round(msValue)}ms`
  if (msValue < 60_000) return `${(msValue / 1000).toFixed(1)}s`
  const m = Math.floor(msValue / 60_000)
  const s = Math.round((msValue % 60_000) / 1000)
  return `${m}m ${String(s).padStart(2, '0')}s`
}

/** Longest duration a timer can wait (setTimeout's limit, about 24.8 days). */
export const MAX_DURATION_MS = 2_147_483_647

/** A node timeout given at run time (an expression's value): milliseconds, or INVALID_DURATION. */
export function runtimeTimeout(value: unknown, nodeId: string): number {
  const ms = parseDuration(value)
  if (ms === undefined || ms <= 0 || ms > MAX_DURATION_MS) {
    throw new WeftError('INVALID_DURATION', `node "${nodeId}": timeout must be a duration such as 30s or 2m (more than 0, at most ~24.8 days), got ${JSON.stringify(value)}`, { retryable: false })
  }
  return ms
}
