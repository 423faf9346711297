// API keys: parsing `WEFT_API_KEYS`, reading a request's key, and checking it in constant time.
import { createHash, timingSafeEqual } from 'node:crypto'
import type { MiddlewareHandler } from 'hono'
import { WeftError } from '../engine/errors.ts'
import { errorResponse } from './errors.ts'

/** One accepted key and the id it is known by (rate limits, records, logs — never the key itself). */
export interface ApiKey {
  id: string
  key: string
}

/** Variables the auth middleware sets on the context. */
export interface AuthVariables {
  /** The id of the key that authenticated the request; absent when no keys are configured. */
  principal: string | undefined
}

/**
 * Parses `WEFT_API_KEYS`: comma-separated `id:key` pairs or bare keys (a bare key's id is `key-` and the
 * first 8 hex digits of its SHA-256). Blank entries are ignored; a key shorter than 16 characters or a
 * repeated id → API_KEYS_INVALID.
 */
export function parseApiKeys(value: string | undefined): ApiKey[] {
  const keys: ApiKey[] = []
  for (const raw of (value ?? '').split(',')) {
    const entry = raw.trim()
    if (!entry) continue
    const colon = entry.indexOf(':')
    const key = colon > 0 ? entry.slice(colon + 1).trim() : entry
    const id = colon > 0 ? entry.slice(0, colon).trim() : `key-${sha256(key).toString('hex').slice(0, 8)}`
    if (key.length < 16)
      throw new WeftError('API_KEYS_INVALID', `WEFT_API_KEYS: the key for "${id}" is shorter than 16 characters; use a long random key (e.g. \`openssl rand -hex 32\`)`, { retryable: false })
    if (keys.some((k) => k.id === id)) throw new WeftError('API_KEYS_INVALID', `WEFT_API_KEYS: the id "${id}" is given twice`, { retryable: false })
    keys.push({ id, key })
  }
  return keys
}

/** The key a request presents: `Authorization: Bearer <key>` or `X-API-Key: <key>`. */
export function presentedKey(headers: Headers): string | undefined {
  const auth = headers.get('authorization')
  const bearer = auth?.match(/^Bearer\s+(\S+)\s*$/i)?.[1]
  if (bearer) return bearer
  const header = headers.get('x-api-key')?.trim()
  return header || undefined
}

/**
 * The id of the configured key equal to `presented`, or undefined. Every configured key is compared
 * (through fixed-length SHA-256 digests, with `timingSafeEqual`), so the time taken says nothing about
 * which key, or how much of one, matched.
 */
export function matchKey(keys: readonly ApiKey[], presented: string): string | undefined {
  const digest = sha256(presented)
  let found: string | undefined
  for (const k of keys) {
    if (timingSafeEqual(digest, sha256(k.key)) && found === undefined) found = k.id
  }
  return found
}

/**
 * Requires a valid key on every request it guards when `keys` is non-empty (401 UNAUTHORIZED otherwise,
 * with `WWW-Authenticate: Bearer`), and records the key's id as `principal`. With no keys it lets all through.
 */
export function apiKeyAuth(keys: readonly ApiKey[]): MiddlewareHandler<{ Variables: AuthVariables }> {
  return async (c, next) => {
    if (keys.length === 0) {
      c.set('principal', undefined)
      return next()
    }
    const presented = presentedKey(c.req.raw.headers)
    const id = presented === undefined ? undefined : matchKey(keys, presented)
    if (id === undefined) {
      c.header('WWW-Authenticate', 'Bearer')
      return errorResponse(c, 401, 'UNAUTHORIZED', presented === undefined ? 'an API key is required: send Authorization: Bearer <key> or X-API-Key: <key>' : 'the API key is not valid')
    }
    c.set('principal', id)
    return next()
  }
}

const sha256 = (s: string): Buffer => createHash('sha256').update(s, 'utf8').digest()
