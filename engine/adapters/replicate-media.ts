// MediaProvider over Replicate's predictions API: create, poll until done, download the output file.
import { createHash, randomBytes } from 'node:crypto'
import { createWriteStream } from 'node:fs'
import { mkdir, rename, rm, stat } from 'node:fs/promises'
import path from 'node:path'
import { Readable } from 'node:stream'
import { pipeline } from 'node:stream/promises'
import type { ReadableStream as WebReadableStream } from 'node:stream/web'
import { WeftError } from '../errors.ts'
import type { ImageRequest, MediaProvider, MediaRequest, MediaResult, VideoRequest } from '../ports.ts'
import { describeFailure, isRetryableStatus, providerMessage, readTextOrEmpty, realSleep, withRetries, type AttemptOutcome, type Sleep } from './http-retry.ts'
import { imageInput, videoInput } from './replicate-inputs.ts'

export interface ReplicateMediaOptions {
  /** API token, sent as `Authorization: Bearer …` to the API (never to output URLs on other hosts). */
  token: string
  /** Default `https://api.replicate.com/v1`. */
  baseUrl?: string
  /** `owner/name` (runs the model's latest version) or `owner/name:version`. E.g. `black-forest-labs/flux-schnell`. */
  imageModel: string
  /** Same forms as `imageModel`. E.g. `google/veo-3.1`. */
  videoModel: string
  /** Wait between two polls of a running prediction (default 2000). */
  pollIntervalMs?: number
  /** Limit for the whole render: create, polling and download (default 600000). Past it: `MEDIA_TIMEOUT`. */
  timeoutMs?: number
  /** Limit for one API call (create, poll, cancel; default 60000). A timed-out call is retried. */
  requestTimeoutMs?: number
  /** Retries of one call on 429, 5xx, network errors and timeouts (default 3). */
  maxRetries?: number
  /** Sends `Prefer: wait=<n>` (1–60 s) on create, so quick models answer without polling. */
  preferWaitS?: number
  /** Replaces the default mapping of a request to the model's `input` (see `imageInput`, `videoInput`). */
  inputs?: {
    image?: (req: ImageRequest) => object | Promise<object>
    video?: (req: VideoRequest) => object | Promise<object>
  }
  fetch?: typeof fetch
  /** The wait between polls and retries; tests inject one to record the delays instead of sleeping. */
  sleep?: Sleep
}

/** The part of a Replicate prediction this adapter reads. */
interface Prediction {
  id: string
  status: 'starting' | 'processing' | 'succeeded' | 'failed' | 'canceled'
  output?: unknown
  error?: unknown
}

const TERMINAL = new Set(['succeeded', 'failed', 'canceled'])

/**
 * Renders images and videos on Replicate. `stitch` is not a model call: `MEDIA_UNSUPPORTED`.
 *
 * Creating is idempotent: the create call carries an `Idempotency-Key` made from the attempt's key and a
 * hash of the model and input, the same on every retry, so a retry after a lost answer finds the prediction
 * the server already accepted; and two different renders in one node attempt do not share a key.
 *
 * Errors (branch on `code`):
 * - `MEDIA_UNSUPPORTED` (not retryable): a stitch request.
 * - `MEDIA_REQUEST_REJECTED` (not retryable): a 4xx other than 429 (bad input, bad token); `details.status`.
 * - `MEDIA_UNAVAILABLE` (retryable): 429, 5xx or network errors outlasted the retries; `details.status`, `details.attempts`.
 * - `MEDIA_FAILED` (retryable): the prediction failed or was canceled elsewhere; the message carries the
 *   prediction's `error` verbatim; `details.prediction_id`, `details.status`, `details.error`.
 * - `MEDIA_REFUSED` (not retryable): the prediction failed because the model's safety or moderation filter refused
 *   the content (NSFW, flagged, content policy); the same request would be refused again. Same details.
 * - `MEDIA_OUTPUT_INVALID` (retryable): the prediction succeeded without a URL, or the file downloaded empty.
 * - `MEDIA_TIMEOUT` (retryable): `timeoutMs` passed; the prediction is canceled.
 * Aborting `signal` cancels a created prediction (best effort) and rejects with the signal's reason.
 */
export class ReplicateMedia implements MediaProvider {
  readonly name = 'replicate'
  readonly #o: Required<Omit<ReplicateMediaOptions, 'preferWaitS' | 'inputs'>> & Pick<ReplicateMediaOptions, 'preferWaitS' | 'inputs'>

  constructor(options: ReplicateMediaOptions) {
    // field by field, so an option given as undefined still gets its default
    this.#o = {
      token: options.token,
      baseUrl: (options.baseUrl ?? 'https://api.replicate.com/v1').replace(/\/+$/, ''),
      imageModel: options.imageModel,
      videoModel: options.videoModel,
      pollIntervalMs: options.pollIntervalMs ?? 2000,
      timeoutMs: options.timeoutMs ?? 600_000,
      requestTimeoutMs: options.requestTimeoutMs ?? 60_000,
      maxRetries: options.maxRetries ?? 3,
      preferWaitS: options.preferWaitS,
      inputs: options.inputs,
      fetch: options.fetch ?? globalThis.fetch,
      sleep: options.sleep ?? realSleep,
    }
  }

  sourceOf(req: MediaRequest): string {
    return `replicate/${req.kind === 'stitch' ? this.#o.videoModel : (req.model ?? (req.kind === 'image' ? this.#o.imageModel : this.#o.videoModel))}`
  }

  async render(req: MediaRequest, { signal, idempotencyKey }: { signal: AbortSignal; idempotencyKey: string }): Promise<MediaResult> {
    if (req.kind === 'stitch') {
      throw new WeftError('MEDIA_UNSUPPORTED', 'replicate cannot stitch; use a local media provider (ffmpeg) for stitch requests', { retryable: false })
    }
    const model = req.model ?? (req.kind === 'image' ? this.#o.imageModel : this.#o.videoModel)
    const input = req.kind === 'image' ? await (this.#o.inputs?.image ?? imageInput)(req) : await (this.#o.inputs?.video ?? videoInput)(req)
    signal.throwIfAborted()
    // one signal for the whole render: the caller's abort or our deadline, whichever comes first
    const deadline = new AbortController()
    const timedOut = new Error('deadline')
    const timer = setTimeout(() => deadline.abort(timedOut), this.#o.timeoutMs)
    const onAbort = () => deadline.abort(signal.reason)
    if (signal.aborted) onAbort()
    signal.addEventListener('abort', onAbort, { once: true })
    let current: Prediction | undefined
    // the create call is not cut off by an abort: once sent, the prediction may exist (and cost money) even if its
    // answer never arrives, so the answer is awaited in the background and that prediction canceled
    const creating = this.#create(model, input, `${idempotencyKey}:${digest(model, input)}`, AbortSignal.timeout(this.#o.timeoutMs))
    try {
      current = await untilAborted(creating, deadline.signal)
      while (!TERMINAL.has(current.status)) {
        await this.#o.sleep(this.#o.pollIntervalMs, deadline.signal)
        current = await this.#call(`${this.#o.baseUrl}/predictions/${encodeURIComponent(current.id)}`, { headers: this.#auth() }, deadline.signal, 'poll')
      }
      if (current.status !== 'succeeded') throw predictionFailed(current)
      await this.#download(outputUrl(current), req.out, current.id, deadline.signal)
      const result: MediaResult = { path: req.out, kind: req.kind, width: req.width, height: req.height, source: `replicate/${model}` }
      if (req.kind === 'video') result.duration_s = req.duration_s
      return result
    } catch (err) {
      // whatever stopped us, a prediction still running would go on costing money
      if (current && !TERMINAL.has(current.status)) await this.#cancel(current.id)
      else if (!current)
        void creating.then(
          (p) => (TERMINAL.has(p.status) ? undefined : this.#cancel(p.id)),
          () => {},
        )
      if (deadline.signal.reason === timedOut) {
        throw new WeftError('MEDIA_TIMEOUT', `replicate ${model} did not finish within ${this.#o.timeoutMs} ms${current ? ` (prediction ${current.id} was ${current.status})` : ''}`, {
          details: { timeout_ms: this.#o.timeoutMs, prediction_id: current?.id ?? null },
        })
      }
      throw deadline.signal.aborted ? deadline.signal.reason : err
    } finally {
      clearTimeout(timer)
      signal.removeEventListener('abort', onAbort)
    }
  }

  async #create(model: string, input: object, key: string, signal: AbortSignal): Promise<Prediction> {
    const [ref, version] = model.split(':')
    const url = version ? `${this.#o.baseUrl}/predictions` : `${this.#o.baseUrl}/models/${ref}/predictions`
    const headers: Record<string, string> = { ...this.#auth(), 'content-type': 'application/json', 'idempotency-key': key }
    if (this.#o.preferWaitS) headers.prefer = `wait=${this.#o.preferWaitS}`
    const body = JSON.stringify(version ? { version, input } : { input })
    // with Prefer: wait the server may hold the answer that long: do not time the call out before it
    return this.#call(url, { method: 'POST', headers, body }, signal, 'create', this.#o.requestTimeoutMs + (this.#o.preferWaitS ?? 0) * 1000)
  }

  /** One API call with retries; answers the parsed prediction. */
  async #call(url: string, init: RequestInit, signal: AbortSignal, what: 'create' | 'poll', timeoutMs = this.#o.requestTimeoutMs): Promise<Prediction> {
    const result = await withRetries({ maxRetries: this.#o.maxRetries, timeoutMs, signal, sleep: this.#o.sleep }, async (s): Promise<AttemptOutcome<Prediction>> => {
      const res = await this.#o.fetch(url, { ...init, signal: s })
      if (isRetryableStatus(res.status)) {
        return { retry: { kind: 'status', status: res.status, headers: res.headers, message: providerMessage(await readTextOrEmpty(res)) } }
      }
      if (!res.ok) {
        const message = providerMessage(await readTextOrEmpty(res))
        return {
          fail: new WeftError('MEDIA_REQUEST_REJECTED', `replicate rejected the ${what} request (${url}) with HTTP ${res.status}: ${message}`, { retryable: false, details: { status: res.status } }),
        }
      }
      let text: string
      try {
        text = await res.text()
      } catch (cause) {
        return { retry: { kind: 'truncated', status: res.status, cause } }
      }
      const prediction = parsePrediction(text)
      return prediction ? { done: prediction } : { retry: { kind: 'status', status: res.status, message: `not a prediction: ${text.slice(0, 200)}` } }
    })
    if (result.ok) return result.value
    const { failure, attempts } = result
    throw new WeftError('MEDIA_UNAVAILABLE', `replicate ${what} request (${url}) failed after ${attempts} attempts: ${describeFailure(failure)}`, {
      details: { status: failure.status ?? null, attempts },
      cause: failure.cause,
    })
  }

  /** Streams the output to a temp file beside `out`, checks it is not empty, then renames it into place. */
  async #download(url: string, out: string, predictionId: string, signal: AbortSignal): Promise<void> {
    await mkdir(path.dirname(out), { recursive: true })
    const temp = `${out}.${randomBytes(6).toString('hex')}.part`
    const headers = new URL(url).origin === new URL(this.#o.baseUrl).origin ? this.#auth() : {}
    try {
      const result = await withRetries({ maxRetries: this.#o.maxRetries, signal, sleep: this.#o.sleep }, async (s): Promise<AttemptOutcome<number>> => {
        const res = await this.#o.fetch(url, { headers, signal: s })
        if (isRetryableStatus(res.status)) return { retry: { kind: 'status', status: res.status, headers: res.headers } }
        if (!res.ok || !res.body) {
          return {
            fail: new WeftError('MEDIA_OUTPUT_INVALID', `replicate prediction ${predictionId}: downloading ${url} answered HTTP ${res.status}`, {
              details: { prediction_id: predictionId, url, status: res.status },
            }),
          }
        }
        try {
          await pipeline(Readable.fromWeb(res.body as WebReadableStream), createWriteStream(temp), { signal: s })
        } catch (cause) {
          return { retry: { kind: 'truncated', status: res.status, cause } }
        }
        return { done: (await stat(temp)).size }
      })
      if (!result.ok) {
        throw new WeftError('MEDIA_UNAVAILABLE', `replicate prediction ${predictionId}: downloading ${url} failed after ${result.attempts} attempts: ${describeFailure(result.failure)}`, {
          details: { prediction_id: predictionId, status: result.failure.status ?? null, attempts: result.attempts },
          cause: result.failure.cause,
        })
      }
      if (result.value === 0) {
        throw new WeftError('MEDIA_OUTPUT_INVALID', `replicate prediction ${predictionId}: the output ${url} is empty`, { details: { prediction_id: predictionId, url } })
      }
      await rename(temp, out)
    } finally {
      await rm(temp, { force: true })
    }
  }

  /** Best effort: a prediction we no longer want should stop costing money; failures here change nothing. */
  async #cancel(id: string): Promise<void> {
    try {
      const res = await this.#o.fetch(`${this.#o.baseUrl}/predictions/${encodeURIComponent(id)}/cancel`, {
        method: 'POST',
        headers: this.#auth(),
        signal: AbortSignal.timeout(5000),
      })
      await readTextOrEmpty(res)
    } catch {
      // the prediction may still run; nothing more to do
    }
  }

  #auth(): Record<string, string> {
    return { authorization: `Bearer ${this.#o.token}` }
  }
}

/** `promise`, or a rejection with the signal's reason as soon as it aborts (the promise goes on). */
function untilAborted<T>(promise: Promise<T>, signal: AbortSignal): Promise<T> {
  if (signal.aborted) return Promise.reject(signal.reason)
  return new Promise<T>((resolve, reject) => {
    const onAbort = () => reject(signal.reason)
    signal.addEventListener('abort', onAbort, { once: true })
    promise.then(resolve, reject).finally(() => signal.removeEventListener('abort', onAbort))
  })
}

/** How models on Replicate word a refusal of the content asked for (a safety checker, a moderation filter). */
const REFUSAL = /\b(nsfw|safety|moderation|moderated|flagged|content polic(?:y|ies)|sensitive content|prohibited|not allowed content)\b/i

/** A prediction that ended `failed` or `canceled`, with its own error text verbatim; a content refusal is not retried. */
function predictionFailed(p: Prediction): WeftError {
  const error = typeof p.error === 'string' ? p.error : p.error == null ? '' : JSON.stringify(p.error)
  if (p.status === 'failed' && REFUSAL.test(error)) {
    return new WeftError('MEDIA_REFUSED', `replicate prediction ${p.id} was refused by the model's content filter: ${error}; change the prompt (the same one would be refused again)`, {
      retryable: false,
      details: { prediction_id: p.id, status: p.status, error },
    })
  }
  return new WeftError('MEDIA_FAILED', `replicate prediction ${p.id} ${p.status === 'canceled' ? 'was canceled' : 'failed'}${error ? `: ${error}` : ''}`, {
    details: { prediction_id: p.id, status: p.status, error: error || null },
  })
}

function parsePrediction(text: string): Prediction | undefined {
  try {
    const p = JSON.parse(text) as Partial<Prediction> | null
    return p && typeof p.id === 'string' && typeof p.status === 'string' ? (p as Prediction) : undefined
  } catch {
    return undefined
  }
}

/** Replicate outputs are a URL or a list of URLs (several images); the first is the one we keep. */
function outputUrl(p: Prediction): string {
  const first = Array.isArray(p.output) ? p.output[0] : p.output
  if (typeof first === 'string' && /^https?:\/\//.test(first)) return first
  throw new WeftError('MEDIA_OUTPUT_INVALID', `replicate prediction ${p.id} succeeded without an output URL`, {
    details: { prediction_id: p.id, output: p.output ?? null },
  })
}

function digest(model: string, input: object): string {
  return createHash('sha256')
    .update(JSON.stringify([model, input]))
    .digest('hex')
    .slice(0, 16)
}
