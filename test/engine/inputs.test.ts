import { describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { resolveConfig, resolveRunInputs } from '../../engine/inputs.ts'
import { pipeline } from '../helpers.ts'

const p = await pipeline(`
pipeline: inputs
inputs:
  prompt: { type: string, required: true }
  count: { type: integer, default: 2 }
  tags: { type: list, default: [] }
  mode: { type: string, enum: [a, b], default: a }
config:
  stages: { videos: true }
  parallel: { max_concurrent: 5 }
  timeout: 90s
  extras: {}
plugins: [$WORK]
nodes:
  a: { type: work }
`)

describe('run inputs', () => {
  it('applies defaults and reads non-string text values as YAML', () => {
    const r = resolveRunInputs(p, { prompt: 'x', count: '4', tags: '[a, b]' }, { fromText: new Set(['prompt', 'count', 'tags']) })
    assert.deepEqual(r.diagnostics, [])
    assert.deepEqual(r.inputs, { prompt: 'x', count: 4, tags: ['a', 'b'], mode: 'a' })
  })
  it('lists every problem: missing, wrong type, enum, unknown (including prototype names), blank', () => {
    const r = resolveRunInputs(p, { count: 'many', mode: 'c', colour: 'red', constructor: 'x' }, { fromText: new Set(['count']) })
    assert.deepEqual(r.diagnostics.map((d) => [d.code, d.path]).sort(), [
      ['INPUT_INVALID', 'inputs.count'],
      ['INPUT_INVALID', 'inputs.mode'],
      ['INPUT_MISSING', 'inputs.prompt'],
      ['INPUT_UNKNOWN', 'inputs.colour'],
      ['INPUT_UNKNOWN', 'inputs.constructor'],
    ])
    assert.equal(resolveRunInputs(p, { prompt: '  ' }).diagnostics[0]!.code, 'INPUT_INVALID')
  })
})

describe('config overrides (--set)', () => {
  it('reads values as YAML scalars and keeps the default type', () => {
    const r = resolveConfig(p, [
      { path: 'stages.videos', value: 'false' },
      { path: 'config.parallel.max_concurrent', value: '2' },
      { path: 'timeout', value: '30s' },
      { path: 'extras.model', value: 'big' },
    ])
    assert.deepEqual(r.diagnostics, [])
    assert.deepEqual(r.config, { stages: { videos: false }, parallel: { max_concurrent: 2 }, timeout: '30s', extras: { model: 'big' } })
    assert.deepEqual(p.config.stages, { videos: true }, 'defaults untouched')
  })
  it('refuses unknown paths, wrong types and object internals, and never touches prototypes', () => {
    const r = resolveConfig(p, [
      { path: 'stages.video', value: 'false' },
      { path: 'parallel.max_concurrent', value: 'lots' },
      { path: '__proto__.polluted', value: 'yes' },
      { path: 'stages.constructor', value: 'x' },
    ])
    assert.deepEqual(
      r.diagnostics.map((d) => d.code),
      ['CONFIG_UNKNOWN', 'CONFIG_INVALID', 'CONFIG_UNKNOWN', 'CONFIG_UNKNOWN'],
    )
    assert.equal(({} as Record<string, unknown>).polluted, undefined)
  })
})
