import { describe, it } from 'node:test'
import assert from 'node:assert/strict'
import * as v from 'valibot'
import { DecisionSchema, flatConfig, GenerationRequestSchema, PipelineNameSchema, toStartGeneration } from '../../server/schemas.ts'

const paths = (schema: v.GenericSchema, input: unknown) => {
  const r = v.safeParse(schema, input)
  return r.success ? [] : r.issues.map((i) => v.getDotPath(i) ?? '')
}

describe('GenerationRequestSchema → StartGeneration', () => {
  it('maps inputs by name, shortcut fields and nested or dotted config to dotted paths', () => {
    const req = v.parse(GenerationRequestSchema, {
      prompt: ' brief ',
      tone: 'calm',
      enable_vbench: true,
      config: { stages: { videos: false, story: true }, 'video.fps': 30, timeouts: { story: '90s' }, tags: ['a'] },
    })
    assert.deepEqual(toStartGeneration(req, 'k1'), {
      pipeline: 'default',
      inputs: { prompt: 'brief', tone: 'calm' },
      config: { 'stages.videos': false, 'stages.story': true, 'video.fps': 30, 'timeouts.story': '90s', tags: ['a'], 'quality.vbench_enabled': true },
      interactive: false,
      principal: 'k1',
    })
  })

  it('an empty brand_assets is not passed on', () => {
    const req = v.parse(GenerationRequestSchema, { prompt: 'x', brand_assets: {} })
    assert.equal(toStartGeneration(req).brandAssets, undefined)
  })

  it('a shortcut and the config path it sets may not both be given; nor one path twice', () => {
    assert.deepEqual(paths(GenerationRequestSchema, { prompt: 'x', quality_threshold: 70, config: { quality: { threshold_acceptable: 60 } } }), ['quality_threshold'])
    assert.deepEqual(paths(GenerationRequestSchema, { prompt: 'x', parallel_variants: 2, config: { 'parallel.max_concurrent': 3 } }), ['parallel_variants'])
    assert.deepEqual(paths(GenerationRequestSchema, { prompt: 'x', enable_vbench: true, config: { 'quality.vbench_enabled': false } }), ['enable_vbench'])
    assert.deepEqual(paths(GenerationRequestSchema, { prompt: 'x', config: { quality: { rerenders: 1 }, 'quality.rerenders': 2 } }), ['config'])
  })

  it('bounds: prompt length, asset counts and schemes, config values', () => {
    assert.deepEqual(paths(GenerationRequestSchema, { prompt: 'x'.repeat(4001) }), ['prompt'])
    const many = Array.from({ length: 11 }, (_, i) => `https://a.example/${i}.png`)
    assert.deepEqual(paths(GenerationRequestSchema, { prompt: 'x', brand_assets: { character_images: many } }), ['brand_assets.character_images'])
    assert.deepEqual(paths(GenerationRequestSchema, { prompt: 'x', brand_assets: { logo: 'file:///etc/passwd' } }), ['brand_assets.logo'])
    assert.deepEqual(paths(GenerationRequestSchema, { prompt: 'x', brand_assets: { logo: 'HTTPS://a.example/l.png' } }), [])
    assert.deepEqual(paths(GenerationRequestSchema, { prompt: 'x', config: { quality: null } }), ['config.quality'])
  })

  it('flatConfig keeps arrays and scalars as leaves', () => {
    assert.deepEqual(
      [...flatConfig({ a: { b: { c: 1 } }, d: [1, { e: 2 }] })],
      [
        ['a.b.c', 1],
        ['d', [1, { e: 2 }]],
      ],
    )
  })
})

describe('PipelineNameSchema', () => {
  it('accepts names, refuses anything path-like', () => {
    for (const ok of ['default', 'video-ad_2', 'A1']) assert.ok(v.is(PipelineNameSchema, ok), ok)
    for (const bad of ['', '../default', 'a/b', 'a.yaml', '.hidden', 'x'.repeat(65), 'a\\b']) assert.ok(!v.is(PipelineNameSchema, bad), bad)
  })
})

describe('DecisionSchema', () => {
  it('approve with edits, reject with feedback, revise with feedback', () => {
    assert.deepEqual(v.parse(DecisionSchema, { decision: 'approve', edits: { a: 1 } }), { decision: 'approve', edits: { a: 1 } })
    assert.deepEqual(v.parse(DecisionSchema, { decision: 'reject' }), { decision: 'reject' })
    assert.deepEqual(v.parse(DecisionSchema, { decision: 'revise', feedback: 'shorter' }), { decision: 'revise', feedback: 'shorter' })
  })
  it('issues at feedback and edits', () => {
    assert.deepEqual(paths(DecisionSchema, { decision: 'revise' }), ['feedback'])
    assert.deepEqual(paths(DecisionSchema, { decision: 'revise', edits: 1, feedback: 'x' }), ['edits'])
    assert.deepEqual(paths(DecisionSchema, { decision: 'approve', feedback: 'x'.repeat(4001) }), ['feedback'])
  })
})
