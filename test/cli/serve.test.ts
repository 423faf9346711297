import { describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { parseBytes, serveCommand, serveSettingsFromEnv } from '../../cli/serve.ts'
import { KEY } from '../support/api.ts'

describe('weft serve settings', () => {
  it('reads keys, rate limit, body limit, public URL, proxy trust and WebSocket origins from the environment', () => {
    const s = serveSettingsFromEnv({
      WEFT_API_KEYS: `studio:${KEY}`,
      WEFT_RATE_LIMIT: 'off',
      WEFT_BODY_LIMIT: '2mb',
      WEFT_PUBLIC_URL: 'https://ads.example.com',
      WEFT_TRUST_PROXY: '1',
      WEFT_ALLOWED_ORIGINS: 'https://app.example.com, https://b.example.com',
    })
    assert.deepEqual(s.apiKeys, [{ id: 'studio', key: KEY }])
    assert.equal(s.rateLimit, null)
    assert.equal(s.bodyLimitBytes, 2 * 1024 * 1024)
    assert.equal(s.publicUrl, 'https://ads.example.com')
    assert.equal(s.trustProxy, true)
    assert.deepEqual(s.websocket, { allowedOrigins: ['https://app.example.com', 'https://b.example.com'] })
    assert.deepEqual(s.allowedOrigins, ['https://app.example.com', 'https://b.example.com'])
    assert.equal(typeof s.tokens?.issue('s1'), 'string')
    const defaults = serveSettingsFromEnv({})
    assert.deepEqual(defaults.apiKeys, [])
    assert.equal(defaults.rateLimit, undefined)
    assert.equal(defaults.bodyLimitBytes, undefined)
  })

  it('refuses bad values, naming the variable by code', () => {
    assert.throws(() => serveSettingsFromEnv({ WEFT_PUBLIC_URL: 'ftp://x' }), { code: 'SETTING_INVALID' })
    assert.throws(() => serveSettingsFromEnv({ WEFT_BODY_LIMIT: 'lots' }), { code: 'SETTING_INVALID' })
    assert.throws(() => serveSettingsFromEnv({ WEFT_RATE_LIMIT: 'fast' }), { code: 'RATE_LIMIT_INVALID' })
    assert.throws(() => serveSettingsFromEnv({ WEFT_API_KEYS: 'a:b' }), { code: 'API_KEYS_INVALID' })
    assert.throws(() => serveSettingsFromEnv({ WEFT_WS_SECRET: 'short' }), { code: 'TOKEN_SECRET_INVALID' })
  })

  it('parseBytes: bytes, kb, mb; at least 1 KiB', () => {
    assert.equal(parseBytes('1048576'), 1048576)
    assert.equal(parseBytes('512kb'), 512 * 1024)
    assert.equal(parseBytes('2 MiB'), 2 * 1024 * 1024)
    assert.throws(() => parseBytes('100'), { code: 'SETTING_INVALID' })
  })

  it('exits 2 before opening the store when asked to listen on an open address without keys', async () => {
    const started = Date.now()
    assert.equal(await serveCommand({ port: 0, host: '0.0.0.0' }, { WEFT_DATA_DIR: '/nonexistent/never-created' }), 2)
    assert.ok(Date.now() - started < 2000)
  })
})
