import { describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { mkdirSync, mkdtempSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import path from 'node:path'
import { pathToFileURL } from 'node:url'
import { cacheKey, keyParts } from '../../../engine/cache/key.ts'
import type { NodeTask } from '../../../engine/ports.ts'

const root = mkdtempSync(path.join(tmpdir(), 'weft-key-'))
const prompts = path.join(root, 'prompts')
mkdirSync(prompts)
writeFileSync(path.join(prompts, 'writer.yaml'), 'template: Write {topic}.\nvariables: { topic: {} }\n')
const plugin = path.join(root, 'shout.mjs')
writeFileSync(plugin, 'export default { type: "shout", cache: true, execute: ({ config }) => config }\n')

function task(runId: string, config: unknown, extra: Partial<NodeTask> = {}): NodeTask {
  return {
    runId,
    nodeId: 'n',
    type: 'shout',
    module: pathToFileURL(plugin).href,
    attempt: 1,
    config,
    run: { id: runId, interactive: false },
    idempotencyKey: 'k',
    workDir: path.join(root, 'runs', runId),
    prompts: [prompts],
    ...extra,
  }
}
const ctx = { providers: 'model=offline;media=local' }

function fileIn(runId: string, rel: string, body: string): string {
  const abs = path.join(root, 'runs', runId, rel)
  mkdirSync(path.dirname(abs), { recursive: true })
  writeFileSync(abs, body)
  return abs
}

describe('cacheKey', () => {
  it('is the same for two runs that feed a node the same bytes under their own folders', async () => {
    const a = fileIn('r1', 'refs/hero.png', 'bytes')
    const b = fileIn('r2', 'refs/hero.png', 'bytes')
    assert.equal(await cacheKey(task('r1', { images: [a], out: 'clips/1.mp4' }), ctx), await cacheKey(task('r2', { images: [b], out: 'clips/1.mp4' }), ctx))
    const c = fileIn('r3', 'refs/hero.png', 'other bytes')
    assert.notEqual(await cacheKey(task('r1', { images: [a] }), ctx), await cacheKey(task('r3', { images: [c] }), ctx))
  })

  it("changes with a field, a prompt file the fields name, the plugin's source, the providers and a revision", async () => {
    const base = task('r1', { prompt: 'writer', text: 'hi' })
    const k0 = await cacheKey(base, ctx)
    assert.equal(await cacheKey(base, ctx), k0)
    assert.notEqual(await cacheKey(task('r1', { prompt: 'writer', text: 'hello' }), ctx), k0)
    assert.deepEqual(Object.keys((await keyParts(base, ctx)).prompts), ['writer'])
    writeFileSync(path.join(prompts, 'writer.yaml'), 'template: Write {topic} briefly.\nvariables: { topic: {} }\n')
    const k1 = await cacheKey(base, ctx)
    assert.notEqual(k1, k0)
    writeFileSync(plugin, 'export default { type: "shout", cache: true, execute: ({ config }) => ({ ...config }) }\n')
    const k2 = await cacheKey(base, ctx)
    assert.notEqual(k2, k1)
    assert.notEqual(await cacheKey(base, { providers: 'model=openai:https://api.example/v1:gpt;media=local' }), k2)
    assert.notEqual(await cacheKey({ ...base, revision: { round: 1, feedback: 'shorter', previous: 'hi' } }, ctx), k2)
  })

  it('keeps the run out of the key: the run id, attempt and idempotency key do not count', async () => {
    const t = task('r1', { text: 'x' })
    assert.equal(await cacheKey(t, ctx), await cacheKey({ ...task('r9', { text: 'x' }), attempt: 3, idempotencyKey: 'other' }, ctx))
  })
})
