// Scheduler benchmark: the peer harness's shapes and flags, run through weft's real scheduler, piscina workers
// and the in-memory store. Prints one JSON line in the peers' format. Not a test: it asserts nothing.
//   npm run --silent bench:scheduler -- --shape wide --size 1000 --work sleep [--concurrency 5]
import { parseArgs } from 'node:util'
import { performance } from 'node:perf_hooks'
import { mkdtempSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import path from 'node:path'
import { fileURLToPath } from 'node:url'
import { loadPipeline } from '../engine/dsl/load.ts'
import { runPipeline } from '../engine/run-pipeline.ts'
import { MemoryRunStore } from '../engine/adapters/memory-store.ts'
import { PiscinaExecutor } from '../engine/adapters/piscina-executor.ts'
import { InlineExecutor } from '../engine/adapters/inline-executor.ts'
import type { RunStore } from '../engine/ports.ts'

const { values: o } = parseArgs({
  options: {
    shape: { type: 'string', default: 'chain' },
    size: { type: 'string', default: '100' },
    work: { type: 'string', default: 'noop' },
    'sleep-ms': { type: 'string', default: '10' },
    runs: { type: 'string', default: '5' },
    warmup: { type: 'string', default: '1' },
    concurrency: { type: 'string', default: '0' },
    width: { type: 'string', default: '10' },
    depth: { type: 'string', default: '10' },
    mode: { type: 'string', default: 'static' },
    executor: { type: 'string', default: 'workers' },
    store: { type: 'string', default: 'memory' },
    'budget-ms': { type: 'string', default: '50000' },
  },
  strict: false,
})
const shape = String(o.shape)
const size = Number(o.size)
const work = String(o.work)
const sleepMs = Number(o['sleep-ms'])
const runs = Number(o.runs)
const warmup = Number(o.warmup)
const concurrency = Number(o.concurrency)
const width = Number(o.width)
const depth = Number(o.depth)
const budgetMs = Number(o['budget-ms'])

/** The bench's own folder in the sources (also when run from dist/): its node types live in `nodes/`. */
const here = path.dirname(fileURLToPath(import.meta.url)).replace(`${path.sep}dist${path.sep}bench`, `${path.sep}bench`)

/** The same shapes as the peer harness: node ids, their dependencies, and the critical path in work units. */
function describeShape(): { nodes: Array<{ id: string; deps: string[] }>; criticalPath: number } {
  const nodes: Array<{ id: string; deps: string[] }> = []
  if (shape === 'chain') {
    for (let i = 0; i < size; i++) nodes.push({ id: `n${i}`, deps: i ? [`n${i - 1}`] : [] })
    return { nodes, criticalPath: size }
  }
  if (shape === 'wide') {
    nodes.push({ id: 'src', deps: [] })
    for (let i = 0; i < size; i++) nodes.push({ id: `w${i}`, deps: ['src'] })
    nodes.push({ id: 'sink', deps: Array.from({ length: size }, (_, i) => `w${i}`) })
    const c = concurrency > 0 ? concurrency : size
    return { nodes, criticalPath: 2 + Math.ceil(size / c) }
  }
  if (shape === 'lattice') {
    for (let d = 0; d < depth; d++) for (let w = 0; w < width; w++) nodes.push({ id: `l${d}_${w}`, deps: d ? Array.from({ length: width }, (_, k) => `l${d - 1}_${k}`) : [] })
    const c = concurrency > 0 ? concurrency : width
    return { nodes, criticalPath: depth * Math.ceil(width / c) }
  }
  throw new Error(`unknown shape ${shape}`)
}

function pipelineYaml(nodes: Array<{ id: string; deps: string[] }>): string {
  // from dist/bench/ the plugin still lives in bench/nodes/ of the sources
  const lines = [`pipeline: bench-${shape}`, `plugins: [${JSON.stringify(path.join(here, 'nodes', 'work.mjs'))}]`]
  if (concurrency > 0) lines.push(`concurrency: ${concurrency}`)
  lines.push('nodes:')
  const type = work === 'sleep' ? 'bench_sleep' : 'bench_noop'
  for (const n of nodes) {
    const needs = n.deps.length ? `, needs: [${n.deps.join(', ')}]` : ''
    lines.push(`  ${n.id}: { type: ${type}, n_in: ${n.deps.length}${work === 'sleep' ? `, ms: ${sleepMs}` : ''}${needs} }`)
  }
  return lines.join('\n') + '\n'
}

const median = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b)
  const m = s.length >> 1
  return s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2
}

const rssStartMb = process.memoryUsage().rss / 1048576
const { nodes, criticalPath } = describeShape()
const ideal = work === 'sleep' ? criticalPath * sleepMs : 0
const tBuild = performance.now()
const dir = mkdtempSync(path.join(tmpdir(), 'weft-bench-'))
const file = path.join(dir, 'bench.yaml')
writeFileSync(file, pipelineYaml(nodes))
// the generated file lives in a temporary folder; its node type is the bench's own
const loaded = await loadPipeline(file, { pluginDirs: [path.join(here, 'nodes')] })
if (!loaded.pipeline) throw new Error(loaded.diagnostics.map((d) => d.message).join('\n'))
const pipeline = loaded.pipeline
const executor = o.executor === 'inline' ? new InlineExecutor() : new PiscinaExecutor()
// memory: a fresh store per run; sqlite / postgres: one durable store for all runs, opened (and migrated) here
const storeKind = String(o.store)
let durable: RunStore | undefined
// imported only when asked for, so the memory figures do not carry the database drivers
if (storeKind === 'sqlite') durable = await (await import('../engine/adapters/sqlite-store.ts')).openSqliteStore(path.join(dir, 'weft.db'))
else if (storeKind === 'postgres') durable = await (await import('../engine/adapters/postgres-store.ts')).openPostgresStore(process.env.DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/test')
const buildMs = performance.now() - tBuild

let executed: number | null = null
let error: string | null = null
const times: number[] = []
const once = async () => {
  const store = durable ?? new MemoryRunStore()
  const record = await runPipeline({ pipeline, inputs: {}, config: {}, executor, store, workDir: dir })
  if (record.status !== 'completed') throw new Error(`run ${record.status}: ${record.error?.message}`)
  return Object.values(record.nodes).filter((n) => n.status === 'succeeded' && n.attempts === 1).length
}
const tAll = performance.now()
try {
  for (let i = 0; i < warmup; i++) executed = await once()
  for (let i = 0; i < runs; i++) {
    const t0 = performance.now()
    executed = await once()
    times.push(performance.now() - t0)
    if (i >= 2 && performance.now() - tAll + median(times) > budgetMs) break
  }
} catch (e) {
  error = String((e as Error)?.message ?? e).slice(0, 300)
}
await executor.close()
await durable?.close()
const wall = times.length ? median(times) : null
process.stdout.write(
  JSON.stringify({
    peer: 'weft',
    shape,
    size: shape === 'lattice' ? `${width}x${depth}` : size,
    work,
    concurrency: concurrency || null,
    mode: String(o.mode),
    nodes: nodes.length,
    critical_path: criticalPath,
    ideal_ms: ideal,
    runs: times.length,
    wall_ms_median: wall && +wall.toFixed(3),
    wall_ms_min: times.length ? +Math.min(...times).toFixed(3) : null,
    wall_ms_max: times.length ? +Math.max(...times).toFixed(3) : null,
    per_node_overhead_us: wall != null ? +(((wall - ideal) / nodes.length) * 1000).toFixed(2) : null,
    efficiency: wall != null && ideal > 0 ? +(ideal / wall).toFixed(4) : null,
    overhead_per_cp_step_ms: wall != null ? +((wall - ideal) / criticalPath).toFixed(4) : null,
    build_ms: +buildMs.toFixed(3),
    rss_start_mb: +rssStartMb.toFixed(1),
    peak_rss_mb: +(process.resourceUsage().maxRSS / 1024).toFixed(1),
    executed,
    ok: !error && executed === nodes.length,
    error,
    node: process.version,
    executor: String(o.executor),
    store: storeKind,
  }) + '\n',
)
