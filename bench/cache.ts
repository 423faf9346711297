// The node cache on the default pipeline with the embedded defaults: the first run, an identical re-run, a re-run
// after editing only the scene prompt, a run with --no-cache; the cost of one cache hit; and the disk used by the
// run files and the cache after 10 similar runs, against the same files without sharing. Prints figures; asserts
// nothing. Run after `npm run build`: node dist/bench/cache.js [--similar 10]
import { spawnSync } from 'node:child_process'
import { cpSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import path from 'node:path'
import { parseArgs } from 'node:util'
import type { NodeTask, RunRecord } from '../engine/ports.ts'
import { CachingExecutor } from '../engine/cache/caching-executor.ts'
import { NodeCache } from '../engine/cache/node-cache.ts'

const root = path.resolve(import.meta.dirname, '..', '..')
const { values } = parseArgs({
  options: { similar: { type: 'string', default: '10' }, prompt: { type: 'string', default: 'Meet Fizz, the sparkling lemon soda for summer afternoons. Tastes like sunshine. Grab one today!' } },
})
const cli = path.join(root, 'dist', 'cli', 'weft.js')

const work = mkdtempSync(path.join(tmpdir(), 'weft-bench-cache-'))
cpSync(path.join(root, 'pipelines', 'default.yaml'), path.join(work, 'default.yaml'))
cpSync(path.join(root, 'prompts'), path.join(work, 'prompts'), { recursive: true })
const env = { ...process.env, WEFT_DATA_DIR: path.join(work, '.weft'), DATABASE_URL: '' }

function run(...args: string[]): { ms: number; record: RunRecord } {
  return weft('run', path.join(work, 'default.yaml'), '--json', '--input', `prompt=${values.prompt}`, ...args)
}

function weft(...args: string[]): { ms: number; record: RunRecord } {
  const t0 = performance.now()
  const r = spawnSync(process.execPath, [cli, ...args], { cwd: work, env, encoding: 'utf8', maxBuffer: 64 << 20 })
  const ms = performance.now() - t0
  if (r.status !== 0) throw new Error(`weft run exited ${r.status}: ${r.stderr}`)
  return { ms, record: JSON.parse(r.stdout) as RunRecord }
}

/** Worker nodes executed (fan-out items are not listed: their records are inside the fan-out's output). */
function executed(r: RunRecord): { nodes: string[]; hits: number } {
  const nodes = Object.values(r.nodes)
    .filter((n) => n.status === 'succeeded' && !['approval', 'fan_out'].includes(n.type) && !n.cache?.hit)
    .map((n) => n.id)
  return { nodes, hits: Object.values(r.nodes).filter((n) => n.cache?.hit).length }
}

const line = (label: string, ms: number, first: number, r: RunRecord) => {
  const e = executed(r)
  console.log(
    `${label.padEnd(34)} ${(ms / 1000).toFixed(1).padStart(6)} s  ${((100 * ms) / first).toFixed(0).padStart(4)} % of the first   executed: ${e.nodes.join(', ') || 'none'} (${e.hits} from the cache)`,
  )
}

console.log(`node ${process.version}, ${work}`)
const first = run()
line('first run (empty cache)', first.ms, first.ms, first.record)
const same = run()
line('identical re-run', same.ms, first.ms, same.record)
const promptFile = path.join(work, 'prompts', 'scene_writer.yaml')
writeFileSync(promptFile, readFileSync(promptFile, 'utf8').replace('template: |', 'template: |\n  Keep every scene concrete: one place, one action, one feeling.'))
const edited = run()
line('after editing the scene prompt', edited.ms, first.ms, edited.record)
// the offline model writes by the prompt's task and variables, not its wording: the edited prompt gave the same
// scenes, so what follows came from the cache. A real model would write other scenes: the scene stage and every
// clip after it execute again, as `rerun --from scenes` makes them do
const fromScenes = weft('rerun', first.record.id, '--from', 'scenes', '--json')
line('rerun --from scenes', fromScenes.ms, first.ms, fromScenes.record)
const noCache = run('--no-cache')
line('--no-cache', noCache.ms, first.ms, noCache.record)

// ---- one hit, in process: key (config with two input files, a prompt), index read, files linked into the run ----
{
  const dir = mkdtempSync(path.join(tmpdir(), 'weft-bench-hit-'))
  const cache = NodeCache.open(path.join(dir, 'cache'), 1e10)
  const runDir = path.join(dir, 'runs', 'r0')
  mkdirSync(runDir, { recursive: true })
  const ref = path.join(runDir, 'ref.png')
  writeFileSync(ref, Buffer.alloc(300_000, 7))
  const clip = path.join(runDir, 'clip.mp4')
  let inner = 0
  const executor = new CachingExecutor(
    {
      execute: async () => {
        inner++
        writeFileSync(clip, Buffer.alloc(1_000_000, 9))
        return { ok: true, output: { path: clip, kind: 'video' } }
      },
      close: async () => {},
    },
    cache,
    { providers: 'offline' },
  )
  const task = (runId: string): NodeTask => ({
    runId,
    nodeId: 'clip',
    type: 'render',
    module: 'bench:render',
    attempt: 1,
    run: { id: runId, interactive: false },
    idempotencyKey: 'k',
    cache: 'use',
    workDir: path.join(dir, 'runs', runId),
    prompts: [path.join(root, 'prompts')],
    config: { kind: 'video', prompt: 'A can of Fizz on a sunlit table', images: [ref], duration_s: 8, out: 'clip.mp4', caption: 'story_director' },
  })
  const signal = new AbortController().signal
  await executor.execute(task('r0'), { signal, onProgress: () => {} })
  const n = 200
  // the reference file lives in r0; each hit links the clip into a new run's folder
  const t0 = performance.now()
  for (let i = 1; i <= n; i++) await executor.execute(task(`r${i}`), { signal, onProgress: () => {} })
  const perHit = (performance.now() - t0) / n
  console.log(`one cache hit (key + lookup + link a 1 MB file): ${perHit.toFixed(2)} ms over ${n} hits; inner executions ${inner} (1 expected)`)
  cache.close()
}

// ---- disk: similar runs (the cohesion threshold tuned 10 times) share their files ----
const similar = Number(values.similar)
for (let i = 0; i < similar; i++) run('--set', `critic.cohesion_threshold=${70 + i}`)
const seen = new Map<string, number>()
let apparent = 0
const walk = (d: string, count: boolean) => {
  for (const e of readdirSync(d, { withFileTypes: true })) {
    const p = path.join(d, e.name)
    if (e.isDirectory()) walk(p, count)
    else if (e.isFile()) {
      const st = statSync(p)
      seen.set(`${st.dev}:${st.ino}`, st.size)
      if (count) apparent += st.size
    }
  }
}
walk(path.join(work, '.weft', 'runs'), true)
walk(path.join(work, '.weft', 'cache', 'blobs'), false)
const shared = [...seen.values()].reduce((a, b) => a + b, 0)
const runs = readdirSync(path.join(work, '.weft', 'runs')).length
const mb = (b: number) => `${(b / 1e6).toFixed(1)} MB`
console.log(
  `disk after ${runs} runs (${similar} similar + the 4 above): ${mb(shared)} with the cache's sharing (run files + cache blobs, each file counted once), ${mb(apparent)} as separate copies; ${(apparent / shared).toFixed(1)}× less`,
)
