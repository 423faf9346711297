// The AI SDK model adapter against local servers speaking each provider's wire protocol: the same behaviour
// (structured output, retries, limits, error codes) whichever provider answers.
import { recordingSleep, rejection } from '../../support/adapter-calls.ts'
import { describe, it, before, after, beforeEach } from 'node:test'
import assert from 'node:assert/strict'
import { AiSdkModel, type AiSdkModelOptions, type ModelProtocol } from '../../../engine/adapters/ai-sdk-model.ts'
import type { Sleep } from '../../../engine/adapters/http-retry.ts'
import { startModelServer, type OpenAIServer, type WireProtocol } from '../../support/model-server.ts'

const key = 'run1:agent:1'
const call = () => ({ signal: new AbortController().signal, idempotencyKey: key })

const providers: Array<{ name: string; protocol: ModelProtocol; wire: WireProtocol; model: string }> = [
  { name: 'openai', protocol: 'openai', wire: 'openai', model: 'gpt-test' },
  { name: 'ollama', protocol: 'openai-compatible', wire: 'openai', model: 'llama-test' },
  { name: 'anthropic', protocol: 'anthropic', wire: 'anthropic', model: 'claude-sonnet-4-5' },
  { name: 'google', protocol: 'google', wire: 'google', model: 'gemini-test' },
]

for (const p of providers) {
  describe(`AiSdkModel: ${p.name} (${p.wire} wire protocol)`, () => {
    let server: OpenAIServer
    let timing: ReturnType<typeof recordingSleep>
    const model = (opts: Partial<AiSdkModelOptions> = {}) =>
      new AiSdkModel({ name: p.name, protocol: p.protocol, baseUrl: server.baseUrl, apiKey: 'sk-test', model: p.model, sleep: timing.sleep, ...opts })

    before(async () => {
      server = await startModelServer(p.wire)
    })
    after(() => server.close())
    beforeEach(() => {
      server.reset()
      timing = recordingSleep()
    })

    it('returns the text, the model as <provider>/<id> and the usage the server reported', async () => {
      server.script({ kind: 'ok', content: 'Hello.', model: `${p.model}-2026`, usage: { prompt_tokens: 12, completion_tokens: 3 } })
      const res = await model().complete({ prompt: 'Say hello', system: 'Be brief', temperature: 0.2 }, call())
      // Google's answer names no model the SDK reads: the one asked for is reported
      assert.deepEqual(res, { text: 'Hello.', model: p.wire === 'google' ? `${p.name}/${p.model}` : `${p.name}/${p.model}-2026`, usage: { input_tokens: 12, output_tokens: 3 } })
      assert.equal(model().modelFor({ prompt: 'x' }), `${p.name}/${p.model}`)
      assert.equal(model().modelFor({ prompt: 'x', model: 'other' }), `${p.name}/other`)
      assert.equal(server.requests[0]!.headers['idempotency-key'], key)
    })

    it('asks for structured output with the schema and returns the parsed JSON next to the text', async () => {
      const schema = { title: 'Story', type: 'object', properties: { title: { type: 'string' } }, required: ['title'] }
      server.script({ kind: 'ok', content: '{"title":"Fizz"}' })
      const res = await model().complete({ prompt: 'p', schema }, call())
      assert.deepEqual(res.json, { title: 'Fizz' })
      assert.deepEqual(JSON.parse(res.text), { title: 'Fizz' })
      const body = server.requests[0]!.body
      const sent =
        p.wire === 'openai'
          ? body.response_format.json_schema.schema
          : p.wire === 'anthropic'
            ? (body.output_config?.format?.schema ?? body.tools?.[0]?.input_schema)
            : (body.generationConfig.responseSchema ?? body.generationConfig.responseJsonSchema)
      assert.ok(sent, `the schema is in the request: ${JSON.stringify(body)}`)
      assert.deepEqual(sent.required, ['title'])
    })

    it('prose where JSON was asked comes back as text without json (the caller re-asks), in one request', async () => {
      server.script({ kind: 'ok', content: 'Sure! Here is your story: Fizz.' })
      const res = await model().complete({ prompt: 'p', schema: { type: 'object', properties: { a: { type: 'string' } } } }, call())
      assert.equal(res.text, 'Sure! Here is your story: Fizz.')
      assert.equal(res.json, undefined)
      assert.equal(server.requests.length, 1)
    })

    it('honours Retry-After on 429, keeping the same Idempotency-Key', async () => {
      server.script({ kind: 'status', status: 429, headers: { 'retry-after': '7' }, body: { error: { message: 'slow down' } } }, { kind: 'ok', content: 'ok' })
      const res = await model().complete({ prompt: 'p' }, call())
      assert.equal(res.text, 'ok')
      assert.deepEqual(timing.delays, [7000])
      assert.deepEqual(
        server.requests.map((r) => r.headers['idempotency-key']),
        [key, key],
      )
    })

    it('backs off with jitter on 5xx and reports MODEL_UNAVAILABLE after maxRetries', async () => {
      server.script(...Array.from({ length: 4 }, () => ({ kind: 'status' as const, status: 500, body: { error: { message: 'boom' } } })))
      const err = await rejection(model({ maxRetries: 3 }).complete({ prompt: 'p' }, call()))
      assert.equal(err.code, 'MODEL_UNAVAILABLE')
      assert.equal(err.retryable, true)
      assert.deepEqual(err.details, { status: 500, attempts: 4 })
      assert.match(err.message, /HTTP 500: boom/)
      assert.equal(server.requests.length, 4)
      for (const [i, base] of [500, 1000, 2000].entries()) {
        assert.ok(timing.delays[i]! <= base && timing.delays[i]! >= base * 0.75, `delay ${i}: ${timing.delays[i]}`)
      }
    })

    it('does not retry a 400 and reports the status and the provider message', async () => {
      server.script({ kind: 'status', status: 400, body: { error: { message: "Invalid value for 'temperature'" } } }, { kind: 'ok', content: 'unused' })
      const err = await rejection(model().complete({ prompt: 'p' }, call()))
      assert.equal(err.code, 'MODEL_REQUEST_REJECTED')
      assert.equal(err.retryable, false)
      assert.deepEqual(err.details, { status: 400 })
      assert.match(err.message, /HTTP 400: Invalid value for 'temperature'/)
      assert.equal(server.requests.length, 1)
    })

    it('a 200 body that is not JSON is asked again, then MODEL_ANSWER_INVALID body_not_json with an excerpt', async () => {
      server.script({ kind: 'raw', body: '<html>Bad gateway</html>' }, { kind: 'ok', content: 'Hello.' })
      assert.equal((await model().complete({ prompt: 'p' }, call())).text, 'Hello.')
      assert.equal(server.requests.length, 2)
      server.reset()
      server.script(...Array.from({ length: 3 }, () => ({ kind: 'raw' as const, body: '<html>Bad gateway</html>' })))
      const err = await rejection(model({ maxRetries: 2 }).complete({ prompt: 'p' }, call()))
      assert.equal(err.code, 'MODEL_ANSWER_INVALID')
      assert.equal(err.retryable, true)
      assert.deepEqual(err.details, { reason: 'body_not_json', status: 200, attempts: 3, excerpt: '<html>Bad gateway</html>' })
    })

    it('an answer with no text: MODEL_ANSWER_INVALID no_content, not retried', async () => {
      server.script({ kind: 'ok', content: null })
      const err = await rejection(model().complete({ prompt: 'p' }, call()))
      assert.equal(err.code, 'MODEL_ANSWER_INVALID')
      assert.equal(err.retryable, false)
      assert.equal((err.details as { reason: string }).reason, 'no_content')
      assert.equal(server.requests.length, 1)
    })

    it('a JSON answer cut by the token limit: MODEL_ANSWER_INVALID length; a text answer cut there is returned', async () => {
      server.script({ kind: 'ok', content: '{"title": "Fi', finish_reason: 'length' }, { kind: 'ok', content: 'Once upon a', finish_reason: 'length' })
      const err = await rejection(model().complete({ prompt: 'p', schema: { type: 'object', properties: { title: { type: 'string' } } } }, call()))
      assert.equal(err.code, 'MODEL_ANSWER_INVALID')
      assert.equal(err.retryable, false)
      assert.equal((err.details as { reason: string }).reason, 'length')
      assert.equal((await model().complete({ prompt: 'p' }, call())).text, 'Once upon a')
    })

    it('retries a body cut off mid-stream, and reports MODEL_ANSWER_INVALID truncated when it keeps happening', async () => {
      server.script({ kind: 'truncate', content: 'a long answer' }, { kind: 'ok', content: 'whole' })
      assert.equal((await model().complete({ prompt: 'p' }, call())).text, 'whole')
      assert.equal(server.requests.length, 2)
      server.reset()
      server.script({ kind: 'truncate', content: 'a' }, { kind: 'truncate', content: 'b' })
      const err = await rejection(model({ maxRetries: 1 }).complete({ prompt: 'p' }, call()))
      assert.equal(err.code, 'MODEL_ANSWER_INVALID')
      assert.equal(err.retryable, true)
      assert.equal((err.details as { reason: string }).reason, 'truncated')
      assert.equal((err.details as { attempts: number }).attempts, 2)
    })

    it('retries a dropped connection and a refused one, then MODEL_UNAVAILABLE with no status', async () => {
      server.script({ kind: 'reset' }, { kind: 'ok', content: 'back' })
      assert.equal((await model().complete({ prompt: 'p' }, call())).text, 'back')
      assert.equal(server.requests.length, 2)
      const closed = await startModelServer(p.wire)
      await closed.close()
      const err = await rejection(model({ baseUrl: closed.baseUrl, maxRetries: 2 }).complete({ prompt: 'p' }, call()))
      assert.equal(err.code, 'MODEL_UNAVAILABLE')
      assert.deepEqual(err.details, { status: null, attempts: 3 })
    })

    it('a model that never answers fails within the overall deadline, retries and waits included', async () => {
      server.script(...Array.from({ length: 10 }, () => ({ kind: 'slow' as const, ms: 5000 })))
      let slept = 0
      const sleep: Sleep = async (ms) => void (slept += ms)
      const now = () => Date.now() + slept
      const t0 = now()
      const err = await rejection(model({ timeoutMs: 100, deadlineMs: 2000, maxRetries: 10, sleep, now }).complete({ prompt: 'p' }, call()))
      assert.equal(err.code, 'MODEL_TIMEOUT')
      assert.equal((err.details as { deadline_ms: number }).deadline_ms, 2000)
      assert.match(err.message, /within the overall deadline of 2000 ms.*WEFT_MODEL_DEADLINE/)
      assert.ok(server.requests.length >= 2 && server.requests.length < 11, `${server.requests.length} requests`)
      assert.ok(now() - t0 <= 2000, `the call took ${now() - t0} ms on its clock`)
    })

    it('a response slower than timeoutMs is retried, then MODEL_TIMEOUT', async () => {
      server.script({ kind: 'slow', ms: 2000 }, { kind: 'slow', ms: 2000 })
      const t0 = Date.now()
      const err = await rejection(model({ timeoutMs: 100, maxRetries: 1 }).complete({ prompt: 'p' }, call()))
      assert.equal(err.code, 'MODEL_TIMEOUT')
      assert.deepEqual(err.details, { status: null, attempts: 2, timeout_ms: 100, deadline_ms: null })
      assert.match(err.message, /no answer within 100 ms .*WEFT_MODEL_TIMEOUT/)
      assert.ok(Date.now() - t0 < 1500, `took ${Date.now() - t0} ms`)
    })

    it('an answer over maxResponseBytes is refused unread: MODEL_ANSWER_INVALID too_large, not retried', async () => {
      server.script({ kind: 'ok', content: 'x'.repeat(300_000) })
      const err = await rejection(model({ maxResponseBytes: 100_000 }).complete({ prompt: 'p' }, call()))
      assert.equal(err.code, 'MODEL_ANSWER_INVALID')
      assert.equal(err.retryable, false)
      assert.equal((err.details as { reason: string }).reason, 'too_large')
      assert.equal(server.requests.length, 1)
    })

    it('an abort in flight or in the backoff wait stops at once with the abort reason; an aborted signal sends nothing', async () => {
      server.script({ kind: 'slow', ms: 5000 })
      const ac = new AbortController()
      const reason = new Error('stop')
      const t0 = Date.now()
      const pending = model().complete({ prompt: 'p' }, { signal: ac.signal, idempotencyKey: key })
      setTimeout(() => ac.abort(reason), 100)
      await assert.rejects(pending, (err) => err === reason)
      server.reset()
      server.script({ kind: 'status', status: 429, headers: { 'retry-after': '30' } })
      const ac2 = new AbortController()
      const waiting = model({ sleep: undefined }).complete({ prompt: 'p' }, { signal: ac2.signal, idempotencyKey: key })
      setTimeout(() => ac2.abort(reason), 100)
      await assert.rejects(waiting, (err) => err === reason)
      assert.ok(Date.now() - t0 < 3000, `took ${Date.now() - t0} ms`)
      server.reset()
      const ac3 = new AbortController()
      ac3.abort(new Error('gone'))
      await assert.rejects(model().complete({ prompt: 'p' }, { signal: ac3.signal, idempotencyKey: key }), { message: 'gone' })
      assert.equal(server.requests.length, 0)
    })
  })
}

describe('AiSdkModel: what goes on the wire', () => {
  it('OpenAI: Chat Completions with system and user messages, the model, temperature and the bearer key; a non-strict schema', async () => {
    const server = await startModelServer('openai')
    try {
      server.script({ kind: 'ok', content: 'x' }, { kind: 'ok', content: '{"a":1}' })
      const m = new AiSdkModel({ name: 'openai', protocol: 'openai', baseUrl: server.baseUrl, apiKey: 'sk-test', model: 'gpt-test' })
      await m.complete({ prompt: 'Say hello', system: 'Be brief', temperature: 0.2, model: 'gpt-other' }, call())
      await m.complete({ prompt: 'p', schema: { title: 'has spaces', type: 'object' } }, call())
      const [a, b] = server.requests
      assert.equal(a!.headers.authorization, 'Bearer sk-test')
      assert.deepEqual(a!.body, {
        model: 'gpt-other',
        temperature: 0.2,
        messages: [
          { role: 'system', content: 'Be brief' },
          { role: 'user', content: 'Say hello' },
        ],
      })
      // strict mode refuses common schemas (optional fields, open objects): the agent validates the answer itself
      assert.deepEqual(b!.body.response_format, { type: 'json_schema', json_schema: { name: 'answer', schema: { title: 'has spaces', type: 'object' }, strict: false } })
    } finally {
      await server.close()
    }
  })

  it('an OpenAI-compatible server without a key gets no Authorization header; JSON in one Markdown fence is accepted', async () => {
    const server = await startModelServer('openai')
    try {
      server.script({ kind: 'ok', content: '```json\n{"a":1}\n```' })
      const m = new AiSdkModel({ name: 'ollama', protocol: 'openai-compatible', baseUrl: `${server.baseUrl}/`, model: 'llama3.1' })
      const res = await m.complete({ prompt: 'p', schema: { type: 'object', properties: { a: { type: 'number' } } } }, call())
      assert.deepEqual(res.json, { a: 1 })
      assert.equal(server.requests[0]!.headers.authorization, undefined)
      assert.equal(server.requests[0]!.body.model, 'llama3.1')
    } finally {
      await server.close()
    }
  })

  it('Anthropic: Messages with the system prompt apart and the x-api-key header', async () => {
    const server = await startModelServer('anthropic')
    try {
      server.script({ kind: 'ok', content: 'x' })
      await new AiSdkModel({ name: 'anthropic', protocol: 'anthropic', baseUrl: server.baseUrl, apiKey: 'sk-ant-test', model: 'claude-sonnet-4-5' }).complete(
        { prompt: 'Say hello', system: 'Be brief' },
        call(),
      )
      const [r] = server.requests
      assert.equal(r!.headers['x-api-key'], 'sk-ant-test')
      assert.ok(r!.headers['anthropic-version'])
      assert.equal(r!.body.model, 'claude-sonnet-4-5')
      assert.deepEqual(r!.body.system, [{ type: 'text', text: 'Be brief' }])
      assert.deepEqual(r!.body.messages, [{ role: 'user', content: [{ type: 'text', text: 'Say hello' }] }])
      assert.equal(typeof r!.body.max_tokens, 'number')
    } finally {
      await server.close()
    }
  })

  it('Google: generateContent on the model path with the x-goog-api-key header', async () => {
    const server = await startModelServer('google')
    try {
      server.script({ kind: 'ok', content: 'x' })
      await new AiSdkModel({ name: 'google', protocol: 'google', baseUrl: server.baseUrl, apiKey: 'g-test', model: 'gemini-test' }).complete({ prompt: 'Say hello', system: 'Be brief' }, call())
      const [r] = server.requests
      assert.equal(r!.url, '/v1beta/models/gemini-test:generateContent')
      assert.equal(r!.headers['x-goog-api-key'], 'g-test')
      assert.deepEqual(r!.body.contents, [{ role: 'user', parts: [{ text: 'Say hello' }] }])
      assert.deepEqual(r!.body.systemInstruction, { parts: [{ text: 'Be brief' }] })
    } finally {
      await server.close()
    }
  })

  it('a request naming no model, to a provider with no default, is refused before anything is sent', async () => {
    const m = new AiSdkModel({ name: 'anthropic', protocol: 'anthropic', apiKey: 'k' })
    await assert.rejects(m.complete({ prompt: 'p' }, call()), { code: 'MODEL_NOT_NAMED' })
  })
})
