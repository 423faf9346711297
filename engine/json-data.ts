// Node outputs are JSON data: they cross threads, go to Postgres as jsonb and out as --json.
import { WeftError } from './errors.ts'

/**
 * Checks that a node's output is JSON data and returns it in plain form: Dates become ISO strings,
 * `undefined` object members are dropped. Functions, symbols, BigInts, non-finite numbers, class
 * instances and cycles are refused with OUTPUT_INVALID (not retryable), naming where they are.
 */
export function toJsonData(value: unknown, where = 'output'): unknown {
  const seen = new Set<object>()
  const walk = (v: unknown, at: string): unknown => {
    if (v === null || typeof v === 'string' || typeof v === 'boolean') return v
    if (typeof v === 'number') {
      if (Number.isFinite(v)) return v
      throw invalid(at, `${v} is not a JSON number`)
    }
    if (v === undefined) return null
    if (typeof v !== 'object') throw invalid(at, `a ${typeof v} is not JSON data`)
    if (v instanceof Date) return v.toISOString()
    if (seen.has(v)) throw invalid(at, 'refers back to itself (a cycle)')
    seen.add(v)
    try {
      if (Array.isArray(v)) return v.map((item, i) => walk(item, `${at}[${i}]`))
      const proto = Object.getPrototypeOf(v)
      if (proto !== Object.prototype && proto !== null) throw invalid(at, `a ${proto?.constructor?.name ?? 'class'} instance is not JSON data`)
      const out: Record<string, unknown> = {}
      for (const [k, item] of Object.entries(v)) if (item !== undefined) out[k] = walk(item, `${at}.${k}`)
      return out
    } finally {
      seen.delete(v)
    }
  }
  return walk(value, where)
}

function invalid(at: string, why: string): WeftError {
  return new WeftError('OUTPUT_INVALID', `${at}: ${why}; outputs must be JSON data (objects, lists, strings, numbers, booleans, null)`, { retryable: false })
}
