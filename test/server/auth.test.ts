import { describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { matchKey, parseApiKeys, presentedKey } from '../../server/auth.ts'
import { errorOf, KEY, OTHER_KEY, postJson, setup } from '../support/api.ts'

describe('parseApiKeys (WEFT_API_KEYS)', () => {
  it('reads id:key pairs and bare keys; ignores blanks', () => {
    const keys = parseApiKeys(` studio:${KEY}, ,${OTHER_KEY},`)
    assert.equal(keys.length, 2)
    assert.deepEqual(keys[0], { id: 'studio', key: KEY })
    assert.match(keys[1]!.id, /^key-[0-9a-f]{8}$/)
    assert.equal(keys[1]!.key, OTHER_KEY)
    assert.deepEqual(parseApiKeys(undefined), [])
    assert.deepEqual(parseApiKeys(''), [])
  })

  it('refuses short keys and repeated ids with API_KEYS_INVALID', () => {
    assert.throws(() => parseApiKeys('a:short'), { code: 'API_KEYS_INVALID' })
    assert.throws(() => parseApiKeys(`a:${KEY},a:${OTHER_KEY}`), { code: 'API_KEYS_INVALID' })
  })
})

describe('matchKey / presentedKey', () => {
  const keys = [
    { id: 'a', key: KEY },
    { id: 'b', key: OTHER_KEY },
  ]
  it('finds the id of an equal key only', () => {
    assert.equal(matchKey(keys, KEY), 'a')
    assert.equal(matchKey(keys, OTHER_KEY), 'b')
    assert.equal(matchKey(keys, KEY.slice(0, -1)), undefined)
    assert.equal(matchKey(keys, KEY + 'x'), undefined)
    assert.equal(matchKey([], KEY), undefined)
  })
  it('reads Bearer (any case) and X-API-Key', () => {
    assert.equal(presentedKey(new Headers({ authorization: `Bearer ${KEY}` })), KEY)
    assert.equal(presentedKey(new Headers({ authorization: `bearer ${KEY}` })), KEY)
    assert.equal(presentedKey(new Headers({ 'x-api-key': KEY })), KEY)
    assert.equal(presentedKey(new Headers({ authorization: `Basic ${KEY}` })), undefined)
    assert.equal(presentedKey(new Headers()), undefined)
  })
})

describe('401 on /api/* with keys configured', () => {
  const { app, service } = setup({ apiKeys: [{ id: 'studio', key: KEY }] })

  it('401 UNAUTHORIZED without a key, with a wrong one, with the wrong scheme; the service is not called', async () => {
    for (const headers of [{}, { authorization: `Bearer ${OTHER_KEY}` }, { 'x-api-key': 'nope' }, { authorization: `Basic ${KEY}` }] as Array<Record<string, string>>) {
      for (const res of [await app.request('/api/v2/generations', { headers }), await postJson(app, '/api/v2/generate', { prompt: 'x' }, headers)]) {
        assert.equal(res.status, 401, JSON.stringify(headers))
        assert.equal(res.headers.get('www-authenticate'), 'Bearer')
        assert.equal((await errorOf(res)).code, 'UNAUTHORIZED')
      }
    }
    assert.equal(service.calls.length, 0)
  })

  it('200 with Authorization: Bearer or X-API-Key', async () => {
    assert.equal((await app.request('/api/v2/pipelines', { headers: { authorization: `Bearer ${KEY}` } })).status, 200)
    assert.equal((await app.request('/api/v2/pipelines', { headers: { 'x-api-key': KEY } })).status, 200)
  })

  it('/healthz, /openapi.json and /docs need no key', async () => {
    for (const url of ['/healthz', '/openapi.json', '/docs']) assert.equal((await app.request(url)).status, 200, url)
  })

  it('without keys configured every request is let through', async () => {
    const open = setup()
    assert.equal((await open.app.request('/api/v2/pipelines')).status, 200)
  })
})
