// Figures for the embedded store as a user meets it: the first use of a new data directory (in process, and as a
// whole `weft runs`), `weft show <id>` and `weft runs`, and the peak memory of a small `weft run`; with
// --database-url, the same commands on Postgres beside them. Prints figures; asserts nothing. After `npm run build`:
//   node dist/bench/store.js [--repeat 10] [--database-url postgres://…]
import { spawnSync } from 'node:child_process'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import path from 'node:path'
import { parseArgs } from 'node:util'
import { openRunStore } from '../engine/adapters/open-store.ts'

const root = path.resolve(import.meta.dirname, '..', '..')
const weft = path.join(root, 'dist', 'cli', 'weft.js')
const { values } = parseArgs({ options: { repeat: { type: 'string', default: '10' }, 'database-url': { type: 'string', default: '' } } })
const repeat = Number(values.repeat)
const pipeline = path.join(root, 'pipelines', 'examples', 'headlines.yaml')

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!
const round = (x: number) => Math.round(x * 10) / 10

/** Runs the built CLI under /usr/bin/time: wall time (ms) and the peak RSS of the process (MB). */
function cli(args: string[], env: Record<string, string | undefined>): { ms: number; rssMb: number; stdout: string } {
  const t = performance.now()
  const r = spawnSync('/usr/bin/time', ['-f', '%M', process.execPath, weft, ...args], { env, encoding: 'utf8' })
  const ms = performance.now() - t
  if (r.status !== 0) throw new Error(`weft ${args.join(' ')} exited ${r.status}: ${r.stderr}`)
  const rssKb = Number(r.stderr.trim().split('\n').at(-1))
  return { ms, rssMb: rssKb / 1024, stdout: r.stdout }
}

async function measure(kind: 'sqlite' | 'postgres'): Promise<Record<string, unknown>> {
  const dirs: string[] = []
  const fresh = () => {
    const d = mkdtempSync(path.join(tmpdir(), 'weft-bench-store-'))
    dirs.push(d)
    return d
  }
  const envFor = (data: string) => ({ ...process.env, WEFT_DATA_DIR: data, DATABASE_URL: kind === 'postgres' ? values['database-url'] : '' })
  try {
    // in process: open (creating and migrating) a store on a new data directory
    const openMs: number[] = []
    if (kind === 'sqlite') {
      for (let i = 0; i < repeat; i++) {
        const env = envFor(fresh())
        const t = performance.now()
        const store = await openRunStore({ env })
        openMs.push(performance.now() - t)
        await store.close()
      }
    }
    // as a user: `weft runs` in a new data directory (process start, store creation, one query)
    const firstRuns = Array.from({ length: Math.min(repeat, 5) }, () => cli(['runs'], envFor(fresh())).ms)
    const data = fresh()
    const env = envFor(data)
    const runs = Array.from({ length: 3 }, () => cli(['run', pipeline, '--input', 'prompt=Fizz, the sparkling lemon soda', '--json'], env))
    const id = (JSON.parse(runs[0]!.stdout) as { id: string }).id
    const show = Array.from({ length: repeat }, () => cli(['show', id], env).ms)
    const list = Array.from({ length: repeat }, () => cli(['runs'], env).ms)
    return {
      store: kind,
      ...(kind === 'sqlite' ? { first_open_ms_median: round(median(openMs)), first_open_ms_max: round(Math.max(...openMs)) } : {}),
      first_weft_runs_ms_median: round(median(firstRuns)),
      weft_show_ms_median: round(median(show)),
      weft_show_ms_max: round(Math.max(...show)),
      weft_runs_ms_median: round(median(list)),
      small_run_peak_rss_mb: runs.map((r) => round(r.rssMb)),
      small_run_ms: runs.map((r) => Math.round(r.ms)),
    }
  } finally {
    for (const d of dirs) rmSync(d, { recursive: true, force: true })
  }
}

const results = [await measure('sqlite')]
if (values['database-url']) results.push(await measure('postgres'))
for (const r of results) console.log(JSON.stringify(r))
