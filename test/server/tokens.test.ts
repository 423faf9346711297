import { describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { mkdtempSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import path from 'node:path'
import { createTokens, persistedTokenSecret, tokenSecretFromEnv } from '../../server/tokens.ts'

const secret = Buffer.alloc(32, 7)
// RFC 7230 `token` characters: what a Sec-WebSocket-Protocol entry may hold
const SUBPROTOCOL_SAFE = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/

describe('createTokens', () => {
  it('verifies a token for the session it was issued for, and only that one', () => {
    const tokens = createTokens({ secret })
    const token = tokens.issue('sess_1')
    assert.equal(tokens.verify(token, 'sess_1'), true)
    assert.equal(tokens.verify(token, 'sess_2'), false)
    assert.equal(tokens.verify(token, 'sess_'), false)
    assert.match(token, SUBPROTOCOL_SAFE)
  })

  it('expires after the TTL (15 minutes by default)', () => {
    let t = 1_000_000
    const tokens = createTokens({ secret, now: () => t })
    const token = tokens.issue('s')
    t += 15 * 60_000 - 1
    assert.equal(tokens.verify(token, 's'), true)
    t += 1
    assert.equal(tokens.verify(token, 's'), false)
  })

  it('honours a custom TTL', () => {
    let t = 0
    const tokens = createTokens({ secret, ttlMs: 1000, now: () => t })
    const token = tokens.issue('s')
    t = 999
    assert.equal(tokens.verify(token, 's'), true)
    t = 1000
    assert.equal(tokens.verify(token, 's'), false)
  })

  it('refuses a token whose expiry or signature was changed', () => {
    let t = 0
    const tokens = createTokens({ secret, ttlMs: 1000, now: () => t })
    const token = tokens.issue('s')
    const [expiry, sig] = token.split('.') as [string, string]
    t = 2000
    const later = (parseInt(expiry, 36) + 10_000).toString(36)
    assert.equal(tokens.verify(`${later}.${sig}`, 's'), false)
    t = 0
    const flipped = sig.slice(0, 10) + (sig[10] === 'A' ? 'B' : 'A') + sig.slice(11)
    assert.equal(tokens.verify(`${expiry}.${flipped}`, 's'), false)
  })

  it('refuses malformed tokens without throwing', () => {
    const tokens = createTokens({ secret })
    const good = tokens.issue('s')
    for (const bad of ['', '.', good + 'x', good.slice(0, -1), 'abc', `${good}.${good}`, 'x'.repeat(10_000), good.toUpperCase()]) {
      assert.equal(tokens.verify(bad, 's'), false, bad.slice(0, 40))
    }
    assert.equal(tokens.verify(undefined as unknown as string, 's'), false)
  })

  it('tokens of one secret are valid for another instance with the same secret (a restart), not for another secret', () => {
    const token = createTokens({ secret }).issue('s')
    assert.equal(createTokens({ secret: Buffer.from(secret) }).verify(token, 's'), true)
    assert.equal(createTokens({ secret: Buffer.alloc(32, 8) }).verify(token, 's'), false)
    // the default secret is random per instance
    assert.equal(createTokens().verify(createTokens().issue('s'), 's'), false)
  })

  it('refuses a secret shorter than 32 bytes', () => {
    assert.throws(() => createTokens({ secret: Buffer.alloc(31) }), { code: 'TOKEN_SECRET_INVALID' })
  })
})

describe('tokenSecretFromEnv', () => {
  it('reads WEFT_WS_SECRET, is undefined when unset, and refuses a short one', () => {
    assert.equal(tokenSecretFromEnv({}), undefined)
    assert.equal(tokenSecretFromEnv({ WEFT_WS_SECRET: '' }), undefined)
    const text = 'k'.repeat(40)
    assert.deepEqual(tokenSecretFromEnv({ WEFT_WS_SECRET: text }), Buffer.from(text))
    assert.throws(() => tokenSecretFromEnv({ WEFT_WS_SECRET: 'short' }), { code: 'TOKEN_SECRET_INVALID' })
  })
})

describe('persistedTokenSecret', () => {
  it('makes the secret once, readable by its owner only, and gives the same one after a restart: tokens outlive it', () => {
    const dir = path.join(mkdtempSync(path.join(tmpdir(), 'weft-secret-')), 'data')
    try {
      const first = persistedTokenSecret(dir)
      assert.ok(first.length >= 32)
      assert.equal(statSync(path.join(dir, 'ws-secret')).mode & 0o777, 0o600)
      const token = createTokens({ secret: first }).issue('s1')
      // a restarted server: a new issuer over the kept secret still takes the old token
      assert.equal(createTokens({ secret: persistedTokenSecret(dir) }).verify(token, 's1'), true)
      assert.deepEqual(readdirSync(dir), ['ws-secret'], 'no draft left behind')
      writeFileSync(path.join(dir, 'ws-secret'), 'short')
      assert.throws(() => persistedTokenSecret(dir), { code: 'TOKEN_SECRET_INVALID' })
    } finally {
      rmSync(path.dirname(dir), { recursive: true, force: true })
    }
  })
})
