// Reading request bodies: the media type, UTF-8 text with the place of a bad byte, JSON objects of bounded
// depth, and valibot validation with every problem named.
import type { Context, MiddlewareHandler } from 'hono'
import * as v from 'valibot'
import { WeftError } from '../engine/errors.ts'
import { decodeUtf8 } from '../engine/utf8.ts'
import { errorResponse, valibotIssues } from './errors.ts'

export const JSON_TYPES = ['application/json']
export const YAML_TYPES = ['text/yaml', 'application/yaml', 'application/x-yaml', 'text/x-yaml', 'text/plain']
/** Deepest JSON nesting a body may have (bounds the recursive config schema's work). */
const MAX_JSON_DEPTH = 32

/** 415 UNSUPPORTED_MEDIA_TYPE unless the request's Content-Type is one of `types` (parameters such as charset are ignored). */
export function accept(types: readonly string[]): MiddlewareHandler {
  return async (c, next) => {
    const refused = mediaTypeRefusal(c, types)
    return refused ? errorResponse(c, 415, 'UNSUPPORTED_MEDIA_TYPE', refused) : next()
  }
}

/** Why the request's Content-Type is not one of `types`, or undefined when it is. */
export function mediaTypeRefusal(c: Context, types: readonly string[]): string | undefined {
  const type = mediaType(c)
  return type && types.includes(type) ? undefined : `expected Content-Type ${types.join(' or ')}, got ${type ?? 'none'}`
}

export const mediaType = (c: Context) => c.req.header('content-type')?.split(';')[0]?.trim().toLowerCase() || undefined

/** The body as text: bytes that are not UTF-8 → ENCODING_INVALID naming where (a lossy decoding would hide them). */
export async function readText(c: Context): Promise<string> {
  const decoded = decodeUtf8(new Uint8Array(await c.req.arrayBuffer()))
  if (!decoded.ok) throw new WeftError('ENCODING_INVALID', `the body is not UTF-8 text: byte 0x${decoded.byte.toString(16).padStart(2, '0')} at line ${decoded.line}, column ${decoded.col}`)
  return decoded.text
}

/** The body as a JSON object: malformed → JSON_INVALID; not an object, or nested deeper than MAX_JSON_DEPTH → REQUEST_INVALID. */
export async function readJson(c: Context): Promise<unknown> {
  return jsonObject(await readText(c))
}

/** JSON text parsed, and whether any of its strings or keys holds U+0000 (which the Postgres store cannot keep). */
export function parseJsonText(text: string): { value: unknown; nul: boolean } {
  let nul = false
  const value: unknown = JSON.parse(text, (key, v: unknown) => {
    if (!nul && (key.includes('\u0000') || (typeof v === 'string' && v.includes('\u0000')))) nul = true
    return v
  })
  return { value, nul }
}

/** What a body or a message holding U+0000 is told. */
export const NUL_REFUSED = 'text must not contain the NUL character (U+0000)'

/** Text as a JSON object, checked as `readJson` checks a body. */
export function jsonObject(text: string): unknown {
  let value: unknown
  let nul: boolean
  try {
    ;({ value, nul } = parseJsonText(text))
  } catch {
    throw new WeftError('JSON_INVALID', 'the body is not valid JSON')
  }
  if (nul) throw new WeftError('REQUEST_INVALID', `the body is invalid: ${NUL_REFUSED}`, { details: { issues: [{ path: '', message: NUL_REFUSED }] } })
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    throw new WeftError('REQUEST_INVALID', 'the body must be a JSON object', { details: { issues: [{ path: '', message: 'expected a JSON object' }] } })
  }
  if (depth(value) > MAX_JSON_DEPTH) {
    throw new WeftError('REQUEST_INVALID', `the body is nested deeper than ${MAX_JSON_DEPTH} levels`, { details: { issues: [{ path: '', message: `nested deeper than ${MAX_JSON_DEPTH} levels` }] } })
  }
  return value
}

/** Nesting depth of a JSON value, iteratively (a deep body must not exhaust the stack). */
function depth(value: unknown): number {
  let max = 0
  const stack: Array<[unknown, number]> = [[value, 1]]
  while (stack.length) {
    const [x, d] = stack.pop()!
    if (typeof x !== 'object' || x === null) continue
    max = Math.max(max, d)
    if (d > MAX_JSON_DEPTH) return d
    for (const child of Object.values(x)) stack.push([child, d + 1])
  }
  return max
}

/** Validates `input`; every problem (with its dotted path) → REQUEST_INVALID. */
export function parse<S extends v.GenericSchema>(schema: S, input: unknown): v.InferOutput<S> {
  const result = v.safeParse(schema, input)
  if (result.success) return result.output
  const issues = valibotIssues(result.issues)
  throw new WeftError('REQUEST_INVALID', `the request is invalid (${issues.length} problem${issues.length === 1 ? '' : 's'})`, { details: { issues } })
}
