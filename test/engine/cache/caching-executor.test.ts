import { describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { mkdtempSync } from 'node:fs'
import { tmpdir } from 'node:os'
import path from 'node:path'
import { runPipeline } from '../../../engine/run-pipeline.ts'
import { MemoryRunStore } from '../../../engine/adapters/memory-store.ts'
import { InlineExecutor } from '../../../engine/adapters/inline-executor.ts'
import { CachingExecutor } from '../../../engine/cache/caching-executor.ts'
import { NodeCache } from '../../../engine/cache/node-cache.ts'
import { pipeline } from '../../helpers.ts'

describe('CachingExecutor', () => {
  it('renews its claim on a key while it computes it, and stops once the result is stored', async () => {
    const dir = mkdtempSync(path.join(tmpdir(), 'weft-caching-'))
    const cache = NodeCache.open(path.join(dir, 'cache'), 1e9)
    const renewed: number[] = []
    const renew = cache.renew.bind(cache)
    cache.renew = (key, now) => {
      renewed.push(Date.now())
      return renew(key, now)
    }
    const executor = new CachingExecutor(new InlineExecutor(), cache, { providers: 'offline', renewMs: 20 })
    const p = await pipeline('pipeline: slow_cached\nplugins: [$WORK]\nnodes:\n  a: { type: work, ms: 200, value: 1, cache: true }\n')
    const record = await runPipeline({ pipeline: p, inputs: {}, config: {}, executor, store: new MemoryRunStore(), workDir: path.join(dir, 'runs'), cache: { deterministic: true } })
    assert.equal(record.status, 'completed')
    assert.equal(record.nodes.a!.cache?.hit, false, 'computed, and stored')
    assert.ok(renewed.length >= 3, `renewed ${renewed.length} times over a 200 ms computation`)
    const after = renewed.length
    await new Promise((resolve) => setTimeout(resolve, 100))
    assert.equal(renewed.length, after, 'no renewal once it ended')
    await executor.close()
    cache.close()
  })
})
