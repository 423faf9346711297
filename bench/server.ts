// Load figures for `weft serve` on loopback, with the embedded defaults (SQLite, offline model, local media):
// 1. the sustained rate of accepted POST /api/v2/generate (interactive generations of the default pipeline,
//    which run their story loop and pause at the story gate) at which p99 latency stays ≤ 100 ms with 0 errors;
// 2. the server's memory with N generations paused at approval gates;
// 3. the delay from a node's completion (its event's timestamp) to the WebSocket frame reaching a client.
// Bounded in count and time; prints figures, asserts nothing. After `npm run build`:
//   node dist/bench/server.js [--warmup 10] [--rates 2,5,10,25] [--seconds 10] [--paused 1000] [--database-url postgres://…]
//     [--workers 0 --worker-processes 2] [--gated] [--node-options="--max-old-space-size=512 --max-semi-space-size=2"] [--settle 60]
// (the store is SQLite in a fresh folder unless a database URL is given: use an empty database, since the server
// resumes every unfinished run it finds there). With a database URL the server hands generations to the fleet:
// `--workers` is its own worker loops, `--worker-processes` starts that many `weft worker` processes once the rates
// are measured (their memory is reported with the server's). `--gated` serves a pipeline of one no-op node and a
// gate instead of the default pipeline, so that thousands of generations reach their gates quickly.
import { spawn, type ChildProcess } from 'node:child_process'
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import path from 'node:path'
import { parseArgs } from 'node:util'
import autocannon from 'autocannon'
import Database from 'better-sqlite3'
import postgres from 'postgres'
import { defaultDbFile } from '../engine/adapters/open-store.ts'
import WebSocket from 'ws'
import { root, startServe } from './serve.ts'

const { values } = parseArgs({
  options: {
    warmup: { type: 'string', default: '10' },
    rates: { type: 'string', default: '2,5,10,25' },
    seconds: { type: 'string', default: '10' },
    connections: { type: 'string', default: '10' },
    paused: { type: 'string', default: '1000' },
    events: { type: 'string', default: '40' },
    'database-url': { type: 'string', default: '' },
    workers: { type: 'string' },
    'worker-processes': { type: 'string', default: '0' },
    /** NODE_OPTIONS for the server and worker processes (V8's heap sizing, e.g. "--max-old-space-size=512 --max-semi-space-size=2"). */
    'node-options': { type: 'string', default: '' },
    gated: { type: 'boolean', default: false },
    /** Seconds to go on reading the processes' memory once the generations wait at their gates (every 15 s). */
    settle: { type: 'string', default: '0' },
  },
})
const body = JSON.stringify({ prompt: 'Meet Fizz, the sparkling lemon soda for summer afternoons. Grab one today!', interactive: true, ...(values.gated ? { pipeline: 'gated' } : {}) })
const dataDir = mkdtempSync(path.join(tmpdir(), 'weft-bench-serve-'))
const pipelinesDir = values.gated ? mkdtempSync(path.join(tmpdir(), 'weft-bench-pipelines-')) : path.join(root, 'pipelines')
if (values.gated) {
  writeFileSync(
    path.join(pipelinesDir, 'gated.yaml'),
    `pipeline: gated
plugins: [${path.join(root, 'bench', 'nodes', 'work.mjs')}]
inputs:
  prompt: { type: string, required: true }
nodes:
  draft: { type: bench_noop }
  review: { type: approval, gate: draft }
`,
  )
}
const serveEnv = {
  ...process.env,
  ...(values['node-options'] ? { NODE_OPTIONS: values['node-options'] } : {}),
  WEFT_DATA_DIR: dataDir,
  WEFT_RATE_LIMIT: 'off',
  DATABASE_URL: values['database-url']!,
  WEFT_PLUGIN_DIRS: path.join(root, 'bench', 'nodes'),
}

const serve = () => startServe(['--pipelines', pipelinesDir, ...(values.workers !== undefined ? ['--workers', values.workers] : [])], serveEnv)

const rssMb = (pid: number) => Number(/VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))![1]) / 1024

/**
 * Generations in `status`, counted by the database itself: listing them through the API would have the server read
 * every record on each poll and fill the memory this bench then measures.
 */
async function count(...statuses: string[]): Promise<number> {
  const marks = statuses.map(() => '?').join(', ')
  if (values['database-url']) {
    const sql = postgres(values['database-url'], { max: 1, onnotice: () => {} })
    try {
      const [row] = await sql`select count(*)::int as n from generations where status in ${sql(statuses)}`
      return row!.n as number
    } finally {
      await sql.end()
    }
  }
  const db = new Database(defaultDbFile(serveEnv), { readonly: true })
  try {
    return (db.prepare(`select count(*) as n from generations where status in (${marks})`).get(...statuses) as { n: number }).n
  } finally {
    db.close()
  }
}

const { url, child } = await serve()
const pid = child.pid!
console.log(`weft serve on ${url} (pid ${pid}), store ${values['database-url'] ? 'Postgres' : 'SQLite'}, RSS at start ${rssMb(pid).toFixed(0)} MB`)

// 1. accepted POST /generate at fixed rates
console.log('\nPOST /api/v2/generate, interactive default pipeline (each run pauses at its story gate)')
// warm-up, not reported: worker threads start, code gets compiled, the store's connections open
if (Number(values.warmup) > 0) {
  const w = await autocannon({ url: `${url}/api/v2/generate`, method: 'POST', headers: { 'content-type': 'application/json' }, body, connections: 10, overallRate: 5, duration: Number(values.warmup) })
  // and its generations settled at their gates, so their work does not spill into the first measured rate
  const t = Date.now()
  while (values.workers !== '0' && (await count('awaiting_approval')) < w['2xx'] && Date.now() - t < 60_000) await new Promise((r) => setTimeout(r, 500))
}
console.log(`connections: ${values.connections}`)
console.log('rate asked (req/s) | sent | 202 | accepted (req/s) | errors + non-2xx | p50 ms | p99 ms | max ms')
// judged by what was accepted, not by what was asked: past its capacity the server answers fewer than asked
let best = 0
for (const rate of values.rates!.split(',').map(Number)) {
  const r = await autocannon({
    url: `${url}/api/v2/generate`,
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body,
    connections: Number(values.connections),
    overallRate: rate,
    duration: Number(values.seconds),
  })
  const ok = r['2xx']
  const bad = r.errors + r.timeouts + r.non2xx
  const accepted = ok / Number(values.seconds)
  console.log(`${rate} | ${r.requests.sent} | ${ok} | ${accepted.toFixed(0)} | ${bad} | ${r.latency.p50} | ${r.latency.p99} | ${r.latency.max}`)
  if (bad === 0 && r.latency.p99 <= 100) best = Math.max(best, accepted)
}
console.log(`highest accepted rate with p99 ≤ 100 ms and 0 errors: ${best ? best.toFixed(0) : 'none'} req/s`)

// fleet workers in processes of their own, once the rates are measured (an API-only server does no node work)
const workerProcs: ChildProcess[] = []
for (let i = 0; i < Number(values['worker-processes']); i++) {
  const w = spawn(process.execPath, [path.join(root, 'dist', 'cli', 'weft.js'), 'worker', '--concurrency', '10'], { cwd: root, env: serveEnv, stdio: ['ignore', 'ignore', 'inherit'] })
  workerProcs.push(w)
}

// 2. memory with N generations paused at gates
const target = Number(values.paused)
// topped up counting the generations not yet at their gate too (the workers may still be stepping the rates' posts)
let paused = await count('pending', 'running', 'awaiting_approval')
for (let i = 0; paused + i < target; i++) {
  await fetch(`${url}/api/v2/generate`, { method: 'POST', headers: { 'content-type': 'application/json' }, body })
}
const t0 = Date.now()
while ((paused = await count('awaiting_approval')) < target && Date.now() - t0 < 300_000) await new Promise((r) => setTimeout(r, 2000))
const memory = () => `server RSS ${rssMb(pid).toFixed(0)} MB${workerProcs.length ? `; workers ${workerProcs.map((w) => `${rssMb(w.pid!).toFixed(0)} MB`).join(', ')}` : ''}`
console.log(`\n${paused} generations paused at approval gates: ${memory()}`)
// and while they go on waiting, with nothing else to do: what the processes keep once their collectors have caught up
for (let s = 15; s <= Number(values.settle); s += 15) {
  await new Promise((r) => setTimeout(r, 15_000))
  console.log(`  ${s} s later: ${memory()}`)
}

// 3. node completion → WebSocket frame
const first = (await (await fetch(`${url}/api/v2/generate`, { method: 'POST', headers: { 'content-type': 'application/json' }, body })).json()) as {
  session_id: string
  websocket_url: string
  ws_token: string
}
// live events only: the history replayed on connect would count as late
const ws = new WebSocket(`${first.websocket_url}?replay=none`, ['weft.v1', `weft.token.${first.ws_token}`])
await new Promise((resolve) => ws.once('open', resolve))
const delays: number[] = []
ws.on('message', (data) => {
  const f = JSON.parse(String(data)) as { type: string; timestamp?: string }
  if (f.type === 'node.completed' && f.timestamp) delays.push(Date.now() - Date.parse(f.timestamp))
})
for (let i = 0; i < Number(values.events); i++) {
  await fetch(`${url}/api/v2/generate`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ ...JSON.parse(body), session_id: first.session_id }) })
  await new Promise((r) => setTimeout(r, 100))
}
await new Promise((r) => setTimeout(r, 5000))
ws.close()
delays.sort((a, b) => a - b)
const pct = (p: number) => delays[Math.min(delays.length - 1, Math.floor((p / 100) * delays.length))]
console.log(`\nnode.completed → WebSocket frame, ${delays.length} events: p50 ${pct(50)} ms, p99 ${pct(99)} ms, max ${delays.at(-1)} ms`)
child.kill('SIGTERM')
for (const w of workerProcs) w.kill('SIGTERM')
