// ModelProvider over the OpenAI Chat Completions protocol (OpenAI, OpenRouter, Ollama, vLLM, llama.cpp server).
import { WeftError } from '../errors.ts'
import type { ModelProvider, ModelRequest, ModelResponse } from '../ports.ts'
import {
  BodyTooLarge, describeFailure, excerpt, isRetryableStatus, providerMessage, readTextCapped, readTextOrEmpty, realSleep, withRetries,
  type AttemptOutcome, type RetryResult, type Sleep,
} from './http-retry.ts'

export interface OpenAIModelOptions {
  /** API root, without `/chat/completions`: `https://api.openai.com/v1`, `http://localhost:11434/v1`… */
  baseUrl: string
  /** Sent as `Authorization: Bearer …` when set (local servers usually need none). */
  apiKey?: string
  /** Model used when the request names none. */
  model: string
  /** Limit for one HTTP attempt, body included (default 120000). A timed-out attempt is retried. */
  timeoutMs?: number
  /** Limit for a whole call, attempts and waits together (default 300000): a model that never answers fails after it. */
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

interface ChatCompletion {
  model?: string
  choices?: Array<{ message?: { content?: unknown; refusal?: unknown }; finish_reason?: string | null }>
  usage?: { prompt_tokens?: number; completion_tokens?: number }
}

/**
 * Asks an OpenAI-compatible server for one chat completion.
 *
 * Errors (branch on `code`):
 * - `MODEL_REQUEST_REJECTED` (not retryable): a 4xx other than 429; `details.status`.
 * - `MODEL_UNAVAILABLE` (retryable): 429, 5xx or network errors outlasted the retries; `details.status` (null
 *   when no response came), `details.attempts`.
 * - `MODEL_TIMEOUT` (retryable): as above, when the last attempt ran out of `timeoutMs`.
 * - `MODEL_ANSWER_INVALID`, with `details.reason`:
 *   - `truncated` (retryable): the body broke off (connection reset) on every attempt;
 *   - `body_not_json` (retryable): a 2xx body that is not JSON on every attempt (each is tried again like a 5xx), a
 *     transport or proxy fault rather than the model's;
 *   - `no_content`, `length` (not retryable): the server answered well, but the answer has no text, or was cut
 *     by the token limit (JSON requests only; a text answer cut there is returned as is). Asking the same again
 *     would not help.
 * An answer that is not JSON when a schema asked for JSON comes back as text without `json`: the agent node
 * re-asks with the problem fed back (engine/ask.ts).
 */
export class OpenAIModel implements ModelProvider {
  readonly name = 'openai'

  modelFor(req: ModelRequest): string {
    return req.model ?? this.#opts.model
  }
  readonly #opts: Required<Omit<OpenAIModelOptions, 'apiKey' | 'now'>> & Pick<OpenAIModelOptions, 'apiKey' | 'now'>

  constructor(options: OpenAIModelOptions) {
    // field by field, so an option given as undefined still gets its default
    this.#opts = {
      baseUrl: options.baseUrl.replace(/\/+$/, ''),
      apiKey: options.apiKey,
      model: options.model,
      timeoutMs: options.timeoutMs ?? 120_000,
      deadlineMs: options.deadlineMs ?? 300_000,
      maxResponseBytes: options.maxResponseBytes ?? 16 * 1024 * 1024,
      maxRetries: options.maxRetries ?? 3,
      fetch: options.fetch ?? globalThis.fetch,
      sleep: options.sleep ?? realSleep,
      ...(options.now ? { now: options.now } : {}),
    }
  }

  async complete(req: ModelRequest, { signal, idempotencyKey }: { signal: AbortSignal; idempotencyKey: string }): Promise<ModelResponse> {
    const model = req.model ?? this.#opts.model
    const url = `${this.#opts.baseUrl}/chat/completions`
    const headers: Record<string, string> = { 'content-type': 'application/json', 'idempotency-key': idempotencyKey }
    if (this.#opts.apiKey) headers.authorization = `Bearer ${this.#opts.apiKey}`
    const body = JSON.stringify(requestBody(req, model))
    const { maxRetries, timeoutMs, deadlineMs, maxResponseBytes, sleep } = this.#opts
    const result = await withRetries({ maxRetries, timeoutMs, deadlineMs, signal, sleep, ...(this.#opts.now ? { now: this.#opts.now } : {}) }, async (attemptSignal): Promise<AttemptOutcome<string>> => {
      const res = await this.#opts.fetch(url, { method: 'POST', headers, body, signal: attemptSignal })
      if (isRetryableStatus(res.status)) {
        return { retry: { kind: 'status', status: res.status, headers: res.headers, message: providerMessage(await readTextOrEmpty(res)) } }
      }
      if (!res.ok) {
        const message = providerMessage(await readTextOrEmpty(res))
        return { fail: new WeftError('MODEL_REQUEST_REJECTED', `${url} rejected the request for model "${model}" with HTTP ${res.status}: ${message}`, { retryable: false, details: { status: res.status } }) }
      }
      let text: string
      try {
        text = await readTextCapped(res, maxResponseBytes)
      } catch (cause) {
        if (cause instanceof BodyTooLarge) return { fail: invalid('too_large', `the answer of model "${model}" is over ${maxResponseBytes} bytes; it was not read`, '', false, { max_bytes: maxResponseBytes }) }
        return { retry: { kind: 'truncated', status: res.status, cause } }
      }
      // a 2xx that is not JSON came from something between (a proxy's error page, a cut connection): ask again
      try {
        JSON.parse(text)
      } catch {
        return { retry: { kind: 'malformed', status: res.status, message: excerpt(text) } }
      }
      return { done: text }
    })
    if (!result.ok) throw exhausted(result, url)
    return parseCompletion(result.value, req, model)
  }
}

function requestBody(req: ModelRequest, model: string): Record<string, unknown> {
  const messages = [...(req.system ? [{ role: 'system', content: req.system }] : []), { role: 'user', content: req.prompt }]
  const body: Record<string, unknown> = { model, messages }
  if (req.temperature !== undefined) body.temperature = req.temperature
  if (req.schema) {
    // strict: false, because strict mode rejects common schemas (optional fields, open objects); the agent validates
    body.response_format = { type: 'json_schema', json_schema: { name: schemaName(req.schema), schema: req.schema, strict: false } }
  }
  return body
}

/** OpenAI wants `^[a-zA-Z0-9_-]{1,64}$`: the schema's title when it fits, else `answer`. */
function schemaName(schema: Record<string, unknown>): string {
  return typeof schema.title === 'string' && /^[a-zA-Z0-9_-]{1,64}$/.test(schema.title) ? schema.title : 'answer'
}

function exhausted(result: Extract<RetryResult<unknown>, { ok: false }>, url: string): WeftError {
  const { failure, attempts } = result
  const status = failure.status ?? null
  const why = `${url} failed after ${attempts} attempt${attempts === 1 ? '' : 's'}: ${describeFailure(failure)}`
  // the setting to raise is named: a timeout says which limit ran out
  if (failure.kind === 'timeout') {
    const setting = failure.deadlineMs !== undefined ? 'WEFT_MODEL_DEADLINE' : 'WEFT_MODEL_TIMEOUT'
    return new WeftError('MODEL_TIMEOUT', `${why}; raise ${setting} if the model needs longer`, { details: { status, attempts, timeout_ms: failure.timeoutMs ?? null, deadline_ms: failure.deadlineMs ?? null }, cause: failure.cause })
  }
  if (failure.kind === 'truncated') return new WeftError('MODEL_ANSWER_INVALID', why, { details: { reason: 'truncated', status, attempts }, cause: failure.cause })
  if (failure.kind === 'malformed') return new WeftError('MODEL_ANSWER_INVALID', why, { details: { reason: 'body_not_json', status, attempts, excerpt: failure.message ?? '' } })
  return new WeftError('MODEL_UNAVAILABLE', why, { details: { status, attempts }, cause: failure.cause })
}

function invalid(reason: string, message: string, text: string, retryable = false, extra: Record<string, unknown> = {}): WeftError {
  return new WeftError('MODEL_ANSWER_INVALID', message, { retryable, details: { reason, excerpt: excerpt(text), ...extra } })
}

function parseCompletion(raw: string, req: ModelRequest, model: string): ModelResponse {
  let completion: ChatCompletion
  try {
    completion = JSON.parse(raw) as ChatCompletion
  } catch {
    throw invalid('body_not_json', `the chat completion for model "${model}" is not JSON`, raw, true)
  }
  const choice = completion?.choices?.[0]
  const content = choice?.message?.content
  if (typeof content !== 'string') {
    const refusal = typeof choice?.message?.refusal === 'string' ? choice.message.refusal : undefined
    throw invalid('no_content', `the chat completion for model "${model}" has no text in choices[0].message.content${refusal ? ` (refusal: ${refusal})` : ''}`,
      raw, false, { finish_reason: choice?.finish_reason ?? null })
  }
  const out: ModelResponse = { text: content, model: completion.model ?? model }
  const usage = completion.usage
  if (usage && (usage.prompt_tokens !== undefined || usage.completion_tokens !== undefined)) {
    out.usage = { input_tokens: usage.prompt_tokens, output_tokens: usage.completion_tokens }
  }
  if (!req.schema) return out
  if (choice?.finish_reason === 'length') {
    throw invalid('length', `model "${model}" hit its token limit before finishing the JSON answer`, content)
  }
  try {
    out.json = JSON.parse(unfenced(content))
  } catch {
    // prose where JSON was asked for is the model's answer, not a fault: the text goes back without `json`, and the
    // caller that asked (engine/ask.ts) re-asks with the problem fed back
  }
  return out
}

/** Some local models wrap JSON in a Markdown fence even when asked for JSON; accept exactly one fence around the whole answer. */
function unfenced(content: string): string {
  const m = /^\s*```(?:json)?\s*\n([\s\S]*?)\n?```\s*$/.exec(content)
  return m ? m[1]! : content
}
