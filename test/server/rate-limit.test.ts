import { describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { parseRateLimit } from '../../server/rate-limit.ts'
import { errorOf, KEY, OTHER_KEY, postJson, setup } from '../support/api.ts'

describe('parseRateLimit (WEFT_RATE_LIMIT)', () => {
  it('reads N/unit and N/duration; off or 0 disables', () => {
    assert.deepEqual(parseRateLimit('30/min'), { points: 30, durationS: 60 })
    assert.deepEqual(parseRateLimit('5/s'), { points: 5, durationS: 1 })
    assert.deepEqual(parseRateLimit('100 / hour'), { points: 100, durationS: 3600 })
    assert.deepEqual(parseRateLimit('10/30s'), { points: 10, durationS: 30 })
    assert.equal(parseRateLimit('off'), undefined)
    assert.equal(parseRateLimit('0'), undefined)
  })
  it('refuses anything else with RATE_LIMIT_INVALID', () => {
    for (const bad of ['30', '/min', '0/min', 'x/min', '30/fortnight', '30/500ms', '-1/min']) {
      assert.throws(() => parseRateLimit(bad), { code: 'RATE_LIMIT_INVALID' }, bad)
    }
  })
})

describe('429 on POST /api/v2/generate', () => {
  it('429 RATE_LIMITED with Retry-After once a caller is over; other callers are unaffected', async () => {
    const { app, service } = setup({
      rateLimit: { points: 2, durationS: 60 },
      apiKeys: [
        { id: 'a', key: KEY },
        { id: 'b', key: OTHER_KEY },
      ],
    })
    const as = (key: string) => postJson(app, '/api/v2/generate', { prompt: 'x' }, { 'x-api-key': key })
    assert.equal((await as(KEY)).status, 202)
    assert.equal((await as(KEY)).status, 202)
    const limited = await as(KEY)
    assert.equal(limited.status, 429)
    assert.equal((await errorOf(limited)).code, 'RATE_LIMITED')
    const retry = Number(limited.headers.get('retry-after'))
    assert.ok(Number.isInteger(retry) && retry >= 1 && retry <= 60, `Retry-After ${retry}`)
    assert.equal((await as(OTHER_KEY)).status, 202)
    assert.equal(service.argsOf('start').length, 3)
  })

  it('without keys, per client IP; invalid requests count too; reads are not limited', async () => {
    let ip = '192.0.2.1'
    const { app, service } = setup({ rateLimit: { points: 1, durationS: 60 }, clientIp: () => ip })
    assert.equal((await postJson(app, '/api/v2/generate', { prompt: '' })).status, 400)
    assert.equal((await postJson(app, '/api/v2/generate', { prompt: 'x' })).status, 429)
    ip = '192.0.2.2'
    assert.equal((await postJson(app, '/api/v2/generate', { prompt: 'x' })).status, 202)
    for (let i = 0; i < 3; i++) assert.equal((await app.request('/api/v2/pipelines')).status, 200)
    assert.equal(service.argsOf('start').length, 1)
  })

  it('unauthenticated requests are refused before they count against anyone', async () => {
    const { app } = setup({ rateLimit: { points: 1, durationS: 60 }, apiKeys: [{ id: 'a', key: KEY }] })
    for (let i = 0; i < 3; i++) assert.equal((await postJson(app, '/api/v2/generate', { prompt: 'x' })).status, 401)
    assert.equal((await postJson(app, '/api/v2/generate', { prompt: 'x' }, { 'x-api-key': KEY })).status, 202)
  })
})

describe('429 on POST /api/v2/pipelines/validate', () => {
  it('validation has a budget of its own per caller: over it, 429; generations are not charged for it', async () => {
    const { app, service } = setup({ rateLimit: { points: 1, durationS: 60 }, validateRateLimit: { points: 3, durationS: 60 } })
    const validate = () => app.request('/api/v2/pipelines/validate', { method: 'POST', headers: { 'content-type': 'text/yaml' }, body: 'pipeline: p\nnodes: {}\n' })
    for (let i = 0; i < 3; i++) assert.equal((await validate()).status, 200, `call ${i + 1}`)
    const limited = await validate()
    assert.equal(limited.status, 429)
    assert.equal((await errorOf(limited)).code, 'RATE_LIMITED')
    assert.equal(service.argsOf('validatePipeline').length, 3)
    assert.equal((await postJson(app, '/api/v2/generate', { prompt: 'x' })).status, 202)
  })
})
