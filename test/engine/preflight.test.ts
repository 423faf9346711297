import assert from 'node:assert/strict'
import { mkdtempSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import path from 'node:path'
import { describe, it } from 'node:test'
import { loadPipeline } from '../../engine/dsl/load.ts'
import { resolveConfig, resolveRunInputs } from '../../engine/inputs.ts'
import { preflight } from '../../engine/preflight.ts'
import type { Pipeline } from '../../engine/dsl/pipeline.ts'

const root = path.resolve(import.meta.dirname, '..', '..')

async function defaultPipeline(): Promise<Pipeline> {
  const { pipeline, diagnostics } = await loadPipeline(path.join(root, 'pipelines', 'default.yaml'))
  assert.ok(pipeline, diagnostics.map((d) => d.message).join('\n'))
  return pipeline
}

function check(p: Pipeline, sets: Record<string, string>, given: Record<string, unknown> = { prompt: 'x' }) {
  const config = resolveConfig(
    p,
    Object.entries(sets).map(([k, value]) => ({ path: k, value })),
  )
  assert.deepEqual(config.diagnostics, [])
  const inputs = resolveRunInputs(p, given)
  assert.deepEqual(inputs.diagnostics, [])
  return preflight(p, inputs.inputs, config.config)
}

describe("preflight: the run's values in the fields computed from them", () => {
  it('passes the default pipeline with its defaults', async () => {
    assert.deepEqual(check(await defaultPipeline(), {}), [])
  })

  it("refuses values out of a node field's range, naming the node, the field and where the value came from", async () => {
    const p = await defaultPipeline()
    assert.deepEqual(check(p, { 'critic.story_threshold': '500' }), [
      { at: ['nodes', 'story', 'threshold'], message: 'node "story": threshold must be at most 100; got the number 500 (from config.critic.story_threshold)' },
    ])
    // both fan-outs read the same setting
    assert.deepEqual(
      check(p, { 'parallel.max_concurrent': '0' }).map((x) => x.at.join('.')),
      ['nodes.references.concurrency', 'nodes.videos.concurrency'],
    )
    // …but only when it is used: with parallel off the concurrency is 1
    assert.deepEqual(check(p, { 'parallel.max_concurrent': '0', 'parallel.enabled': 'false' }), [])
    assert.match(check(p, { 'max_iterations.story': '0' })[0]!.message, /max_iterations must be at least 1; got the number 0/)
    // a node the run skips by its `when` is not held to its values
    assert.deepEqual(check(p, { 'critic.story_threshold': '500', 'stages.story': 'false' }), [])
  })

  it('refuses a timeout that is not a duration', async () => {
    const [problem] = check(await defaultPipeline(), { 'timeouts.story': 'forever' })
    assert.deepEqual(problem, { at: ['nodes', 'story', 'timeout'], message: 'node "story": timeout is "forever" (from config.timeouts.story); expected a duration such as 90s, 5m or 1h30m' })
  })

  it('leaves fields that read other nodes to run time, and checks fields that read inputs only when asked to', async () => {
    const p = await defaultPipeline()
    // scene_count reads inputs: a duration out of the schema's range is the inputs' business, not preflight's
    assert.deepEqual(preflight(p, {}, resolveConfig(p, []).config, { withInputs: false }), [])
  })

  it('reports a default out of range at its field in the file (weft validate)', async () => {
    const dir = mkdtempSync(path.join(tmpdir(), 'weft-preflight-'))
    const file = path.join(dir, 'p.yaml')
    writeFileSync(
      file,
      [
        'pipeline: p',
        'config:',
        '  loops: 0',
        'nodes:',
        '  many:',
        '    type: fan_out',
        '    items: ${{ [1, 2] }}',
        '    concurrency: ${{ config.loops }}',
        '    node: { type: render, kind: image, out: "x.png", title: "t", prompt: "p" }',
        '',
      ].join('\n'),
    )
    const { pipeline, diagnostics } = await loadPipeline(file)
    assert.equal(pipeline, undefined)
    assert.deepEqual(
      diagnostics.map((d) => [d.code, d.line, d.path]),
      [['CONFIG_INVALID', 8, 'nodes.many.concurrency']],
    )
  })
})
