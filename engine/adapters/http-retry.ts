// Retrying HTTP calls for the provider adapters: per-attempt timeouts, Retry-After, backoff with jitter, abort.
import { sleep, systemClock } from '../clock.ts'

/** Waits `ms`, or rejects with the signal's reason as soon as it aborts. Injected in tests to record delays. */
export type Sleep = (ms: number, signal: AbortSignal) => Promise<void>

/** The real, abortable sleep. */
export const realSleep: Sleep = (ms, signal) => sleep(systemClock, ms, signal)

/** Longest wait between two attempts, whatever the server asks for: past it the caller's own retry policy is the better judge. */
const MAX_RETRY_DELAY_MS = 60_000

/** True for the statuses worth retrying: rate limits (429) and server errors (5xx). */
export function isRetryableStatus(status: number): boolean {
  return status === 429 || status >= 500
}

/**
 * The wait the server asked for, in ms: `retry-after-ms`, else `Retry-After` as seconds or an HTTP date.
 * Undefined when neither is present or readable.
 */
export function retryAfterMs(headers: Headers, now = Date.now()): number | undefined {
  const ms = headers.get('retry-after-ms')
  if (ms !== null && ms.trim() !== '' && Number.isFinite(Number(ms))) return Math.max(0, Number(ms))
  const after = headers.get('retry-after')?.trim()
  if (!after) return undefined
  if (/^\d+(\.\d+)?$/.test(after)) return Number(after) * 1000
  const date = Date.parse(after)
  return Number.isNaN(date) ? undefined : Math.max(0, date - now)
}

/** Backoff before the `retry`-th retry (1-based): 500 ms doubling up to 8 s, minus up to 25 % jitter. */
export function backoffMs(retry: number, random: () => number = Math.random): number {
  const raw = Math.min(8000, 500 * 2 ** Math.max(0, retry - 1))
  return Math.round(raw * (1 - 0.25 * random()))
}

/** The wait before the `retry`-th retry: the server's Retry-After when it gave one, else backoff; capped. */
export function retryDelayMs(retry: number, headers?: Headers, random?: () => number): number {
  const asked = headers ? retryAfterMs(headers) : undefined
  return Math.min(MAX_RETRY_DELAY_MS, asked ?? backoffMs(retry, random))
}

/** Why an attempt failed in a way another attempt may fix. */
export interface TransientFailure {
  /**
   * `status`: 429/5xx; `network`: no response; `truncated`: the body broke off; `timeout`: the attempt ran out of
   * time; `malformed`: a 2xx whose body is not what the protocol sends (not JSON), a proxy's or transport's fault.
   */
  kind: 'status' | 'network' | 'truncated' | 'timeout' | 'malformed'
  status?: number
  headers?: Headers
  /** The provider's own words, when it gave any. */
  message?: string
  /** `timeout`: the limit each attempt had, in ms. */
  timeoutMs?: number
  /** Set when the call's overall deadline (ms) ended it: the last attempt ran out of it, or no retry could start within it. */
  deadlineMs?: number
  cause?: unknown
}

/** What one attempt came to: a value, a transient failure to retry, or an error that ends the call. */
export type AttemptOutcome<T> = { done: T } | { retry: TransientFailure } | { fail: Error }

export interface RetryOptions {
  /** Retries after the first attempt. */
  maxRetries: number
  /** Per-attempt limit; the attempt's signal aborts when it passes. */
  timeoutMs?: number
  /** The caller's signal: aborting it stops the attempt or the wait at once and rejects with its reason. */
  signal: AbortSignal
  sleep: Sleep
  /** Called before each wait, with the failure and the delay chosen. */
  onRetry?: (failure: TransientFailure, delayMs: number, attempt: number) => void
  /**
   * Limit for the whole call, attempts and waits together, in ms: an attempt gets at most what is left, and no
   * retry starts once it is spent (its failure then says so: `deadlineMs`). Default: none.
   */
  deadlineMs?: number
  /** Clock for the deadline (default `Date.now`); tests move it with their sleep. */
  now?: () => number
}

export type RetryResult<T> = { ok: true; value: T; attempts: number } | { ok: false; failure: TransientFailure; attempts: number }

/**
 * Runs `attempt` until it is done, fails for good, or the retries run out. Anything `attempt` throws
 * counts as a network failure (fetch rejects for refused and reset connections); a timeout of the
 * attempt's own signal turns its failure into `timeout`. Rejects with the caller's abort reason on abort.
 */
export async function withRetries<T>(opts: RetryOptions, attempt: (signal: AbortSignal, n: number) => Promise<AttemptOutcome<T>>): Promise<RetryResult<T>> {
  const now = opts.now ?? Date.now
  const end = opts.deadlineMs === undefined ? Infinity : now() + opts.deadlineMs
  for (let n = 1; ; n++) {
    if (opts.signal.aborted) throw opts.signal.reason
    const ac = new AbortController()
    const onAbort = () => ac.abort(opts.signal.reason)
    opts.signal.addEventListener('abort', onAbort, { once: true })
    let timedOut = false
    // the attempt's own limit, or what is left of the call's deadline when that is shorter
    const left = end - now()
    const limit = Math.min(opts.timeoutMs ?? Infinity, left)
    const byDeadline = left < (opts.timeoutMs ?? Infinity)
    const timer =
      limit === Infinity
        ? undefined
        : setTimeout(
            () => {
              timedOut = true
              ac.abort(new Error(`attempt timed out after ${Math.round(limit)} ms`))
            },
            Math.max(0, limit),
          )
    let outcome: AttemptOutcome<T>
    try {
      outcome = await attempt(ac.signal, n)
    } catch (cause) {
      outcome = { retry: { kind: 'network', cause } }
    } finally {
      clearTimeout(timer)
      opts.signal.removeEventListener('abort', onAbort)
    }
    if (opts.signal.aborted) throw opts.signal.reason
    if ('done' in outcome) return { ok: true, value: outcome.done, attempts: n }
    if ('fail' in outcome) throw outcome.fail
    const failure: TransientFailure = timedOut
      ? { ...outcome.retry, kind: 'timeout', ...(byDeadline ? { deadlineMs: opts.deadlineMs! } : opts.timeoutMs !== undefined ? { timeoutMs: opts.timeoutMs } : {}) }
      : outcome.retry
    if (n > opts.maxRetries) return { ok: false, failure, attempts: n }
    const delay = retryDelayMs(n, failure.headers)
    // no retry that could not start before the deadline
    if (now() + delay >= end) return { ok: false, failure: { ...failure, deadlineMs: opts.deadlineMs! }, attempts: n }
    opts.onRetry?.(failure, delay, n)
    await opts.sleep(delay, opts.signal)
  }
}

/** A response body longer than a caller's limit (the rest is not read). */
export class BodyTooLarge extends Error {
  constructor(readonly maxBytes: number) {
    super(`the response body is over ${maxBytes} bytes`)
    this.name = 'BodyTooLarge'
  }
}

/** Reads a response's body as UTF-8 text, at most `maxBytes` of it: past that, stops reading and throws BodyTooLarge. */
export async function readTextCapped(res: Response, maxBytes: number): Promise<string> {
  const length = Number(res.headers.get('content-length'))
  if (Number.isFinite(length) && length > maxBytes) {
    await res.body?.cancel().catch(() => {})
    throw new BodyTooLarge(maxBytes)
  }
  if (!res.body) return ''
  const reader = res.body.getReader()
  const decoder = new TextDecoder()
  let size = 0
  let text = ''
  for (;;) {
    const { done, value } = await reader.read()
    if (done) return text + decoder.decode()
    size += value.byteLength
    if (size > maxBytes) {
      await reader.cancel().catch(() => {})
      throw new BodyTooLarge(maxBytes)
    }
    text += decoder.decode(value, { stream: true })
  }
}

/** The provider's error message from an error body (OpenAI, Ollama, vLLM and Replicate shapes), else a short excerpt. */
export function providerMessage(body: string): string {
  try {
    const parsed = JSON.parse(body) as Record<string, unknown>
    const error = parsed.error
    if (typeof error === 'string') return error
    if (error && typeof error === 'object' && typeof (error as { message?: unknown }).message === 'string') return (error as { message: string }).message
    for (const key of ['detail', 'message', 'title'] as const) if (typeof parsed[key] === 'string') return parsed[key] as string
  } catch {
    // not JSON: fall through to the excerpt
  }
  return excerpt(body)
}

/** The first `max` characters of a text, marked when cut. */
export function excerpt(text: string, max = 300): string {
  return text.length > max ? `${text.slice(0, max)}…` : text
}

/** Reads a response's body as text (the first 64 KiB at most), or '' when it cannot be read: for error bodies only. */
export async function readTextOrEmpty(res: Response): Promise<string> {
  try {
    return await readTextCapped(res, 64 * 1024)
  } catch {
    return ''
  }
}

/** A short description of why a transient failure happened, for error messages. */
export function describeFailure(f: TransientFailure): string {
  // a timeout with no limit of its own ran out of the deadline itself; otherwise the deadline left no time for a retry
  const ranOut = f.kind === 'timeout' && f.timeoutMs === undefined
  const stopped = f.deadlineMs !== undefined && !ranOut ? `; no time left for another attempt within the overall deadline of ${f.deadlineMs} ms` : ''
  return describeKind(f) + stopped
}

function describeKind(f: TransientFailure): string {
  switch (f.kind) {
    case 'status':
      return `HTTP ${f.status}${f.message ? `: ${f.message}` : ''}`
    case 'timeout':
      return f.timeoutMs !== undefined
        ? `no answer within ${f.timeoutMs} ms (the per-request timeout)`
        : f.deadlineMs !== undefined
          ? `no answer within ${f.deadlineMs} ms in all (the overall deadline, attempts and waits together)`
          : 'the request timed out'
    case 'truncated':
      return 'the response body broke off'
    case 'malformed':
      return `HTTP ${f.status ?? 200} with a body that is not JSON${f.message ? ` (${f.message})` : ''}`
    case 'network':
      return `network error: ${causeText(f.cause)}`
  }
}

function causeText(cause: unknown): string {
  if (!(cause instanceof Error)) return String(cause)
  // undici puts the useful part (ECONNREFUSED, other side closed) in the cause
  const inner = cause.cause instanceof Error ? ` (${cause.cause.message})` : ''
  return `${cause.message}${inner}`
}
