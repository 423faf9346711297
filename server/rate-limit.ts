// Per-caller rate limiting (rate-limiter-flexible's memory limiter): `WEFT_RATE_LIMIT=30/min` parsing and the middleware.
import type { Context, MiddlewareHandler } from 'hono'
import { RateLimiterMemory, RateLimiterRes } from 'rate-limiter-flexible'
import { WeftError } from '../engine/errors.ts'
import { parseDuration } from '../engine/duration.ts'
import { errorResponse } from './errors.ts'

/** At most `points` requests per caller in any window of `durationS` seconds. */
export interface RateLimit {
  points: number
  durationS: number
}

/** The default for `POST /api/v2/generate`: 30 a minute per caller. */
export const DEFAULT_RATE_LIMIT: RateLimit = { points: 30, durationS: 60 }

/** `POST /api/v2/pipelines/validate`, per caller: an editor validating as a person types, but not a flood. */
export const VALIDATE_RATE_LIMIT: RateLimit = { points: 120, durationS: 60 }
/** `POST /api/v2/sessions/:id/token`: a page following a run asks once per (re)connection. */
export const TOKEN_RATE_LIMIT: RateLimit = { points: 120, durationS: 60 }

const UNITS: Record<string, number> = { s: 1, sec: 1, second: 1, m: 60, min: 60, minute: 60, h: 3600, hour: 3600, d: 86_400, day: 86_400 }

/**
 * Parses `N/unit` (`30/min`, `5/s`, `100/hour`, `10/30s`); `off` or `0` disables limiting (undefined).
 * Anything else → RATE_LIMIT_INVALID.
 */
export function parseRateLimit(value: string): RateLimit | undefined {
  const s = value.trim().toLowerCase()
  if (s === 'off' || s === '0') return undefined
  const m = s.match(/^(\d{1,9})\s*\/\s*(\S+)$/)
  const points = m ? Number(m[1]) : NaN
  const unit = m?.[2] ?? ''
  const seconds = UNITS[unit] ?? (unit ? (parseDuration(unit) ?? 0) / 1000 : 0)
  if (!(points >= 1) || !(seconds >= 1) || !Number.isInteger(seconds)) {
    throw new WeftError('RATE_LIMIT_INVALID', `WEFT_RATE_LIMIT: expected N/unit such as 30/min, 5/s or 10/30s (or off), got ${JSON.stringify(value)}`, { retryable: false })
  }
  return { points, durationS: seconds }
}

/**
 * Consumes one point per request for the caller `keyOf(c)` names; over the limit → 429 RATE_LIMITED
 * with `Retry-After` (whole seconds until the next point frees up).
 */
export function rateLimit(limit: RateLimit, keyOf: (c: Context) => string): MiddlewareHandler {
  const limiter = new RateLimiterMemory({ points: limit.points, duration: limit.durationS })
  return async (c, next) => {
    try {
      await limiter.consume(keyOf(c))
    } catch (err) {
      if (!(err instanceof RateLimiterRes)) throw err
      c.header('Retry-After', String(Math.max(1, Math.ceil(err.msBeforeNext / 1000))))
      return errorResponse(c, 429, 'RATE_LIMITED', `too many requests: at most ${limit.points} per ${limit.durationS}s; retry after the Retry-After seconds`)
    }
    return next()
  }
}
