// Short-lived WebSocket tokens: an HMAC-SHA256 over a session id and an expiry, so the API key never rides in a URL.
import { createHmac, randomBytes, timingSafeEqual } from 'node:crypto'
import { linkSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import path from 'node:path'
import { WeftError } from '../engine/errors.ts'

/** Issues and checks tokens that let a client open `/ws/<session_id>` for one session. */
export interface Tokens {
  /** A token for `sessionId`, valid until the TTL runs out: `<expiry ms, base36>.<signature, base64url>`. */
  issue(sessionId: string): string
  /** True when `token` was issued by this secret for exactly `sessionId` and has not expired. Never throws. */
  verify(token: string, sessionId: string): boolean
}

export interface TokenOptions {
  /** HMAC key, at least 32 bytes. Default: random per process (tokens die with it); `weft serve` keeps one in the data directory. */
  secret?: Buffer
  /** How long a token stays valid. Default 15 minutes. */
  ttlMs?: number
  /** Clock in epoch ms (tests). */
  now?: () => number
}

const MIN_SECRET_BYTES = 32
const DEFAULT_TTL_MS = 15 * 60_000
// longer than any token we issue: refuse to hash attacker-sized strings
const MAX_TOKEN_CHARS = 128
const TOKEN = /^([0-9a-z]{1,12})\.([A-Za-z0-9_-]{43})$/

/** Creates the token issuer/verifier. Throws TOKEN_SECRET_INVALID for a secret shorter than 32 bytes. */
export function createTokens(opts: TokenOptions = {}): Tokens {
  const secret = opts.secret ?? randomBytes(MIN_SECRET_BYTES)
  if (secret.length < MIN_SECRET_BYTES) {
    throw new WeftError('TOKEN_SECRET_INVALID', `the WebSocket token secret has ${secret.length} bytes; use at least ${MIN_SECRET_BYTES} (e.g. \`openssl rand -base64 48\`)`, { retryable: false })
  }
  const ttlMs = opts.ttlMs ?? DEFAULT_TTL_MS
  const now = opts.now ?? Date.now
  // the purpose prefix keeps these MACs from being valid for anything else signed with the same secret
  const sign = (sessionId: string, expiry: string): Buffer => createHmac('sha256', secret).update(`weft.ws.v1\0${sessionId}\0${expiry}`).digest()

  return {
    issue(sessionId) {
      const expiry = Math.floor(now() + ttlMs).toString(36)
      return `${expiry}.${sign(sessionId, expiry).toString('base64url')}`
    },
    verify(token, sessionId) {
      if (typeof token !== 'string' || token.length > MAX_TOKEN_CHARS) return false
      const m = TOKEN.exec(token)
      if (!m) return false
      const [, expiry, sig] = m as unknown as [string, string, string]
      if (parseInt(expiry, 36) <= now()) return false
      const given = Buffer.from(sig, 'base64url')
      const expected = sign(sessionId, expiry)
      return given.length === expected.length && timingSafeEqual(given, expected)
    },
  }
}

/**
 * The token secret from `WEFT_WS_SECRET` (text, used as UTF-8 bytes), or undefined when unset (a random one then).
 * Throws TOKEN_SECRET_INVALID when it is set but shorter than 32 bytes.
 */
export function tokenSecretFromEnv(env: NodeJS.ProcessEnv = process.env): Buffer | undefined {
  const text = env.WEFT_WS_SECRET
  if (text === undefined || text === '') return undefined
  const secret = Buffer.from(text, 'utf8')
  if (secret.length < MIN_SECRET_BYTES) {
    throw new WeftError('TOKEN_SECRET_INVALID', `WEFT_WS_SECRET has ${secret.length} bytes; use at least ${MIN_SECRET_BYTES} (e.g. \`openssl rand -base64 48\`)`, { retryable: false })
  }
  return secret
}

/**
 * The secret kept in `<dataDir>/ws-secret` (made once, readable by this user only), so that tokens outlive a restart
 * of `weft serve` without `WEFT_WS_SECRET`. Servers on several machines share one through `WEFT_WS_SECRET` instead.
 */
export function persistedTokenSecret(dataDir: string): Buffer {
  const file = path.join(dataDir, 'ws-secret')
  mkdirSync(dataDir, { recursive: true })
  // written aside, then linked into place: a second process starting at the same time reads a whole secret or makes none
  const draft = `${file}.${process.pid}.${randomBytes(4).toString('hex')}`
  writeFileSync(draft, randomBytes(48).toString('base64'), { mode: 0o600 })
  try {
    linkSync(draft, file)
  } catch (err) {
    if ((err as { code?: string }).code !== 'EEXIST') throw err
  } finally {
    rmSync(draft, { force: true })
  }
  const secret = Buffer.from(readFileSync(file, 'utf8').trim(), 'utf8')
  if (secret.length < MIN_SECRET_BYTES) {
    throw new WeftError('TOKEN_SECRET_INVALID', `${file} holds ${secret.length} bytes; remove it (a new one is made) or write at least ${MIN_SECRET_BYTES}`, { retryable: false })
  }
  return secret
}
