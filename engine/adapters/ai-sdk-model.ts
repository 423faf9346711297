// ModelProvider through the AI SDK (`ai`): OpenAI, Anthropic, Google and any OpenAI-compatible server (Ollama,
// vLLM, LM Studio). The SDK speaks each wire protocol and its structured output; Weft keeps its own attempt loop
// (per-attempt timeout, overall deadline, Retry-After, the Clock-driven wait) and its own error codes, so every
// provider fails the same way.
import { createAnthropic } from '@ai-sdk/anthropic'
import { createGoogleGenerativeAI } from '@ai-sdk/google'
import { createOpenAI } from '@ai-sdk/openai'
import { createOpenAICompatible } from '@ai-sdk/openai-compatible'
import { APICallError, generateText, JSONParseError, jsonSchema, type LanguageModel, NoObjectGeneratedError, Output } from 'ai'
import { WeftError } from '../errors.ts'
import type { ModelProvider, ModelRequest, ModelResponse } from '../ports.ts'
import { BodyTooLarge, describeFailure, excerpt, isRetryableStatus, providerMessage, realSleep, withRetries, type AttemptOutcome, type RetryResult, type Sleep } from './http-retry.ts'

/** The wire protocols Weft speaks through the AI SDK. */
export type ModelProtocol = 'openai' | 'anthropic' | 'google' | 'openai-compatible'

export interface AiSdkModelOptions {
  /** The provider's name in `model:` refs (`anthropic`, `ollama`…); answers are reported as `<name>/<model id>`. */
  name: string
  protocol: ModelProtocol
  /** API root; the SDK's own default when unset (an OpenAI-compatible server has none: it needs one). */
  baseUrl?: string
  /** The provider's key; unset sends none (local servers need none). */
  apiKey?: string
  /** Model id used when a request names none. */
  model?: string
  /** Limit for one HTTP attempt, body included (default 120000). A timed-out attempt is retried. */
  timeoutMs?: number
  /** Limit for a whole call, attempts and waits together (default 300000). */
  deadlineMs?: number
  /** Longest answer read (default 16 MiB); a longer one fails the call (MODEL_ANSWER_INVALID, reason too_large) unread. */
  maxResponseBytes?: number
  /** Retries after the first attempt, on 429, 5xx, network errors, timeouts and broken-off bodies (default 3). */
  maxRetries?: number
  fetch?: typeof fetch
  /** The wait between attempts; tests inject one to record the delays instead of sleeping. */
  sleep?: Sleep
  /** Clock for the deadline (tests move it with their sleep). */
  now?: () => number
}

/**
 * Asks one provider for one answer.
 *
 * Errors (branch on `code`):
 * - `MODEL_REQUEST_REJECTED` (not retryable): a 4xx other than 429 (a bad key, an unknown model); `details.status`.
 * - `MODEL_UNAVAILABLE` (retryable): 429, 5xx or network errors outlasted the retries; `details.status` (null
 *   when no response came), `details.attempts`.
 * - `MODEL_TIMEOUT` (retryable): as above, when the last attempt ran out of its time or of the deadline.
 * - `MODEL_ANSWER_INVALID`, with `details.reason`:
 *   - `truncated` (retryable): the body broke off on every attempt;
 *   - `body_not_json` (retryable): a 2xx body that is not JSON on every attempt (each is tried again like a 5xx);
 *   - `no_content` (not retryable): a well-formed answer without text, or a body that is not the protocol's shape;
 *   - `length` (not retryable): a JSON answer cut by the token limit (a text answer cut there is returned as is);
 *   - `too_large` (not retryable): the answer is over `maxResponseBytes`; it was not read.
 * An answer that is not JSON when a schema asked for JSON comes back as text without `json`: the agent node
 * re-asks with the problem fed back (engine/ask.ts).
 */
export class AiSdkModel implements ModelProvider {
  readonly name: string
  readonly #opts: AiSdkModelOptions & Required<Pick<AiSdkModelOptions, 'timeoutMs' | 'deadlineMs' | 'maxResponseBytes' | 'maxRetries' | 'sleep'>>
  readonly #models = new Map<string, LanguageModel>()
  readonly #factory: (modelId: string) => LanguageModel

  constructor(options: AiSdkModelOptions) {
    this.name = options.name
    this.#opts = {
      ...options,
      timeoutMs: options.timeoutMs ?? 120_000,
      deadlineMs: options.deadlineMs ?? 300_000,
      maxResponseBytes: options.maxResponseBytes ?? 16 * 1024 * 1024,
      maxRetries: options.maxRetries ?? 3,
      sleep: options.sleep ?? realSleep,
    }
    this.#factory = factory(this.#opts, cappedFetch(options.fetch ?? globalThis.fetch, this.#opts.maxResponseBytes))
  }

  /** The model a request goes to, as `<provider>/<model id>`. */
  modelFor(req: ModelRequest): string {
    return `${this.name}/${this.#modelId(req)}`
  }

  #modelId(req: ModelRequest): string {
    const id = req.model ?? this.#opts.model
    if (!id) throw new WeftError('MODEL_NOT_NAMED', `provider "${this.name}" was asked without a model: name one as ${this.name}/<model id>`, { retryable: false })
    return id
  }

  #model(id: string): LanguageModel {
    let m = this.#models.get(id)
    if (!m) this.#models.set(id, (m = this.#factory(id)))
    return m
  }

  async complete(req: ModelRequest, { signal, idempotencyKey }: { signal: AbortSignal; idempotencyKey: string }): Promise<ModelResponse> {
    const id = this.#modelId(req)
    const model = this.#model(id)
    const where = `${this.name}/${id}`
    const { maxRetries, timeoutMs, deadlineMs, sleep, now } = this.#opts
    const result = await withRetries({ maxRetries, timeoutMs, deadlineMs, signal, sleep, ...(now ? { now } : {}) }, async (attemptSignal): Promise<AttemptOutcome<ModelResponse>> => {
      try {
        const res = await generateText({
          model,
          prompt: req.prompt,
          ...(req.system ? { system: req.system } : {}),
          ...(req.temperature !== undefined ? { temperature: req.temperature } : {}),
          ...(req.schema ? { output: Output.object({ schema: jsonSchema(req.schema), name: schemaName(req.schema) }) } : {}),
          headers: { 'idempotency-key': idempotencyKey },
          // strict mode refuses common schemas (optional fields, open objects); the agent validates the answer itself
          providerOptions: { openai: { strictJsonSchema: false }, openaiCompatible: { strictJsonSchema: false } },
          maxRetries: 0,
          abortSignal: attemptSignal,
        })
        return { done: answer(where, req, res) }
      } catch (err) {
        return outcome(err, where, req)
      }
    })
    if (!result.ok) throw exhausted(result, where)
    return result.value
  }
}

type TextResult = Awaited<ReturnType<typeof generateText>>

function answer(where: string, req: ModelRequest, res: TextResult): ModelResponse {
  const out: ModelResponse = { text: res.text, model: modelOf(where, res.response?.modelId) }
  const usage = usageOf(res.usage)
  if (usage) out.usage = usage
  if (req.schema) {
    out.json = res.output
    return out
  }
  if (res.text === '' && res.finishReason !== 'length') throw invalid('no_content', `the answer of ${where} has no text (finish reason ${res.finishReason})`, '', false)
  return out
}

/** Sorts one attempt's failure: retry it, fail the call, or (prose where JSON was asked) hand the text back. */
function outcome(err: unknown, where: string, req: ModelRequest): AttemptOutcome<ModelResponse> {
  if (err instanceof WeftError) return { fail: err }
  const tooLarge = causeOf(err, BodyTooLarge)
  if (tooLarge) return { fail: invalid('too_large', `the answer of ${where} is over ${tooLarge.maxBytes} bytes; it was not read`, '', false, { max_bytes: tooLarge.maxBytes }) }
  if (NoObjectGeneratedError.isInstance(err)) {
    const text = err.text ?? ''
    if (err.finishReason === 'length') return { fail: invalid('length', `${where} hit its token limit before finishing the JSON answer`, text, false) }
    // some local models wrap JSON in a Markdown fence even when asked for JSON: accept exactly one fence
    const out: ModelResponse = { text, model: modelOf(where, err.response?.modelId) }
    const usage = usageOf(err.usage)
    if (usage) out.usage = usage
    const fenced = /^\s*```(?:json)?\s*\n([\s\S]*?)\n?```\s*$/.exec(text)
    if (fenced) {
      try {
        out.json = JSON.parse(fenced[1]!)
      } catch {
        // not JSON inside the fence either: the caller re-asks
      }
    }
    if (text === '' && req.schema)
      return { fail: invalid('no_content', `the answer of ${where} has no text (finish reason ${err.finishReason ?? 'unknown'})`, '', false, { finish_reason: err.finishReason ?? null }) }
    return { done: out }
  }
  if (APICallError.isInstance(err)) {
    const status = err.statusCode
    const body = err.responseBody ?? ''
    if (status === undefined) return { retry: { kind: 'network', cause: err.cause ?? err } }
    if (isRetryableStatus(status)) return { retry: { kind: 'status', status, headers: new Headers(err.responseHeaders ?? {}), message: providerMessage(body) } }
    if (status >= 200 && status < 300) {
      // a 2xx that is not JSON came from something between (a proxy's page, a cut connection): ask again
      if (JSONParseError.isInstance(err.cause) || !isJson(body))
        return body === '' && !JSONParseError.isInstance(err.cause) ? { retry: { kind: 'truncated', status, cause: err } } : { retry: { kind: 'malformed', status, message: excerpt(body) } }
      return { fail: invalid('no_content', `the answer of ${where} is not in the protocol's shape: ${err.message.split('\n')[0]}`, body, false) }
    }
    return { fail: new WeftError('MODEL_REQUEST_REJECTED', `${err.url} rejected the request for ${where} with HTTP ${status}: ${providerMessage(body)}`, { retryable: false, details: { status } }) }
  }
  // the body broke off while it was read (a reset after the headers)
  if (err instanceof TypeError && /terminated|other side closed/i.test(`${err.message} ${(err.cause as Error | undefined)?.message ?? ''}`))
    return { retry: { kind: 'truncated', status: 200, cause: err } }
  return { retry: { kind: 'network', cause: err } }
}

function isJson(text: string): boolean {
  try {
    JSON.parse(text)
    return true
  } catch {
    return false
  }
}

/** The first error of `type` in `err`'s cause chain. */
function causeOf<T>(err: unknown, type: abstract new (...args: never[]) => T): T | undefined {
  for (let e = err, i = 0; e && i < 10; e = (e as { cause?: unknown }).cause, i++) if (e instanceof type) return e
  return undefined
}

function modelOf(where: string, reported: string | undefined): string {
  const provider = where.slice(0, where.indexOf('/'))
  return reported ? `${provider}/${reported}` : where
}

function usageOf(u: { inputTokens?: number | undefined; outputTokens?: number | undefined } | undefined): ModelResponse['usage'] | undefined {
  if (!u || (u.inputTokens === undefined && u.outputTokens === undefined)) return undefined
  return { input_tokens: u.inputTokens, output_tokens: u.outputTokens }
}

/** OpenAI wants `^[a-zA-Z0-9_-]{1,64}$`: the schema's title when it fits, else `answer`. */
function schemaName(schema: Record<string, unknown>): string {
  return typeof schema.title === 'string' && /^[a-zA-Z0-9_-]{1,64}$/.test(schema.title) ? schema.title : 'answer'
}

function invalid(reason: string, message: string, text: string, retryable = false, extra: Record<string, unknown> = {}): WeftError {
  return new WeftError('MODEL_ANSWER_INVALID', message, { retryable, details: { reason, excerpt: excerpt(text), ...extra } })
}

function exhausted(result: Extract<RetryResult<unknown>, { ok: false }>, where: string): WeftError {
  const { failure, attempts } = result
  const status = failure.status ?? null
  const why = `${where} failed after ${attempts} attempt${attempts === 1 ? '' : 's'}: ${describeFailure(failure)}`
  // the setting to raise is named: a timeout says which limit ran out
  if (failure.kind === 'timeout') {
    const setting = failure.deadlineMs !== undefined ? 'WEFT_MODEL_DEADLINE' : 'WEFT_MODEL_TIMEOUT'
    return new WeftError('MODEL_TIMEOUT', `${why}; raise ${setting} if the model needs longer`, {
      details: { status, attempts, timeout_ms: failure.timeoutMs ?? null, deadline_ms: failure.deadlineMs ?? null },
      cause: failure.cause,
    })
  }
  if (failure.kind === 'truncated') return new WeftError('MODEL_ANSWER_INVALID', why, { details: { reason: 'truncated', status, attempts }, cause: failure.cause })
  if (failure.kind === 'malformed') return new WeftError('MODEL_ANSWER_INVALID', why, { details: { reason: 'body_not_json', status, attempts, excerpt: failure.message ?? '' } })
  return new WeftError('MODEL_UNAVAILABLE', why, { details: { status, attempts }, cause: failure.cause })
}

/** A fetch whose response bodies stop at `maxBytes`: past it the read fails with BodyTooLarge, and the rest is not read. */
function cappedFetch(inner: typeof fetch, maxBytes: number): typeof fetch {
  return async (input, init) => {
    const res = await inner(input, init)
    const length = Number(res.headers.get('content-length'))
    if ((Number.isFinite(length) && length > maxBytes) || !res.body) {
      if (res.body) {
        await res.body.cancel().catch(() => {})
        return new Response(erroring(new BodyTooLarge(maxBytes)), { status: res.status, headers: res.headers })
      }
      return res
    }
    let size = 0
    const capped = res.body.pipeThrough(
      new TransformStream<Uint8Array, Uint8Array>({
        transform(chunk, controller) {
          size += chunk.byteLength
          if (size > maxBytes) controller.error(new BodyTooLarge(maxBytes))
          else controller.enqueue(chunk)
        },
      }),
    )
    return new Response(capped, { status: res.status, statusText: res.statusText, headers: res.headers })
  }
}

function erroring(err: Error): ReadableStream<Uint8Array> {
  return new ReadableStream({ start: (controller) => controller.error(err) })
}

/** The AI SDK model factory for a provider's protocol. */
function factory(o: AiSdkModelOptions, fetch: typeof globalThis.fetch): (modelId: string) => LanguageModel {
  const base = o.baseUrl?.replace(/\/+$/, '')
  const common = { ...(base ? { baseURL: base } : {}), fetch }
  switch (o.protocol) {
    case 'openai': {
      // Chat Completions: the protocol every OpenAI-compatible server also speaks
      const p = createOpenAI({ ...common, apiKey: o.apiKey ?? '' })
      return (id) => p.chat(id)
    }
    case 'anthropic': {
      const p = createAnthropic({ ...common, apiKey: o.apiKey ?? '' })
      return (id) => p(id)
    }
    case 'google': {
      const p = createGoogleGenerativeAI({ ...common, apiKey: o.apiKey ?? '' })
      return (id) => p(id)
    }
    case 'openai-compatible': {
      if (!base) throw new WeftError('PROVIDER_CONFIG_INVALID', `provider "${o.name}" speaks the OpenAI-compatible protocol and needs a base URL`, { retryable: false })
      const p = createOpenAICompatible({ name: o.name, baseURL: base, fetch, supportsStructuredOutputs: true, ...(o.apiKey ? { apiKey: o.apiKey } : {}) })
      return (id) => p.chatModel(id)
    }
  }
}
