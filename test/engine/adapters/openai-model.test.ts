import { describe, it, before, after, beforeEach } from 'node:test'
import assert from 'node:assert/strict'
import { OpenAIModel, type OpenAIModelOptions } from '../../../engine/adapters/openai-model.ts'
import type { Sleep } from '../../../engine/adapters/http-retry.ts'
import type { WeftError } from '../../../engine/errors.ts'
import { startOpenAIServer, type OpenAIServer } from '../../support/openai-server.ts'

const key = 'run1:agent:1'

/** A sleep that records each requested delay and returns at once (rejecting if already aborted). */
function recordingSleep(): { delays: number[]; sleep: Sleep } {
  const delays: number[] = []
  return { delays, sleep: async (ms, signal) => { delays.push(ms); if (signal.aborted) throw signal.reason } }
}

/** Awaits a rejection and returns it as a WeftError for field checks. */
async function rejection(p: Promise<unknown>): Promise<WeftError> {
  try {
    await p
  } catch (err) {
    return err as WeftError
  }
  assert.fail('expected a rejection')
}

describe('OpenAIModel', () => {
  let server: OpenAIServer
  let timing: ReturnType<typeof recordingSleep>
  const model = (opts: Partial<OpenAIModelOptions> = {}) =>
    new OpenAIModel({ baseUrl: server.baseUrl, apiKey: 'sk-test', model: 'gpt-test', sleep: timing.sleep, ...opts })

  before(async () => { server = await startOpenAIServer() })
  after(() => server.close())
  beforeEach(() => {
    server.reset()
    timing = recordingSleep()
  })

  it('sends system and user messages, model, temperature, key and auth; returns text, model and usage', async () => {
    server.script({ kind: 'ok', content: 'Hello.', model: 'gpt-test-2024', usage: { prompt_tokens: 12, completion_tokens: 3 } })
    const res = await model().complete({ prompt: 'Say hello', system: 'Be brief', temperature: 0.2, model: 'gpt-other' }, { signal: new AbortController().signal, idempotencyKey: key })
    assert.deepEqual(res, { text: 'Hello.', model: 'gpt-test-2024', usage: { input_tokens: 12, output_tokens: 3 } })
    const [r] = server.requests
    assert.equal(server.requests.length, 1)
    assert.equal(r!.method, 'POST')
    assert.equal(r!.url, '/v1/chat/completions')
    assert.equal(r!.headers.authorization, 'Bearer sk-test')
    assert.equal(r!.headers['idempotency-key'], key)
    assert.deepEqual(r!.body, {
      model: 'gpt-other', temperature: 0.2,
      messages: [{ role: 'system', content: 'Be brief' }, { role: 'user', content: 'Say hello' }],
    })
  })

  it('uses the default model, sends no Authorization without a key and no response_format without a schema', async () => {
    server.script({ kind: 'ok', content: 'x' })
    await model({ apiKey: undefined, baseUrl: `${server.baseUrl}/` }).complete({ prompt: 'p' }, { signal: new AbortController().signal, idempotencyKey: key })
    const [r] = server.requests
    assert.equal(r!.headers.authorization, undefined)
    assert.deepEqual(r!.body, { model: 'gpt-test', messages: [{ role: 'user', content: 'p' }] })
  })

  it('asks for structured output with a schema and returns the parsed JSON next to the raw text', async () => {
    const schema = { title: 'Story', type: 'object', properties: { title: { type: 'string' } }, required: ['title'] }
    server.script({ kind: 'ok', content: '{"title":"Fizz"}' })
    const res = await model().complete({ prompt: 'p', schema }, { signal: new AbortController().signal, idempotencyKey: key })
    assert.deepEqual(res.json, { title: 'Fizz' })
    assert.equal(res.text, '{"title":"Fizz"}')
    assert.deepEqual(server.requests[0]!.body.response_format, { type: 'json_schema', json_schema: { name: 'Story', schema, strict: false } })
  })

  it('names an untitled schema "answer" and accepts JSON wrapped in one Markdown fence', async () => {
    server.script({ kind: 'ok', content: '```json\n{"a":1}\n```' })
    const res = await model().complete({ prompt: 'p', schema: { type: 'object', title: 'has spaces' } }, { signal: new AbortController().signal, idempotencyKey: key })
    assert.deepEqual(res.json, { a: 1 })
    assert.equal(res.text, '```json\n{"a":1}\n```')
    assert.equal(server.requests[0]!.body.response_format.json_schema.name, 'answer')
  })

  it('honours Retry-After in seconds on 429, keeping the same Idempotency-Key', async () => {
    server.script({ kind: 'status', status: 429, headers: { 'retry-after': '7' }, body: { error: { message: 'slow down' } } }, { kind: 'ok', content: 'ok' })
    const res = await model().complete({ prompt: 'p' }, { signal: new AbortController().signal, idempotencyKey: key })
    assert.equal(res.text, 'ok')
    assert.deepEqual(timing.delays, [7000])
    assert.deepEqual(server.requests.map((r) => r.headers['idempotency-key']), [key, key])
  })

  it('prefers retry-after-ms, reads an HTTP-date Retry-After, and caps what the server asks at 60 s', async () => {
    server.script(
      { kind: 'status', status: 429, headers: { 'retry-after-ms': '250', 'retry-after': '9' } },
      { kind: 'status', status: 503, headers: { 'retry-after': new Date(Date.now() + 20_000).toUTCString() } },
      { kind: 'status', status: 429, headers: { 'retry-after': '3600' } },
      { kind: 'ok', content: 'ok' },
    )
    await model().complete({ prompt: 'p' }, { signal: new AbortController().signal, idempotencyKey: key })
    assert.equal(timing.delays[0], 250)
    // an HTTP date has one-second resolution: 20 s from now is 19–20 s away
    assert.ok(timing.delays[1]! > 18_000 && timing.delays[1]! <= 20_000, `date delay ${timing.delays[1]}`)
    assert.equal(timing.delays[2], 60_000)
  })

  it('backs off exponentially with jitter on 5xx and reports MODEL_UNAVAILABLE after maxRetries', async () => {
    server.script(...Array.from({ length: 4 }, () => ({ kind: 'status' as const, status: 500, body: { error: { message: 'boom' } } })))
    const err = await rejection(model({ maxRetries: 3 }).complete({ prompt: 'p' }, { signal: new AbortController().signal, idempotencyKey: key }))
    assert.equal(err.code, 'MODEL_UNAVAILABLE')
    assert.equal(err.retryable, true)
    assert.deepEqual(err.details, { status: 500, attempts: 4 })
    assert.equal(server.requests.length, 4)
    assert.equal(timing.delays.length, 3)
    // 500, 1000, 2000 ms, each less at most 25 % jitter
    for (const [i, base] of [500, 1000, 2000].entries()) {
      assert.ok(timing.delays[i]! <= base && timing.delays[i]! >= base * 0.75, `delay ${i}: ${timing.delays[i]}`)
    }
  })

  it('does not retry a 400 and reports the status and the provider message', async () => {
    server.script({ kind: 'status', status: 400, body: { error: { message: "Invalid value for 'temperature'", type: 'invalid_request_error' } } }, { kind: 'ok', content: 'unused' })
    const err = await rejection(model().complete({ prompt: 'p' }, { signal: new AbortController().signal, idempotencyKey: key }))
    assert.equal(err.code, 'MODEL_REQUEST_REJECTED')
    assert.equal(err.retryable, false)
    assert.deepEqual(err.details, { status: 400 })
    assert.ok(err.message.includes("Invalid value for 'temperature'"))
    assert.ok(err.message.includes('400'))
    assert.equal(server.requests.length, 1)
  })

  it('reads Ollama-style string errors', async () => {
    server.script({ kind: 'status', status: 404, body: { error: 'model "llama9" not found, try pulling it first' } })
    const err = await rejection(model().complete({ prompt: 'p' }, { signal: new AbortController().signal, idempotencyKey: key }))
    assert.equal(err.code, 'MODEL_REQUEST_REJECTED')
    assert.ok(err.message.includes('model "llama9" not found'))
  })

  it('a 200 body that is not JSON (a proxy\'s page) is asked again, like a 5xx', async () => {
    server.script({ kind: 'raw', body: '<html>Bad gateway</html>' }, { kind: 'ok', content: 'Hello.' })
    const out = await model().complete({ prompt: 'p' }, { signal: new AbortController().signal, idempotencyKey: key })
    assert.equal(out.text, 'Hello.')
    assert.equal(server.requests.length, 2)
  })

  it('a 200 body that is not JSON on every attempt: MODEL_ANSWER_INVALID body_not_json, retryable, with an excerpt', async () => {
    server.script({ kind: 'raw', body: '<html>Bad gateway</html>' }, { kind: 'raw', body: '<html>Bad gateway</html>' }, { kind: 'raw', body: '<html>Bad gateway</html>' })
    const err = await rejection(model({ maxRetries: 2 }).complete({ prompt: 'p' }, { signal: new AbortController().signal, idempotencyKey: key }))
    assert.equal(err.code, 'MODEL_ANSWER_INVALID')
    assert.equal(err.retryable, true)
    assert.equal((err.details as { reason: string }).reason, 'body_not_json')
    assert.equal((err.details as { excerpt: string }).excerpt, '<html>Bad gateway</html>')
    assert.equal((err.details as { attempts: number }).attempts, 3)
    assert.equal(server.requests.length, 3)
  })

  it('a completion without choices[0].message.content: MODEL_ANSWER_INVALID no_content, not retryable', async () => {
    server.script({ kind: 'raw', body: JSON.stringify({ choices: [] }) }, { kind: 'ok', content: null, finish_reason: 'content_filter' })
    for (const finish of [null, 'content_filter']) {
      const err = await rejection(model().complete({ prompt: 'p' }, { signal: new AbortController().signal, idempotencyKey: key }))
      assert.equal(err.code, 'MODEL_ANSWER_INVALID')
      assert.equal(err.retryable, false)
      assert.equal((err.details as { reason: string }).reason, 'no_content')
      assert.equal((err.details as { finish_reason: unknown }).finish_reason, finish)
    }
  })

  it('a JSON answer cut by the token limit: MODEL_ANSWER_INVALID length; a text answer cut there is returned', async () => {
    server.script({ kind: 'ok', content: '{"title": "Fi', finish_reason: 'length' }, { kind: 'ok', content: 'Once upon a', finish_reason: 'length' })
    const err = await rejection(model().complete({ prompt: 'p', schema: { type: 'object' } }, { signal: new AbortController().signal, idempotencyKey: key }))
    assert.equal(err.code, 'MODEL_ANSWER_INVALID')
    assert.equal(err.retryable, false)
    assert.deepEqual(err.details, { reason: 'length', excerpt: '{"title": "Fi' })
    const text = await model().complete({ prompt: 'p' }, { signal: new AbortController().signal, idempotencyKey: key })
    assert.equal(text.text, 'Once upon a')
  })

  it('content that is not JSON when a schema asked for JSON comes back as text without json (the caller re-asks), in one request', async () => {
    server.script({ kind: 'ok', content: 'Sure! Here is your story: Fizz.' })
    const res = await model().complete({ prompt: 'p', schema: { type: 'object' } }, { signal: new AbortController().signal, idempotencyKey: key })
    assert.equal(res.text, 'Sure! Here is your story: Fizz.')
    assert.equal(res.json, undefined)
    assert.equal(server.requests.length, 1)
  })

  it('retries a body cut off mid-stream, and reports MODEL_ANSWER_INVALID truncated (retryable) when it keeps happening', async () => {
    server.script({ kind: 'truncate', content: 'a long answer' }, { kind: 'ok', content: 'whole' })
    assert.equal((await model().complete({ prompt: 'p' }, { signal: new AbortController().signal, idempotencyKey: key })).text, 'whole')
    assert.equal(server.requests.length, 2)
    server.requests.length = 0
    server.script({ kind: 'truncate', content: 'a' }, { kind: 'truncate', content: 'b' })
    const err = await rejection(model({ maxRetries: 1 }).complete({ prompt: 'p' }, { signal: new AbortController().signal, idempotencyKey: key }))
    assert.equal(err.code, 'MODEL_ANSWER_INVALID')
    assert.equal(err.retryable, true)
    assert.deepEqual(err.details, { reason: 'truncated', status: 200, attempts: 2 })
  })

  it('retries a dropped connection and a refused one, then MODEL_UNAVAILABLE with no status', async () => {
    server.script({ kind: 'reset' }, { kind: 'ok', content: 'back' })
    assert.equal((await model().complete({ prompt: 'p' }, { signal: new AbortController().signal, idempotencyKey: key })).text, 'back')
    assert.equal(server.requests.length, 2)
    const closed = await startOpenAIServer()
    await closed.close()
    const err = await rejection(model({ baseUrl: closed.baseUrl, maxRetries: 2 }).complete({ prompt: 'p' }, { signal: new AbortController().signal, idempotencyKey: key }))
    assert.equal(err.code, 'MODEL_UNAVAILABLE')
    assert.deepEqual(err.details, { status: null, attempts: 3 })
    assert.equal(timing.delays.length, 1 + 2)
  })

  it('a model that never answers fails within the overall deadline, retries and waits included (WEFT_MODEL_DEADLINE)', async () => {
    server.script(...Array.from({ length: 10 }, () => ({ kind: 'slow' as const, ms: 5000 })))
    // waits take no real time here: the deadline's clock moves by them
    let slept = 0
    const sleep: Sleep = async (ms) => void (slept += ms)
    const now = () => Date.now() + slept
    const t0 = now()
    const err = await rejection(model({ timeoutMs: 100, deadlineMs: 2000, maxRetries: 10, sleep, now }).complete({ prompt: 'p' }, { signal: new AbortController().signal, idempotencyKey: key }))
    assert.equal(err.code, 'MODEL_TIMEOUT')
    assert.equal((err.details as { deadline_ms: number }).deadline_ms, 2000)
    assert.match(err.message, /no time left for another attempt within the overall deadline of 2000 ms.*WEFT_MODEL_DEADLINE/)
    assert.ok(server.requests.length >= 2 && server.requests.length < 11, `${server.requests.length} requests`)
    assert.ok(now() - t0 <= 2000, `the call took ${now() - t0} ms on its clock`)
    // an attempt gets no more than what is left: one longer than the deadline is cut at it
    server.reset()
    server.script({ kind: 'slow', ms: 5000 })
    const t1 = Date.now()
    const cut = await rejection(model({ timeoutMs: 60_000, deadlineMs: 150 }).complete({ prompt: 'p' }, { signal: new AbortController().signal, idempotencyKey: key }))
    assert.equal(cut.code, 'MODEL_TIMEOUT')
    assert.deepEqual(cut.details, { status: null, attempts: 1, timeout_ms: null, deadline_ms: 150 })
    assert.match(cut.message, /no answer within 150 ms in all/)
    assert.ok(Date.now() - t1 < 1500)
  })

  it('an answer over maxResponseBytes is refused unread: MODEL_ANSWER_INVALID too_large, not retried', async () => {
    server.script({ kind: 'ok', content: 'x'.repeat(300_000) })
    const err = await rejection(model({ maxResponseBytes: 100_000 }).complete({ prompt: 'p' }, { signal: new AbortController().signal, idempotencyKey: key }))
    assert.equal(err.code, 'MODEL_ANSWER_INVALID')
    assert.equal(err.retryable, false)
    assert.equal((err.details as { reason: string }).reason, 'too_large')
    assert.equal(server.requests.length, 1)
  })

  it('a response slower than timeoutMs is retried, then MODEL_TIMEOUT', async () => {
    server.script({ kind: 'slow', ms: 2000 }, { kind: 'slow', ms: 2000 })
    const t0 = Date.now()
    const err = await rejection(model({ timeoutMs: 100, maxRetries: 1 }).complete({ prompt: 'p' }, { signal: new AbortController().signal, idempotencyKey: key }))
    assert.equal(err.code, 'MODEL_TIMEOUT')
    assert.equal(err.retryable, true)
    assert.deepEqual(err.details, { status: null, attempts: 2, timeout_ms: 100, deadline_ms: null })
    assert.match(err.message, /no answer within 100 ms .*WEFT_MODEL_TIMEOUT/)
    assert.equal(server.requests.length, 2)
    assert.ok(Date.now() - t0 < 1500, `took ${Date.now() - t0} ms`)
  })

  it('an abort during the backoff wait stops at once with the abort reason (real sleep)', async () => {
    server.script({ kind: 'status', status: 429, headers: { 'retry-after': '30' } }, { kind: 'ok', content: 'unused' })
    const ac = new AbortController()
    const reason = new Error('run cancelled')
    const t0 = Date.now()
    const pending = model({ sleep: undefined }).complete({ prompt: 'p' }, { signal: ac.signal, idempotencyKey: key })
    setTimeout(() => ac.abort(reason), 100)
    await assert.rejects(pending, (err) => err === reason)
    assert.ok(Date.now() - t0 < 2000, `took ${Date.now() - t0} ms`)
    assert.equal(server.requests.length, 1)
  })

  it('an abort during a request in flight stops it with the abort reason', async () => {
    server.script({ kind: 'slow', ms: 5000 })
    const ac = new AbortController()
    const reason = new Error('stop')
    const t0 = Date.now()
    const pending = model().complete({ prompt: 'p' }, { signal: ac.signal, idempotencyKey: key })
    setTimeout(() => ac.abort(reason), 100)
    await assert.rejects(pending, (err) => err === reason)
    assert.ok(Date.now() - t0 < 2000, `took ${Date.now() - t0} ms`)
    assert.equal(server.requests.length, 1)
  })

  it('an already-aborted signal sends nothing', async () => {
    const ac = new AbortController()
    ac.abort(new Error('gone'))
    await assert.rejects(model().complete({ prompt: 'p' }, { signal: ac.signal, idempotencyKey: key }), { message: 'gone' })
    assert.equal(server.requests.length, 0)
  })
})
