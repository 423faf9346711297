import { describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { backoffMs, BodyTooLarge, providerMessage, readTextCapped, retryAfterMs, retryDelayMs } from '../../../engine/adapters/http-retry.ts'

const headers = (h: Record<string, string>) => new Headers(h)

describe('http retry timing', () => {
  it('reads retry-after-ms, Retry-After seconds and HTTP dates; ignores what it cannot read', () => {
    const now = Date.parse('2030-01-01T00:00:00Z')
    assert.equal(retryAfterMs(headers({ 'retry-after-ms': '1500' }), now), 1500)
    assert.equal(retryAfterMs(headers({ 'retry-after': '2' }), now), 2000)
    assert.equal(retryAfterMs(headers({ 'retry-after': '0.5' }), now), 500)
    assert.equal(retryAfterMs(headers({ 'retry-after': 'Tue, 01 Jan 2030 00:00:12 GMT' }), now), 12_000)
    assert.equal(retryAfterMs(headers({ 'retry-after': 'Mon, 31 Dec 2029 23:59:00 GMT' }), now), 0)
    assert.equal(retryAfterMs(headers({ 'retry-after': 'soon' }), now), undefined)
    assert.equal(retryAfterMs(headers({ 'retry-after-ms': 'x', 'retry-after': '3' }), now), 3000)
    assert.equal(retryAfterMs(headers({}), now), undefined)
  })
  it('backs off from 500 ms, doubling to at most 8 s, with up to 25 % jitter taken off', () => {
    assert.deepEqual(
      [1, 2, 3, 4, 5, 6, 9].map((n) => backoffMs(n, () => 0)),
      [500, 1000, 2000, 4000, 8000, 8000, 8000],
    )
    assert.equal(
      backoffMs(1, () => 0.999),
      375,
    )
  })
  it('prefers the server delay to backoff, capped at 60 s', () => {
    assert.equal(
      retryDelayMs(1, headers({ 'retry-after': '10' }), () => 0),
      10_000,
    )
    assert.equal(
      retryDelayMs(1, headers({ 'retry-after': '120' }), () => 0),
      60_000,
    )
    assert.equal(
      retryDelayMs(3, headers({}), () => 0),
      2000,
    )
  })
  it('finds the provider message in OpenAI, Ollama, vLLM and Replicate error bodies', () => {
    assert.equal(providerMessage('{"error":{"message":"bad key","type":"auth"}}'), 'bad key')
    assert.equal(providerMessage('{"error":"model not found"}'), 'model not found')
    assert.equal(providerMessage('{"object":"error","message":"too long","code":400}'), 'too long')
    assert.equal(providerMessage('{"title":"Invalid","detail":"input.prompt is required","status":422}'), 'input.prompt is required')
    assert.equal(providerMessage('<html>502</html>'), '<html>502</html>')
    assert.equal(providerMessage('x'.repeat(400)).length, 301)
  })
})

describe('readTextCapped', () => {
  const streamed = (chunks: string[]) =>
    new Response(
      new ReadableStream({
        start(controller) {
          for (const c of chunks) controller.enqueue(new TextEncoder().encode(c))
          controller.close()
        },
      }),
    )
  it('reads a body within the limit whole, multi-byte characters split across chunks included', async () => {
    const euro = new TextEncoder().encode('€')
    const r = new Response(
      new ReadableStream({
        start(c) {
          c.enqueue(euro.slice(0, 1))
          c.enqueue(euro.slice(1))
          c.close()
        },
      }),
    )
    assert.equal(await readTextCapped(r, 10), '€')
    assert.equal(await readTextCapped(streamed(['ab', 'cd']), 4), 'abcd')
  })
  it('stops at the limit on a body without Content-Length, and at once when Content-Length says it is over', async () => {
    await assert.rejects(readTextCapped(streamed(['abc', 'def']), 4), (e: unknown) => e instanceof BodyTooLarge && e.maxBytes === 4)
    const declared = new Response('x'.repeat(50), { headers: { 'content-length': '50' } })
    await assert.rejects(readTextCapped(declared, 10), BodyTooLarge)
  })
})
