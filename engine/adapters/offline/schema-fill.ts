// A deterministic value of a JSON Schema's shape, for prompts whose task the offline model does not know.
import { hash, words } from './text.ts'

type Schema = Record<string, unknown>

/**
 * Walks `schema` and builds a conforming value: objects with their required properties, arrays with
 * `minItems` items (at least one), the first `enum`/`const`, strings made of the prompt's words, numbers
 * within their bounds. `$ref` to local definitions, `allOf`, `anyOf`/`oneOf` (first option) are followed.
 */
export function fillSchema(schema: Schema, promptText: string): unknown {
  const vocabulary = words(promptText).filter((w) => w.length > 3)
  const seed = hash(promptText)
  const walk = (s: Schema, key: string, depth: number): unknown => {
    if (depth > 12) return null
    if (typeof s.$ref === 'string') return walk(resolve(schema, s.$ref), key, depth + 1)
    if ('const' in s) return s.const
    if (Array.isArray(s.enum) && s.enum.length) return s.enum[0]
    if (s.default !== undefined) return s.default
    if (Array.isArray(s.allOf)) return walk(merge(s.allOf.map((x) => (typeof x.$ref === 'string' ? resolve(schema, x.$ref) : x) as Schema)), key, depth + 1)
    const options = (s.anyOf ?? s.oneOf) as Schema[] | undefined
    if (Array.isArray(options) && options.length) return walk({ ...s, anyOf: undefined, oneOf: undefined, ...options[0] }, key, depth + 1)
    const type = Array.isArray(s.type) ? (s.type.find((t) => t !== 'null') ?? 'null') : (s.type ?? (s.properties ? 'object' : s.items ? 'array' : 'string'))
    switch (type) {
      case 'object': {
        const props = (s.properties ?? {}) as Record<string, Schema>
        const required = Array.isArray(s.required) ? (s.required as string[]) : []
        const out: Record<string, unknown> = {}
        for (const k of required) out[k] = walk(props[k] ?? {}, k, depth + 1)
        const min = typeof s.minProperties === 'number' ? s.minProperties : 0
        for (const k of Object.keys(props)) if (Object.keys(out).length < min && !(k in out)) out[k] = walk(props[k]!, k, depth + 1)
        return out
      }
      case 'array': {
        const min = typeof s.minItems === 'number' ? s.minItems : 1
        const max = typeof s.maxItems === 'number' ? s.maxItems : Math.max(min, 1)
        const item = (Array.isArray(s.items) ? s.items[0] : s.items) as Schema | undefined
        return Array.from({ length: Math.min(Math.max(min, 1), max) }, (_, i) => walk(item ?? {}, `${key}${i}`, depth + 1))
      }
      case 'integer':
      case 'number':
        return number(s, type === 'integer')
      case 'boolean':
        return true
      case 'null':
        return null
      default:
        return text(s, key)
    }
  }
  const text = (s: Schema, key: string): string => {
    const hex = '#' + (hash(key + seed) & 0xffffff).toString(16).padStart(6, '0')
    if (typeof s.pattern === 'string') {
      const re = safeRegExp(s.pattern)
      const found = [hex, key, vocabulary[0] ?? 'offline', 'a', '0', 'A1'].find((c) => re?.test(c))
      if (found) return found
    }
    if (/^(?:colou?r|hex)$/i.test(key)) return hex
    if (s.format === 'date-time') return '2000-01-01T00:00:00Z'
    if (s.format === 'date') return '2000-01-01'
    if (s.format === 'uri' || s.format === 'url') return 'https://example.com/'
    if (s.format === 'email') return 'offline@example.com'
    const min = typeof s.minLength === 'number' ? s.minLength : 1
    const max = typeof s.maxLength === 'number' ? s.maxLength : 120
    const start = vocabulary.length ? hash(key) % vocabulary.length : 0
    let out = vocabulary.length
      ? vocabulary
          .slice(start, start + 8)
          .concat(vocabulary.slice(0, Math.max(0, start + 8 - vocabulary.length)))
          .join(' ')
      : key || 'offline'
    while (out.length < min) out += ` ${out}`
    out = out.slice(0, max).trim()
    return out.length >= min ? out : 'x'.repeat(min)
  }
  return walk(schema, '', 0)
}

function safeRegExp(pattern: string): RegExp | undefined {
  try {
    return new RegExp(pattern, 'u')
  } catch {
    return undefined
  }
}

function number(s: Schema, integer: boolean): number {
  const lo = typeof s.exclusiveMinimum === 'number' ? s.exclusiveMinimum + (integer ? 1 : 0.5) : typeof s.minimum === 'number' ? s.minimum : undefined
  const hi = typeof s.exclusiveMaximum === 'number' ? s.exclusiveMaximum - (integer ? 1 : 0.5) : typeof s.maximum === 'number' ? s.maximum : undefined
  let v = lo !== undefined && hi !== undefined ? (lo + hi) / 2 : (lo ?? (hi !== undefined ? Math.min(hi, 0) : 0))
  if (integer) v = lo !== undefined ? Math.ceil(v) : Math.floor(v)
  if (typeof s.multipleOf === 'number' && s.multipleOf > 0) v = Math.ceil(v / s.multipleOf) * s.multipleOf
  return v
}

function resolve(root: Schema, ref: string): Schema {
  if (!ref.startsWith('#')) return {}
  let at: unknown = root
  for (const part of ref.slice(1).split('/').filter(Boolean)) at = (at as Record<string, unknown> | undefined)?.[part.replace(/~1/g, '/').replace(/~0/g, '~')]
  return at && typeof at === 'object' ? (at as Schema) : {}
}

function merge(parts: Schema[]): Schema {
  const out: Schema = {}
  for (const p of parts) {
    for (const [k, v] of Object.entries(p)) {
      if (k === 'properties') out.properties = { ...(out.properties as Schema | undefined), ...(v as Schema) }
      else if (k === 'required') out.required = [...new Set([...((out.required as string[] | undefined) ?? []), ...(v as string[])])]
      else out[k] = v
    }
  }
  return out
}
