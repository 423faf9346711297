// The default video-ad pipeline end to end on the embedded defaults: wall time, time per stage, and peak
// memory of the whole process tree (Node plus its ffmpeg children), sampled from /proc. Prints figures;
// asserts nothing. Run after `npm run build`: node dist/bench/default-pipeline.js [--runs 3] [--executor workers|inline]
import { spawn } from 'node:child_process'
import { mkdtempSync, readFileSync, readdirSync } from 'node:fs'
import { tmpdir } from 'node:os'
import path from 'node:path'
import { parseArgs } from 'node:util'
import type { RunRecord } from '../engine/ports.ts'

const root = path.resolve(import.meta.dirname, '..', '..')
const { values } = parseArgs({
  options: {
    runs: { type: 'string', default: '3' },
    executor: { type: 'string', default: 'workers' },
    prompt: { type: 'string', default: 'Meet Fizz, the sparkling lemon soda for summer afternoons. Tastes like sunshine. Grab one today!' },
  },
})
const cli = path.join(root, 'dist', 'cli', 'weft.js')
const PAGE = 4096

/** Resident memory of a process and all its descendants, in bytes (0 once it has gone). */
function treeRss(pid: number): number {
  const children = new Map<number, number[]>()
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue
    try {
      const stat = readFileSync(`/proc/${entry}/stat`, 'utf8')
      const ppid = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1])
      const list = children.get(ppid) ?? []
      list.push(Number(entry))
      children.set(ppid, list)
    } catch {
      // gone between listing and reading
    }
  }
  let total = 0
  const stack = [pid]
  while (stack.length) {
    const p = stack.pop()!
    try {
      total += Number(readFileSync(`/proc/${p}/statm`, 'utf8').split(' ')[1]) * PAGE
    } catch {
      continue
    }
    stack.push(...(children.get(p) ?? []))
  }
  return total
}

interface Figures {
  wallMs: number
  runMs: number
  peakTreeMb: number
  stages: Record<string, number>
  status: string
}

async function once(): Promise<Figures> {
  const dataDir = mkdtempSync(path.join(tmpdir(), 'weft-bench-default-'))
  const t0 = performance.now()
  const child = spawn(process.execPath, [cli, 'run', 'pipelines/default.yaml', '--json', '--store', 'memory', '--executor', values.executor!, '--input', `prompt=${values.prompt}`], {
    cwd: root,
    env: { ...process.env, WEFT_DATA_DIR: dataDir },
    stdio: ['ignore', 'pipe', 'ignore'],
  })
  let out = ''
  child.stdout.on('data', (d: Buffer) => (out += d))
  let peak = 0
  const sampler = setInterval(() => (peak = Math.max(peak, treeRss(child.pid!))), 50)
  await new Promise((resolve) => child.on('exit', resolve))
  clearInterval(sampler)
  const wallMs = performance.now() - t0
  const record = JSON.parse(out) as RunRecord
  const stages: Record<string, [number, number]> = {}
  for (const n of Object.values(record.nodes)) {
    if (!n.stage || !n.started_at || !n.finished_at) continue
    const [s, e] = [Date.parse(n.started_at), Date.parse(n.finished_at)]
    const cur = stages[n.stage]
    stages[n.stage] = cur ? [Math.min(cur[0], s), Math.max(cur[1], e)] : [s, e]
  }
  return {
    wallMs,
    runMs: Date.parse(record.finished_at!) - Date.parse(record.started_at!),
    peakTreeMb: peak / 2 ** 20,
    stages: Object.fromEntries(Object.entries(stages).map(([k, [s, e]]) => [k, e - s])),
    status: record.status,
  }
}

const runs: Figures[] = []
for (let i = 0; i < Number(values.runs); i++) runs.push(await once())
const fmt = (ms: number) => `${(ms / 1000).toFixed(1)} s`
console.log(`default pipeline, offline model + local ffmpeg, executor ${values.executor}, ${runs.length} runs`)
console.log('run | status | wall (process) | run (record) | story | references | scenes | videos | peak RSS, process tree')
runs.forEach(
  (r, i) =>
    void console.log(
      `${i + 1} | ${r.status} | ${fmt(r.wallMs)} | ${fmt(r.runMs)} | ${['story', 'references', 'scenes', 'videos'].map((s) => (r.stages[s] === undefined ? '-' : fmt(r.stages[s]!))).join(' | ')} | ${r.peakTreeMb.toFixed(0)} MB`,
    ),
)
const median = (xs: number[]) => xs.slice().sort((a, b) => a - b)[Math.floor(xs.length / 2)]!
console.log(`median wall ${fmt(median(runs.map((r) => r.wallMs)))}, median peak ${median(runs.map((r) => r.peakTreeMb)).toFixed(0)} MB`)
