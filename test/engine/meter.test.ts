// Usage and cost per attempt, node and run, and the budget a run may not pass.
import { describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { mkdtempSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import path from 'node:path'
import { Meter } from '../../engine/meter.ts'
import { defaultPrices, prices } from '../../engine/prices.ts'
import { runUsage } from '../../engine/usage.ts'
import { InlineExecutor } from '../../engine/adapters/inline-executor.ts'
import type { MediaProvider, ModelProvider } from '../../engine/ports.ts'
import { pipeline, run } from '../helpers.ts'

/** A model that answers every call with 1,000 tokens in and 500 out, as `model` (a priced one by default). */
const paid = (model = 'gpt-4o-mini'): ModelProvider & { calls: number } => {
  const m = {
    name: 'paid',
    calls: 0,
    modelFor: () => model,
    async complete() {
      m.calls++
      return { text: 'hello', model, usage: { input_tokens: 1000, output_tokens: 500 } }
    },
  }
  return m
}
const signal = new AbortController().signal

describe('Meter', () => {
  it("counts tokens and prices them by model (a dated model id by its family's price); an unknown model is unpriced, not free", async () => {
    const meter = new Meter(undefined, defaultPrices)
    const model = meter.wrap({ model: paid('gpt-4o-mini-2024-07-18') }).model!
    await model.complete({ prompt: 'hi' }, { signal, idempotencyKey: 'k' })
    assert.deepEqual(meter.usage, { model_calls: 1, input_tokens: 1000, output_tokens: 500, images: 0, video_s: 0, cost_usd: 0.00045, unpriced: 0 })
    const other = new Meter(undefined, defaultPrices)
    await other.wrap({ model: paid('my-local-llama') }).model!.complete({ prompt: 'hi' }, { signal, idempotencyKey: 'k' })
    assert.equal(other.usage.cost_usd, 0)
    assert.equal(other.usage.unpriced, 1)
  })

  it('prices a model ref by its model id, or by the whole ref when the table names it', async () => {
    const ref = new Meter(undefined, defaultPrices)
    await ref.wrap({ model: paid('anthropic/claude-sonnet-4-5-20250929') }).model!.complete({ prompt: 'hi' }, { signal, idempotencyKey: 'k' })
    assert.equal(ref.usage.cost_usd, (1000 * 3 + 500 * 15) / 1e6)
    const own = { ...defaultPrices, models: { ...defaultPrices.models, 'ollama/llama3.1': { input_per_1m: 0, output_per_1m: 0 } } }
    const local = new Meter(undefined, own)
    await local.wrap({ model: paid('ollama/llama3.1:8b') }).model!.complete({ prompt: 'hi' }, { signal, idempotencyKey: 'k' })
    assert.deepEqual([local.usage.cost_usd, local.usage.unpriced], [0, 0])
  })

  it('counts images and seconds of video by the media model that made them; a stitch makes nothing new', async () => {
    const meter = new Meter(undefined, defaultPrices)
    const media: MediaProvider = {
      name: 'fake',
      async render(req) {
        return req.kind === 'image'
          ? { path: req.out, kind: 'image', width: 1, height: 1, source: 'replicate/black-forest-labs/flux-schnell' }
          : { path: req.out, kind: 'video', width: 1, height: 1, duration_s: 8, source: req.kind === 'video' ? 'replicate/google/veo-3.1' : 'local/ffmpeg' }
      },
    }
    const m = meter.wrap({ media }).media!
    await m.render({ kind: 'image', prompt: 'p', out: '/x/a.png', width: 1, height: 1 }, { signal, idempotencyKey: 'k' })
    await m.render({ kind: 'video', prompt: 'p', out: '/x/a.mp4', width: 1, height: 1, fps: 24, duration_s: 8 }, { signal, idempotencyKey: 'k' })
    await m.render({ kind: 'stitch', out: '/x/f.mp4', clips: ['/x/a.mp4'], transitions: [] }, { signal, idempotencyKey: 'k' })
    assert.deepEqual(meter.usage, { model_calls: 0, input_tokens: 0, output_tokens: 0, images: 1, video_s: 8, cost_usd: 0.003, unpriced: 1 })
  })

  it('WEFT_PRICES adds prices; a file that does not fit is refused with PRICES_INVALID', () => {
    const dir = mkdtempSync(path.join(tmpdir(), 'weft-prices-'))
    writeFileSync(path.join(dir, 'p.yaml'), 'models:\n  my-local-llama: { input_per_1m: 1, output_per_1m: 2 }\nmedia:\n  replicate/google/veo-3.1: { per_second: 0.5 }\n')
    const table = prices({ WEFT_PRICES: path.join(dir, 'p.yaml') })
    assert.deepEqual(table.models['my-local-llama'], { input_per_1m: 1, output_per_1m: 2 })
    assert.equal(table.models['gpt-4o'], defaultPrices.models['gpt-4o'])
    writeFileSync(path.join(dir, 'bad.yaml'), 'models:\n  x: { input_per_1m: -1, output_per_1m: 2 }\n')
    assert.throws(
      () => prices({ WEFT_PRICES: path.join(dir, 'bad.yaml') }),
      (e: Error & { code?: string }) => e.code === 'PRICES_INVALID' && /models\.x\.input_per_1m/.test(e.message),
    )
  })
})

const spend = (budget: number) => `
pipeline: spend
prompts: $FIXTURES/prompts
config: { budget: { usd: ${budget} } }
nodes:
  a: { type: agent, prompt: plain, vars: { name: a }, stage: write }
  b: { type: agent, prompt: plain, vars: { name: b }, needs: [a], stage: write }
  c: { type: agent, prompt: plain, vars: { name: c }, needs: [b], stage: polish }
`

describe('usage in a run', () => {
  it('is recorded per node and summed per stage and run, and sent with node.completed', async () => {
    const { record, events } = await run(await pipeline(spend(1)), { executor: new InlineExecutor({ model: paid() }) })
    assert.equal(record.status, 'completed')
    assert.equal(record.nodes.a!.usage!.cost_usd, 0.00045)
    const { total, by_stage } = runUsage(Object.values(record.nodes))
    assert.equal(total.model_calls, 3)
    assert.equal(total.cost_usd, 0.00135)
    assert.deepEqual(Object.fromEntries(Object.entries(by_stage).map(([k, u]) => [k, u.model_calls])), { write: 2, polish: 1 })
    assert.deepEqual(events.find((e) => e.type === 'node.completed' && e.node === 'c')!.payload.usage, record.nodes.c!.usage)
  })

  it('stops before the call that would pass the budget, with BUDGET_EXCEEDED and what was spent', async () => {
    const model = paid()
    const { record } = await run(await pipeline(spend(0.001)), { executor: new InlineExecutor({ model }) })
    assert.equal(model.calls, 2, 'the third call was not made')
    assert.equal(record.status, 'failed')
    assert.equal(record.nodes.c!.error!.code, 'BUDGET_EXCEEDED')
    // expected: its input (a few tokens) and the run's 500 output tokens a call, at gpt-4o-mini's prices
    assert.deepEqual(record.nodes.c!.error!.details, { budget_usd: 0.001, spent_usd: 0.0009, next_usd: 0.000301 })
    assert.match(record.error!.message, /would take the run past its budget of \$0\.001 \(\$0\.0009 spent so far, this call expected to cost \$0\.0003\)/)
    assert.equal(runUsage(Object.values(record.nodes)).total.cost_usd, 0.0009)
  })
})

describe('a budget', () => {
  it('holds only priced calls: an unpriced model is refused before its first call (BUDGET_UNPRICED)', async () => {
    const model = paid('my-local-llama')
    const { record } = await run(await pipeline(spend(1)), { executor: new InlineExecutor({ model }) })
    assert.equal(model.calls, 0)
    assert.equal(record.nodes.a!.error!.code, 'BUDGET_UNPRICED')
    assert.match(record.nodes.a!.error!.message, /a call to my-local-llama: the run has a budget of \$1 and this has no price/)
  })

  it('prices a clip before rendering it, and a fan-out collecting failed items still stops the run', async () => {
    let renders = 0
    const media: MediaProvider = {
      name: 'fake',
      sourceOf: () => 'replicate/black-forest-labs/flux-schnell',
      async render(req) {
        renders++
        return { path: req.out, kind: 'image', width: 16, height: 16, source: 'replicate/black-forest-labs/flux-schnell' }
      },
    }
    const p = await pipeline(`
pipeline: images
config: { budget: { usd: 0.007 } }
nodes:
  refs:
    type: fan_out
    items: [1, 2, 3, 4]
    concurrency: 1
    on_item_error: collect
    node: { type: render, kind: image, prompt: p, out: "\${{ 'r' + string(item) + '.png' }}", width: 16, height: 16 }
  after: { type: render, kind: image, prompt: p, out: after.png, width: 16, height: 16, needs: [refs], trigger: all_done }
`)
    const { record } = await run(p, { executor: new InlineExecutor({ media }) })
    // $0.003 an image: two fit in $0.007, the third would pass it
    assert.equal(renders, 2)
    assert.equal(record.status, 'failed')
    assert.equal(record.nodes.refs!.error!.code, 'FAN_OUT_ITEM_FAILED')
    assert.match(record.nodes.refs!.error!.message, /BUDGET_EXCEEDED/)
    assert.equal(record.nodes.after!.status, 'skipped')
  })
})
