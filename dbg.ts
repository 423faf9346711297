import { PiscinaExecutor } from './engine/adapters/piscina-executor.ts'
import { performance } from 'node:perf_hooks'
const ex = new PiscinaExecutor({ threads: 2 })
const mod = new URL('./bench/nodes/work.mjs', import.meta.url).href
const mk = (i: number, type: string) => ({ runId: 'r', nodeId: 'n' + i, type, module: mod, attempt: 1, config: { n_in: 1, ms: 10 }, run: { id: 'r', interactive: false }, idempotencyKey: 'k', workDir: '/tmp' })
const sig = new AbortController().signal
for (const type of ['bench_noop', 'bench_sleep']) {
  for (let r = 0; r < 5; r++) {
    const t0 = performance.now()
    await Promise.all(Array.from({ length: 1000 }, (_, i) => ex.execute(mk(i, type), { signal: sig, onProgress: () => {} })))
    const t1 = performance.now()
    let c = 0
    for (let i = 0; i < 200; i++) { await ex.execute(mk(i, type), { signal: sig, onProgress: () => {} }); c++ }
    console.log(type, 'wide1000', (t1 - t0).toFixed(1), 'ms; chain200', (performance.now() - t1).toFixed(1), 'ms')
  }
}
await ex.close()
