// The code table is complete and has nothing dead: every code the sources raise at run time is listed, and every
// listed code is raised somewhere.
import { describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { readdirSync, readFileSync } from 'node:fs'
import path from 'node:path'
import { ERROR_CODES, httpStatusOf } from '../../engine/error-codes.ts'

const root = path.resolve(import.meta.dirname, '..', '..')
const sources = ['engine', 'nodes', 'server', 'cli'].flatMap((dir) =>
  readdirSync(path.join(root, dir), { recursive: true, encoding: 'utf8' })
    .filter((f) => f.endsWith('.ts') && f !== 'error-codes.ts')
    .map((f) => readFileSync(path.join(root, dir, f), 'utf8')),
)
const text = sources.join('\n')

/** Codes written where a runtime error is made: `new WeftError('X'`, `{ code: 'X'`, `toErrorInfo(…, 'X')`, refusals and frames. */
function raised(): Set<string> {
  const out = new Set<string>()
  const patterns = [
    /new WeftError\(\s*'([A-Z][A-Z0-9_]+)'/g,
    /\bcode: '([A-Z][A-Z0-9_]+)'/g,
    /toErrorInfo\([^)]*?, '([A-Z][A-Z0-9_]+)'\)/g,
    /(?:refuse|errorResponse)\([^)]*?, \d{3}, '([A-Z][A-Z0-9_]+)'/g,
    /\bmake\('([A-Z][A-Z0-9_]+)'/g,
  ]
  for (const re of patterns) for (const m of text.matchAll(re)) out.add(m[1]!)
  return out
}

/** Diagnostic codes (`weft validate`, reported at file:line:col) that some of the same patterns also catch. */
const DIAGNOSTICS = new Set([
  'FILE_ENCODING',
  'FILE_UNREADABLE',
  'PLUGIN_INVALID',
  'PLUGIN_LOAD_FAILED',
  'PLUGIN_NOT_A_FILE',
  'PLUGIN_OUTSIDE',
  'PLUGIN_TOO_LARGE',
  'PROMPT_VARIABLE_UNKNOWN',
  'NODE_CHECK_FAILED',
  'VALIDATION_TIMEOUT',
  'VALIDATION_TOO_LARGE',
])

describe('error codes', () => {
  it('lists every runtime code the sources raise', () => {
    const missing = [...raised()].filter((c) => !Object.hasOwn(ERROR_CODES, c) && !DIAGNOSTICS.has(c))
    assert.deepEqual(missing, [], `raised but not in engine/error-codes.ts: ${missing.join(', ')}`)
  })

  it('lists no code that nothing raises', () => {
    const dead = Object.keys(ERROR_CODES).filter((c) => !text.includes(`'${c}'`) && !text.includes(`${c}:`))
    assert.deepEqual(dead, [], `in the table but raised nowhere: ${dead.join(', ')}`)
  })

  it('gives the API its statuses: client mistakes 4xx, the rest 500', () => {
    assert.equal(httpStatusOf('RUN_NOT_FOUND'), 404)
    assert.equal(httpStatusOf('DECISION_NOT_ALLOWED'), 409)
    assert.equal(httpStatusOf('MODEL_TIMEOUT'), undefined)
    assert.equal(httpStatusOf('toString'), undefined)
  })
})
