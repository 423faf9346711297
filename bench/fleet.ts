// Fleet figures on a fresh Postgres database: overhead per node through the queue (a chain of no-op nodes, one
// worker), and scaling (a wide DAG of sleeping nodes, worker concurrency 10, with 1, 2 and 4 worker processes).
// Workers are `weft worker` processes of the built CLI. Prints figures; asserts nothing. After `npm run build`:
//   DATABASE_URL=postgres://postgres@127.0.0.1:5432/test node dist/bench/fleet.js [--chain 200] [--wide 400] [--sleep-ms 100] [--workers 1,2,4] [--verbose]
import { spawn, spawnSync, type ChildProcess } from 'node:child_process'
import { randomBytes } from 'node:crypto'
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs'
import os, { tmpdir } from 'node:os'
import path from 'node:path'
import { parseArgs } from 'node:util'
import postgres from 'postgres'
import { openRunStore } from '../engine/adapters/open-store.ts'
import type { RunStore } from '../engine/ports.ts'

const root = path.resolve(import.meta.dirname, '..', '..')
const weft = path.join(root, 'dist', 'cli', 'weft.js')
const plugin = path.join(root, 'bench', 'nodes', 'work.mjs')
const { values } = parseArgs({
  options: {
    chain: { type: 'string', default: '200' },
    wide: { type: 'string', default: '400' },
    'sleep-ms': { type: 'string', default: '100' },
    workers: { type: 'string', default: '1,2,4' },
    concurrency: { type: 'string', default: '10' },
    /** Passes on what the workers print besides their first line. */
    verbose: { type: 'boolean', default: false },
  },
})
const url = process.env.DATABASE_URL
if (!url) throw new Error('set DATABASE_URL')
const dir = mkdtempSync(path.join(tmpdir(), 'weft-bench-fleet-'))

async function freshDatabase(): Promise<{ url: string; drop: () => Promise<void> }> {
  const admin = postgres(url!, { max: 1, onnotice: () => {} })
  const name = `weft_bench_${randomBytes(4).toString('hex')}`
  await admin.unsafe(`create database ${name}`)
  const u = new URL(url!)
  u.pathname = `/${name}`
  return {
    url: u.href,
    drop: async () => {
      await admin.unsafe(`drop database if exists ${name} with (force)`)
      await admin.end()
    },
  }
}

function write(name: string, nodes: string[]): string {
  const file = path.join(dir, `${name}.yaml`)
  writeFileSync(file, `pipeline: ${name}\nplugins: [${plugin}]\nnodes:\n${nodes.join('\n')}\n`)
  return file
}

/** The machine's CPU time so far, busy and in all (Linux's /proc/stat, every core); undefined elsewhere. */
function cpuTimes(): { busy: number; total: number } | undefined {
  try {
    const [, ...fields] = readFileSync('/proc/stat', 'utf8').split('\n')[0]!.trim().split(/\s+/)
    const n = fields.map(Number)
    const total = n.reduce((a, b) => a + b, 0)
    // idle and iowait
    return { busy: total - n[3]! - (n[4] ?? 0), total }
  } catch {
    return undefined
  }
}

/** `ms`: from the start of `weft run --detach` until the run is seen ended; `runMs`: the run's own record, started_at to finished_at. */
async function measure(file: string, workers: number, concurrency: number): Promise<{ ms: number; runMs: number; submitMs: number; busy?: number }> {
  const db = await freshDatabase()
  const env = { ...process.env, DATABASE_URL: db.url, WEFT_DATA_DIR: path.join(dir, 'data'), WEFT_PLUGIN_DIRS: path.dirname(plugin) }
  const store: RunStore = await openRunStore({ env })
  const procs: ChildProcess[] = []
  try {
    for (let i = 0; i < workers; i++) {
      const p = spawn(process.execPath, [weft, 'worker', '--concurrency', String(concurrency), '--executor', 'inline'], { env, stdio: ['ignore', 'ignore', 'pipe'] })
      await new Promise<void>((resolve) => p.stderr!.once('data', (d: Buffer) => d.toString().includes('ready') && resolve()))
      if (values.verbose) p.stderr!.on('data', (d: Buffer) => process.stderr.write(`worker ${p.pid}: ${d}`))
      procs.push(p)
    }
    const t0 = performance.now()
    const cpu0 = cpuTimes()
    const r = spawnSync(process.execPath, [weft, 'run', file, '--detach'], { env, encoding: 'utf8' })
    if (r.status !== 0) throw new Error(r.stderr)
    const submitMs = performance.now() - t0
    const id = r.stdout.trim()
    // polled by its status alone (reading the whole run every 20 ms would load the machine it measures), then read once
    const status = postgres(db.url, { max: 1, onnotice: () => {} })
    try {
      for (;;) {
        const [row] = await status`select status from generations where id = ${id}`
        if (['completed', 'failed', 'cancelled'].includes(row?.status)) break
        await new Promise((res) => setTimeout(res, 20))
      }
    } finally {
      await status.end()
    }
    const ms = performance.now() - t0
    const cpu1 = cpuTimes()
    const run = (await store.getRun(id))!
    if (run.status !== 'completed') throw new Error(`${id} ${run.status}: ${JSON.stringify(run.error)}`)
    const runMs = Date.parse(run.finished_at!) - Date.parse(run.started_at!)
    return { ms, runMs, submitMs, ...(cpu0 && cpu1 ? { busy: (cpu1.busy - cpu0.busy) / (cpu1.total - cpu0.total) } : {}) }
  } finally {
    for (const p of procs) p.kill('SIGTERM')
    await Promise.all(procs.map((p) => new Promise((res) => (p.exitCode !== null ? res(null) : p.once('exit', res)))))
    await store.close()
    await db.drop()
  }
}

const chainN = Number(values.chain)
const chain = write(
  'chain',
  Array.from({ length: chainN }, (_, i) => `  n${i}: { type: bench_noop${i ? `, needs: [n${i - 1}]` : ''} }`),
)
const c = await measure(chain, 1, Number(values.concurrency))
const busy = (m: { busy?: number }) => (m.busy === undefined ? '–' : `${Math.round(m.busy * 100)} %`)
console.log(
  `chain of ${chainN} no-op nodes, 1 worker: ${Math.round(c.runMs)} ms, ${(c.runMs / chainN).toFixed(2)} ms per node (the run's started_at to finished_at); ` +
    `${Math.round(c.ms)} ms from \`weft run --detach\` (${Math.round(c.submitMs)} ms of it) until seen ended; machine CPU busy ${busy(c)}`,
)

const wideN = Number(values.wide)
const sleepMs = Number(values['sleep-ms'])
const conc = Number(values.concurrency)
const wide = write(
  'wide',
  Array.from({ length: wideN }, (_, i) => `  n${i}: { type: bench_sleep, ms: ${sleepMs} }`),
)
console.log(`\nwide DAG of ${wideN} nodes sleeping ${sleepMs} ms, worker concurrency ${conc}:`)
console.log(`(machine CPU busy: the share of all ${os.cpus().length} cores' time spent working during the run, by every process)`)
console.log("(wall: the run's started_at to finished_at; seen: from the start of `weft run --detach`, a CLI process of its own, until seen ended)")
console.log('| workers | wall (ms) | ideal (ms) | efficiency | seen (ms) | machine CPU busy |')
console.log('|---|---|---|---|---|---|')
for (const w of values.workers.split(',').map(Number)) {
  const m = await measure(wide, w, conc)
  const ideal = (wideN * sleepMs) / (w * conc)
  console.log(`| ${w} | ${Math.round(m.runMs)} | ${Math.round(ideal)} | ${(ideal / m.runMs).toFixed(2)} | ${Math.round(m.ms)} | ${busy(m)} |`)
}
