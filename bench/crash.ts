// Crash-safety benchmark: SIGKILLs `weft run` / `weft resume` at random instants, resumes each run until it
// completes, and counts (from a side file of node executions and from the store) whether a committed node ran again.
// Prints one JSON summary and a human line; asserts nothing.
//   node --import tsx bench/crash.ts [--kills 30] [--runs 6] [--store pglite|postgres] [--cli dist|tsx] [--ttl 300ms] [--seed N] [--verbose]
import { spawn } from 'node:child_process'
import { closeSync, existsSync, mkdtempSync, openSync, readSync, rmSync, watch, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import path from 'node:path'
import { performance } from 'node:perf_hooks'
import { setTimeout as sleep } from 'node:timers/promises'
import { fileURLToPath } from 'node:url'
import { parseArgs } from 'node:util'
import { parseDuration } from '../engine/duration.ts'
// seeded, so that a figure can be chased again (the kill instants still depend on the machine)
import { seededRandom } from '../engine/seeded.ts'

const { values: o } = parseArgs({
  options: {
    kills: { type: 'string', default: '30' },
    runs: { type: 'string', default: '6' },
    store: { type: 'string', default: 'pglite' },
    cli: { type: 'string', default: 'dist' },
    seed: { type: 'string' },
    ttl: { type: 'string', default: '300ms' },
    'process-timeout': { type: 'string', default: '60' },
    'max-minutes': { type: 'string', default: '15' },
    verbose: { type: 'boolean', default: false },
    keep: { type: 'boolean', default: false },
  },
})
const store = o.store === 'postgres' ? 'postgres' : 'pglite'
const targetKills = Number(o.kills)
const targetRuns = Number(o.runs)
const seed = o.seed === undefined ? Date.now() % 2 ** 31 : Number(o.seed)
const ttlMs = parseDuration(o.ttl) ?? 300
const processTimeoutMs = Number(o['process-timeout']) * 1000
const budgetMs = Number(o['max-minutes']) * 60_000
const databaseUrl = process.env.DATABASE_URL || 'postgres://postgres@127.0.0.1:5432/test'

/** The repository this script belongs to (the nearest folder with a package.json; also right from dist/bench). */
function repoRoot(): string {
  let dir = path.dirname(fileURLToPath(import.meta.url))
  while (!existsSync(path.join(dir, 'package.json'))) {
    const up = path.dirname(dir)
    if (up === dir) throw new Error('no package.json above bench/crash')
    dir = up
  }
  return dir
}
const root = repoRoot()
const weft = o.cli === 'tsx' ? ['--import', 'tsx', path.join(root, 'cli', 'weft.ts')] : [path.join(root, 'dist', 'cli', 'weft.js')]
if (o.cli !== 'tsx' && !existsSync(weft[0]!)) {
  process.stderr.write('dist/cli/weft.js is missing: run `npm run build` first, or pass --cli tsx\n')
  process.exit(2)
}

const work = mkdtempSync(path.join(tmpdir(), 'weft-crash-'))
const env: Record<string, string | undefined> = { ...process.env, WEFT_DATA_DIR: path.join(work, 'data'), WEFT_LEASE_TTL: `${ttlMs}ms` }
if (store === 'postgres') env.DATABASE_URL = databaseUrl
else delete env.DATABASE_URL

const rand = seededRandom(seed)

// the node type (bench/nodes/logged.mjs): `start` and `end` lines per execution in a side file
const PLUGIN = fileURLToPath(new URL('./nodes/logged.mjs', import.meta.url)).replace(`${path.sep}dist${path.sep}bench`, `${path.sep}bench`)

interface Graph {
  yaml: string
  ids: string[]
  /** The final output the run must produce (each node's value is the sum of its inputs' plus its position). */
  expected: number
}

const expr = (s: string) => '$' + `{{ ${s} }}`

/** chain of 6 → fan of 16 → join → chain of 4 → fan of 8 → join: 36 nodes of 20–79 ms each. */
function makeGraph(): Graph {
  const nodes: Array<{ id: string; deps: string[] }> = []
  const chain = (prefix: string, n: number, after?: string): string => {
    let prev = after
    for (let i = 1; i <= n; i++) {
      nodes.push({ id: `${prefix}${i}`, deps: prev ? [prev] : [] })
      prev = `${prefix}${i}`
    }
    return prev!
  }
  const fan = (prefix: string, n: number, after: string): string[] =>
    Array.from({ length: n }, (_, i) => (nodes.push({ id: `${prefix}${i + 1}`, deps: [after] }), `${prefix}${i + 1}`))
  const join = (id: string, deps: string[]): string => (nodes.push({ id, deps }), id)
  join('z', fan('q', 8, chain('d', 4, join('j', fan('p', 16, chain('c', 6))))))
  const value = new Map<string, number>()
  const lines = ['pipeline: crash', `plugins: [${JSON.stringify(PLUGIN)}]`, 'inputs:', '  log: { type: string, required: true }', 'nodes:']
  nodes.forEach(({ id, deps }, i) => {
    value.set(id, deps.reduce((sum, d) => sum + value.get(d)!, i + 1))
    const v = deps.length ? `'${expr([...deps.map((d) => `nodes.${d}.output.value`), String(i + 1)].join(' + '))}'` : String(i + 1)
    lines.push(`  ${id}: { type: logged, log: '${expr('inputs.log')}', ms: ${20 + Math.floor(rand() * 60)}, value: ${v} }`)
  })
  lines.push('outputs:', `  total: ${expr('nodes.z.output.value')}`)
  return { yaml: lines.join('\n') + '\n', ids: nodes.map((n) => n.id), expected: value.get('z')! }
}

/** The side file, read as it grows. */
class SideFile {
  readonly lines: string[] = []
  readonly #fd: number
  #offset = 0
  #partial = ''
  readonly #buf = Buffer.alloc(64 * 1024)

  constructor(readonly file: string) {
    writeFileSync(file, '', { flag: 'a' })
    this.#fd = openSync(file, 'r')
  }

  /** Appends the complete lines written since the last call to `lines` and returns them. */
  read(): string[] {
    for (let n; (n = readSync(this.#fd, this.#buf, 0, this.#buf.length, this.#offset)) > 0;) {
      this.#offset += n
      this.#partial += this.#buf.toString('utf8', 0, n)
    }
    const fresh = this.#partial.split('\n')
    this.#partial = fresh.pop()!
    this.lines.push(...fresh)
    return fresh
  }

  close(): void {
    closeSync(this.#fd)
  }
}

type Mode = 'node-start' | 'node-end' | 'random' | 'none'

interface Attempt {
  kind: 'run' | 'resume'
  mode: Mode
  /** Side-file lines before the process started, and when it was gone. */
  from: number
  to: number
  killed: boolean
  hung: boolean
  code: number | null
  runId: string | undefined
  /** It printed `run <id>`: the run was recorded (or claimed, for a resume) and its nodes could start. */
  started: boolean
  /** `node.completed` lines it printed: the CLI prints an event only once it is committed. */
  reported: string[]
  /** When each `node.completed` line reached this script (wall clock, ms). */
  reportedAt: Map<string, number>
  leased: boolean
  stderr: string
  leftover: boolean
}

const t0 = performance.now()
const elapsed = () => performance.now() - t0
let processes = 0
let showProcesses = 0
/** Spawn to `run <id>` of each process so far: store open, migrations, claim. */
const startups: number[] = []
const median = (xs: number[]) => [...xs].sort((x, y) => x - y)[Math.floor(xs.length / 2)]
const startupMs = () => median(startups) ?? 1500

/**
 * Starts one `weft run`/`weft resume` and kills it per `mode`: at the k-th `start` line (k random among the
 * nodes left, 0–25 ms later: inside a node), at the k-th `end` line (0–5 ms later: around the node's commit),
 * or at a random instant (a resume from its spawn, start-up included; a run from its id line), drawn over the
 * time the process is expected to take: start-up as measured so far plus 40 ms per node left.
 */
function attempt(kind: 'run' | 'resume', runId: string | undefined, file: string, side: SideFile, mode: Mode, remaining: number): Promise<Attempt> {
  side.read()
  const from = side.lines.length
  const args = kind === 'run' ? ['run', file, '--input', `log=${side.file}`] : ['resume', runId!]
  processes++
  const child = spawn(process.execPath, [...weft, ...args], { cwd: root, env, stdio: ['ignore', 'ignore', 'pipe'] })
  const a: Attempt = { kind, mode, from, to: from, killed: false, hung: false, code: null, runId, started: false, reported: [], leased: false, stderr: '', leftover: false, reportedAt: new Map() }
  const target = 1 + Math.floor(rand() * Math.max(1, remaining))
  let starts = 0
  let ends = 0
  let timer: NodeJS.Timeout | undefined
  const kill = () => {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL')
  }
  const arm = (ms: number) => (timer ??= setTimeout(kill, ms))
  const t = performance.now()
  const workMs = 40 * Math.max(1, remaining)
  if (mode === 'random' && kind === 'resume') arm(rand() * (startupMs() + workMs))
  const onGrow = () => {
    for (const line of side.read()) {
      if (mode === 'node-start' && line.startsWith('start ') && ++starts === target) arm(rand() * 25)
      if (mode === 'node-end' && line.startsWith('end ') && ++ends === target) arm(rand() * 5)
    }
  }
  const watcher = watch(side.file, onGrow)
  const poll = setInterval(onGrow, 20)
  const hang = setTimeout(() => {
    a.hung = true
    kill()
  }, processTimeoutMs)
  let pending = ''
  child.stderr.setEncoding('utf8').on('data', (chunk: string) => {
    a.stderr += chunk
    const lines = (pending + chunk).split('\n')
    pending = lines.pop()!
    for (const line of lines) {
      const id = /^run ([0-9a-f-]{36})$/.exec(line)?.[1]
      if (id) {
        a.runId ??= id
        a.started = true
        startups.push(performance.now() - t)
        if (mode === 'random' && kind === 'run') arm(rand() * workMs)
      }
      const done = /^\S+ node\.completed (\S+)/.exec(line)?.[1]
      if (done) {
        a.reported.push(done)
        a.reportedAt.set(done, performance.timeOrigin + performance.now())
      }
    }
  })
  return new Promise((resolve) => {
    child.on('close', (code, signal) => {
      clearTimeout(timer)
      clearTimeout(hang)
      clearInterval(poll)
      watcher.close()
      side.read()
      a.to = side.lines.length
      a.code = code
      a.killed = signal === 'SIGKILL' && !a.hung
      a.leased = a.stderr.includes('RUN_LEASED')
      try {
        process.kill(child.pid!, 0)
        a.leftover = true
      } catch {
        // gone, as it should be
      }
      resolve(a)
    })
  })
}

interface Shown {
  status: string
  outputs: { total?: unknown } | null
  nodes: Record<string, { status: string }>
  events: Array<{ seq: number; type: string; node?: string }>
}

/** `weft show <id> --json`: what the store holds, read by a fresh process. */
function show(id: string): Promise<Shown> {
  showProcesses++
  const child = spawn(process.execPath, [...weft, 'show', id, '--json'], { cwd: root, env, stdio: ['ignore', 'pipe', 'pipe'] })
  let out = ''
  let err = ''
  child.stdout.setEncoding('utf8').on('data', (c: string) => (out += c))
  child.stderr.setEncoding('utf8').on('data', (c: string) => (err += c))
  const hang = setTimeout(() => child.kill('SIGKILL'), processTimeoutMs)
  return new Promise((resolve, reject) => {
    child.on('close', (code, signal) => {
      clearTimeout(hang)
      if (code !== 0) return reject(new Error(`weft show exited ${code ?? signal}: ${err.trim().split('\n').slice(-6).join(' | ')}`))
      try {
        resolve(JSON.parse(out) as Shown)
      } catch (e) {
        reject(new Error(`weft show printed no JSON (${(e as Error).message}): ${err.trim().slice(-500)}`))
      }
    })
  })
}

const LANDINGS = ['start-up (store open, migrations, claim)', 'after claim, before the first node', 'during a node', "between a node's end and its commit", 'between nodes (all ended nodes committed)', 'after the run completed'] as const
type Landing = (typeof LANDINGS)[number]

interface Kill {
  run: number
  n: number
  kind: 'run' | 'resume'
  mode: Mode
  /** Side-file lines when the process was gone: lines from here on were written after the kill. */
  cut: number
  committed: Set<string>
  landed: Landing
  inFlight: string[]
  endedUncommitted: string[]
  /** Nodes the process had printed as completed that the store does not hold as succeeded. */
  lost: string[]
}

interface Exec {
  node: string
  start: number
  end?: number
}

function executions(lines: string[]): Exec[] {
  const out: Exec[] = []
  const byExec = new Map<string, Exec>()
  lines.forEach((line, i) => {
    const [phase, node, exec] = line.split(' ')
    if (phase === 'start') {
      const e: Exec = { node: node!, start: i }
      out.push(e)
      byExec.set(exec!, e)
    } else if (phase === 'end') byExec.get(exec!)!.end = i
  })
  return out
}

function where(a: Attempt, lines: string[], committed: Set<string>, status: string): Pick<Kill, 'landed' | 'inFlight' | 'endedUncommitted'> {
  const open = new Map<string, string>()
  const ended: string[] = []
  for (const line of lines.slice(a.from, a.to)) {
    const [phase, node, exec] = line.split(' ')
    if (phase === 'start') open.set(exec!, node!)
    else {
      open.delete(exec!)
      ended.push(node!)
    }
  }
  const inFlight = [...open.values()]
  const endedUncommitted = ended.filter((n) => !committed.has(n))
  const started = open.size + ended.length
  const landed: Landing = status === 'completed' ? 'after the run completed'
    : endedUncommitted.length ? "between a node's end and its commit"
    : inFlight.length ? 'during a node'
    : started === 0 ? (a.started ? 'after claim, before the first node' : 'start-up (store open, migrations, claim)')
    : 'between nodes (all ended nodes committed)'
  return { landed, inFlight, endedUncommitted }
}

interface RunReport {
  run: number
  id: string | undefined
  completed: boolean
  outputsOk: boolean
  kills: Kill[]
  committedRerun: Exec[]
  beforeCommit: Exec[]
  afterMidNodeKill: Exec[]
  unexplained: Exec[]
  duplicateCompletions: number
  seqGaps: number
  leaseRefusals: number
  leaseWaitMs: number
  hung: number
  leftover: number
  /** Kill attempts the process outran (it completed the run first). */
  missed: number
  /** Per node completed without a kill in between: its `end` line to its `node.completed` line (ms). */
  commitLagMs: number[]
  failures: string[]
}

/**
 * Re-executions, from the side file and the kills: an execution that starts after a kill that found its node
 * committed is the failure this benchmark looks for; otherwise a second execution is explained by the kill
 * before it, which fell during the earlier execution (no `end` line) or between its end and its commit.
 */
function analyse(lines: string[], kills: Kill[]): Pick<RunReport, 'committedRerun' | 'beforeCommit' | 'afterMidNodeKill' | 'unexplained'> {
  const execs = executions(lines)
  const committedRerun = execs.filter((e) => kills.some((k) => e.start >= k.cut && k.committed.has(e.node)))
  const beforeCommit: Exec[] = []
  const afterMidNodeKill: Exec[] = []
  const unexplained: Exec[] = []
  const byNode = new Map<string, Exec[]>()
  for (const e of execs) byNode.set(e.node, [...(byNode.get(e.node) ?? []), e])
  for (const list of byNode.values()) {
    for (let i = 1; i < list.length; i++) {
      const prev = list[i - 1]!
      const cur = list[i]!
      const kill = kills.find((k) => prev.start < k.cut && k.cut <= cur.start)
      if (!kill) unexplained.push(cur)
      else if (kill.committed.has(cur.node)) continue // counted in committedRerun
      else if (prev.end !== undefined) beforeCommit.push(cur)
      else afterMidNodeKill.push(cur)
    }
  }
  return { committedRerun, beforeCommit, afterMidNodeKill, unexplained }
}

const modes: Mode[] = ['node-start', 'node-end', 'random']
let modeTurn = Math.floor(rand() * modes.length)
const nextMode = (): Mode => modes[modeTurn++ % modes.length]!
let storeBroken = false
let killCount = 0
const log = (s: string) => o.verbose && process.stderr.write(s + '\n')

async function crashRun(r: number, quota: number): Promise<RunReport> {
  const graph = makeGraph()
  const file = path.join(work, `crash-${r}.yaml`)
  writeFileSync(file, graph.yaml)
  const side = new SideFile(path.join(work, `crash-${r}.log`))
  const rep: RunReport = { run: r, id: undefined, completed: false, outputsOk: false, kills: [], committedRerun: [], beforeCommit: [], afterMidNodeKill: [], unexplained: [], duplicateCompletions: 0, seqGaps: 0, leaseRefusals: 0, leaseWaitMs: 0, hung: 0, leftover: 0, missed: 0, commitLagMs: [], failures: [] }
  let committed = new Set<string>()
  let failures = 0
  while (elapsed() < budgetMs) {
    const kind = rep.id ? 'resume' : 'run'
    const mode = rep.kills.length < quota ? nextMode() : 'none'
    const a = await attempt(kind, rep.id, file, side, mode, graph.ids.length - committed.size)
    rep.id ??= a.runId
    for (const line of side.lines.slice(a.from, a.to)) {
      const [phase, node, , at] = line.split(' ')
      const seen = a.reportedAt.get(node!)
      if (phase === 'end' && seen !== undefined) rep.commitLagMs.push(seen - Number(at))
    }
    if (a.leftover) rep.leftover++
    if (!rep.id) {
      rep.failures.push(`weft run exited ${a.code} without a run id: ${a.stderr.trim().slice(-400)}`)
      break
    }
    if (a.leased) {
      // the killed owner's lease has not run out yet: wait it out, as an operator would
      rep.leaseRefusals++
      const wait = performance.now()
      await sleep(ttlMs / 2)
      rep.leaseWaitMs += performance.now() - wait
      continue
    }
    if (a.killed) {
      let shown: Shown
      try {
        shown = await show(rep.id)
      } catch (err) {
        rep.failures.push(`after kill #${killCount + 1} (${kind}, ${mode}): ${(err as Error).message}`)
        storeBroken = true
        break
      }
      committed = new Set(Object.entries(shown.nodes).filter(([, n]) => n.status === 'succeeded').map(([id]) => id))
      const k: Kill = { run: r, n: ++killCount, kind, mode, cut: a.to, committed, lost: a.reported.filter((n) => !committed.has(n)), ...where(a, side.lines, committed, shown.status) }
      rep.kills.push(k)
      log(`run ${r} kill ${k.n} (${kind}, ${mode}): ${k.landed}; in flight [${k.inFlight.join(' ')}], ended uncommitted [${k.endedUncommitted.join(' ')}]; committed ${committed.size}/${graph.ids.length}`)
      if (shown.status === 'completed') break
      continue
    }
    if (a.hung) rep.hung++
    if (a.code === 0) {
      if (mode !== 'none') rep.missed++
      break
    }
    rep.failures.push(`${kind} ${a.hung ? `hung (killed after ${processTimeoutMs / 1000} s)` : `exited ${a.code}`}: ${a.stderr.trim().split('\n').slice(-4).join(' | ')}`)
    if (++failures >= 3) break
  }
  side.read()
  side.close()
  if (storeBroken) return rep
  try {
    const final = await show(rep.id!)
    rep.completed = final.status === 'completed' && graph.ids.every((id) => final.nodes[id]?.status === 'succeeded')
    rep.outputsOk = final.outputs?.total === graph.expected
    const completions = new Map<string, number>()
    for (const e of final.events) if (e.type === 'node.completed') completions.set(e.node!, (completions.get(e.node!) ?? 0) + 1)
    rep.duplicateCompletions = [...completions.values()].reduce((s, c) => s + Math.max(0, c - 1), 0)
    rep.seqGaps = final.events.filter((e, i) => e.seq !== i + 1).length
  } catch (err) {
    rep.failures.push(`final show: ${(err as Error).message}`)
  }
  Object.assign(rep, analyse(side.lines, rep.kills))
  return rep
}

async function main(): Promise<void> {
  const create0 = performance.now()
  // the data directory (PGlite) or schema (Postgres) is created once, outside the runs
  await new Promise<void>((resolve) => spawn(process.execPath, [...weft, 'runs', '--limit', '1'], { cwd: root, env, stdio: 'ignore' }).on('close', () => resolve()))
  const createMs = performance.now() - create0
  const reports: RunReport[] = []
  for (let r = 1; !storeBroken && elapsed() < budgetMs && (r <= targetRuns || killCount < targetKills); r++) {
    const quota = Math.max(1, Math.ceil((targetKills - killCount) / Math.max(1, targetRuns - r + 1)))
    reports.push(await crashRun(r, quota))
  }
  const kills = reports.flatMap((r) => r.kills)
  const count = (keys: readonly string[], of: (k: Kill) => string) => Object.fromEntries(keys.map((key) => [key, kills.filter((k) => of(k) === key).length]))
  const lag = (xs: number[]) => {
    const sorted = [...xs].sort((x, y) => x - y)
    const at = (q: number) => +(sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))] ?? NaN).toFixed(1)
    return { n: xs.length, median: at(0.5), p90: at(0.9), max: at(1) }
  }
  const nodesOf = (list: Exec[]) => new Set(list.map((e) => e.node)).size
  const sum = (f: (r: RunReport) => number) => reports.reduce((s, r) => s + f(r), 0)
  const all = (f: (r: RunReport) => Exec[]) => reports.flatMap((r) => f(r).map((e) => `${r.run}:${e.node}`))
  const perRun = (f: (r: RunReport) => Exec[]) => ({ nodes: reports.reduce((s, r) => s + nodesOf(f(r)), 0), executions: all(f).length })
  const summary = {
    bench: 'crash',
    store,
    cli: o.cli,
    seed,
    lease_ttl_ms: ttlMs,
    nodes_per_run: 36,
    runs: reports.length,
    runs_completed: reports.filter((r) => r.completed).length,
    outputs_correct: reports.filter((r) => r.outputsOk).length,
    kills: kills.length,
    kills_by_mode: count(modes, (k) => k.mode),
    kills_by_process: count(['run', 'resume'], (k) => k.kind),
    landed: count(LANDINGS, (k) => k.landed),
    kills_with_a_node_in_flight: kills.filter((k) => k.inFlight.length).length,
    kills_with_an_ended_uncommitted_node: kills.filter((k) => k.endedUncommitted.length).length,
    committed_nodes_reexecuted: perRun((r) => r.committedRerun),
    reported_commits_lost: kills.reduce((s, k) => s + k.lost.length, 0),
    reexecuted_before_commit: perRun((r) => r.beforeCommit),
    rerun_after_kill_mid_node: perRun((r) => r.afterMidNodeKill),
    unexplained_reexecutions: sum((r) => r.unexplained.length),
    duplicate_completion_events: sum((r) => r.duplicateCompletions),
    event_seq_gaps: sum((r) => r.seqGaps),
    processes: { run_or_resume: processes, show: showProcesses, hung: sum((r) => r.hung), left_running: sum((r) => r.leftover) },
    kill_attempts_outrun: sum((r) => r.missed),
    end_to_commit_ms: lag(reports.flatMap((r) => r.commitLagMs)),
    lease_refusals: sum((r) => r.leaseRefusals),
    lease_wait_s: +(sum((r) => r.leaseWaitMs) / 1000).toFixed(1),
    failures: reports.flatMap((r) => r.failures.map((f) => `run ${r.run}: ${f}`)),
    store_broken: storeBroken,
    seconds: { total: +(elapsed() / 1000).toFixed(1), create: +(createMs / 1000).toFixed(1), median_startup: +(startupMs() / 1000).toFixed(2) },
    ...(o.verbose ? { details: { committed_reexecuted: all((r) => r.committedRerun), before_commit: all((r) => r.beforeCommit), unexplained: all((r) => r.unexplained) } } : {}),
  }
  process.stdout.write(JSON.stringify(summary) + '\n')
  const s = summary
  process.stdout.write(`crash ${store}: ${s.runs_completed}/${s.runs} runs completed (outputs correct ${s.outputs_correct}), ${s.kills} kills `
    + `(${s.kills_with_a_node_in_flight} with a node running, ${s.kills_with_an_ended_uncommitted_node} between a node's end and its commit), `
    + `${s.committed_nodes_reexecuted.executions} committed nodes re-executed, ${s.reexecuted_before_commit.nodes} nodes re-executed before commit `
    + `(${s.reexecuted_before_commit.executions} executions), ${s.rerun_after_kill_mid_node.executions} re-run after a kill mid-node, `
    + `${s.reported_commits_lost} reported commits lost, ${s.lease_refusals} lease refusals, ${s.failures.length} failures, ${s.seconds.total} s\n`)
  if (o.keep) process.stderr.write(`kept ${work}\n`)
  else rmSync(work, { recursive: true, force: true })
}

await main()
