// Crash-safety benchmark: SIGKILLs `weft run` / `weft resume` at random instants (inside nodes, around commits, while
// the run waits at an approval gate), resumes each run until it completes, and counts (from a side file of node
// executions and from the store) whether a committed node ran again or a gate was decided twice.
// Prints one JSON summary and a human line; asserts nothing.
//   node --import tsx bench/crash.ts [--kills 30] [--runs 6] [--store sqlite|postgres] [--rivals] [--cli dist|tsx] [--ttl 300ms] [--seed N] [--verbose]
//   (--help lists every option)
import { spawn } from 'node:child_process'
import { closeSync, existsSync, mkdtempSync, openSync, readSync, renameSync, rmSync, watch, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import path from 'node:path'
import { performance } from 'node:perf_hooks'
import { setTimeout as sleep } from 'node:timers/promises'
import { fileURLToPath } from 'node:url'
import { parseArgs } from 'node:util'
import { parseDuration } from '../engine/duration.ts'
import { openRunStore } from '../engine/adapters/open-store.ts'
// seeded, so that a figure can be chased again (the kill instants still depend on the machine)
import { seededRandom } from '../engine/seeded.ts'

const { values: o } = parseArgs({
  options: {
    kills: { type: 'string', default: '30' },
    runs: { type: 'string', default: '6' },
    store: { type: 'string', default: 'sqlite' },
    rivals: { type: 'boolean', default: false },
    cli: { type: 'string', default: 'dist' },
    seed: { type: 'string' },
    ttl: { type: 'string', default: '300ms' },
    'process-timeout': { type: 'string', default: '60' },
    'max-minutes': { type: 'string', default: '15' },
    verbose: { type: 'boolean', default: false },
    keep: { type: 'boolean', default: false },
    help: { type: 'boolean', short: 'h', default: false },
  },
})
if (o.help) {
  process.stdout.write(`node --import tsx bench/crash.ts [options]   (or node dist/bench/crash.js after npm run build)
  --kills <n>            kills to land in all (default 30); runs are added until they have
  --runs <n>             runs at least (default 6), each 36 logged nodes and 2 approval gates
  --store <kind>         sqlite (a fresh data directory) or postgres (DATABASE_URL, default postgres://postgres@127.0.0.1:5432/test)
  --rivals               every resume is two processes started at once, contending for the run's lease
  --cli <kind>           dist (dist/cli/weft.js, needs npm run build) or tsx (the sources)
  --seed <n>             seed of the kill modes, targets and delays (default: the clock)
  --ttl <duration>       WEFT_LEASE_TTL for the runs (default 300ms)
  --process-timeout <s>  a run or resume still alive after this is killed and counted as hung (default 60)
  --max-minutes <m>      stop starting runs after this (default 15)
  --verbose              one line per kill on stderr, and the re-executions in the summary
  --keep                 keep the work directory (pipelines, side files, decisions files, data)
Kill modes, in turn: at a node's start, at a node's end, at a random instant, while a gate waits for its
decision, just after a gate's decision is recorded. Prints one JSON line and a summary line.
`)
  process.exit(0)
}
const store = o.store === 'postgres' ? 'postgres' : 'sqlite'
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
// the pipelines are written to a temporary folder; their node type is the bench's own (bench/nodes)
const env: Record<string, string | undefined> = { ...process.env, WEFT_DATA_DIR: path.join(work, 'data'), WEFT_LEASE_TTL: `${ttlMs}ms`, WEFT_PLUGIN_DIRS: path.join(root, 'bench', 'nodes') }
if (store === 'postgres') env.DATABASE_URL = databaseUrl
else delete env.DATABASE_URL

const rand = seededRandom(seed)

// the node type (bench/nodes/logged.mjs): `start` and `end` lines per execution in a side file
const PLUGIN = fileURLToPath(new URL('./nodes/logged.mjs', import.meta.url)).replace(`${path.sep}dist${path.sep}bench`, `${path.sep}bench`)

interface Graph {
  yaml: string
  /** Every node, gates included. */
  ids: string[]
  /** The nodes that write the side file (all but the gates). */
  logged: string[]
  /** Each approval gate, with the nodes behind it (that need it, directly or through others). */
  gates: Map<string, string[]>
  /** The final output the run must produce (each node's value is the sum of its inputs' plus its position). */
  expected: number
}

const expr = (s: string) => '$' + `{{ ${s} }}`

/**
 * chain of 6 → fan of 16 → join → chain of 4 → fan of 8 → join: 36 nodes of 20–79 ms each, and 2 approval gates,
 * g1 on c6 and g2 on d4. Half of each fan needs the gate, half does not (it runs while the gate waits).
 * `auto: reject`: a gate that was not asked (a run that is not interactive) would fail the run.
 */
function makeGraph(): Graph {
  const nodes: Array<{ id: string; deps: string[]; gate?: string }> = []
  const chain = (prefix: string, n: number, after?: string): string => {
    let prev = after
    for (let i = 1; i <= n; i++) {
      nodes.push({ id: `${prefix}${i}`, deps: prev ? [prev] : [] })
      prev = `${prefix}${i}`
    }
    return prev!
  }
  const fan = (prefix: string, n: number, after: (i: number) => string): string[] =>
    Array.from({ length: n }, (_, i) => (nodes.push({ id: `${prefix}${i + 1}`, deps: [after(i)] }), `${prefix}${i + 1}`))
  const join = (id: string, deps: string[]): string => (nodes.push({ id, deps }), id)
  const gate = (id: string, on: string): string => (nodes.push({ id, deps: [on], gate: on }), id)
  const c = chain('c', 6)
  const g1 = gate('g1', c)
  const d = chain(
    'd',
    4,
    join(
      'j',
      fan('p', 16, (i) => (i < 8 ? c : g1)),
    ),
  )
  const g2 = gate('g2', d)
  join(
    'z',
    fan('q', 8, (i) => (i < 4 ? d : g2)),
  )
  const value = new Map<string, number>()
  const lines = ['pipeline: crash', `plugins: [${JSON.stringify(PLUGIN)}]`, 'inputs:', '  log: { type: string, required: true }', 'nodes:']
  nodes.forEach(({ id, deps, gate }, i) => {
    if (gate) {
      value.set(id, value.get(gate)!)
      lines.push(`  ${id}: { type: approval, gate: ${gate}, path: value, auto: reject }`)
      return
    }
    value.set(
      id,
      deps.reduce((sum, d) => sum + value.get(d)!, i + 1),
    )
    const v = deps.length ? `'${expr([...deps.map((d) => `nodes.${d}.output.value`), String(i + 1)].join(' + '))}'` : String(i + 1)
    lines.push(`  ${id}: { type: logged, log: '${expr('inputs.log')}', ms: ${20 + Math.floor(rand() * 60)}, value: ${v} }`)
  })
  lines.push('outputs:', `  total: ${expr('nodes.z.output.value')}`)
  const behind = (id: string): string[] => nodes.filter((n) => n.deps.includes(id)).flatMap((n) => [n.id, ...behind(n.id)])
  const gates = new Map(nodes.filter((n) => n.gate).map((n) => [n.id, [...new Set(behind(n.id))]]))
  return { yaml: lines.join('\n') + '\n', ids: nodes.map((n) => n.id), logged: nodes.filter((n) => !n.gate).map((n) => n.id), gates, expected: value.get('z')! }
}

/**
 * A run's decisions file (`--decisions`): a gate's decision (approve, by this run's token) is written when the
 * harness lets the gate be decided; once the decision is printed (so recorded), the file says `reject` instead,
 * so a gate asked again after its decision would get another answer.
 */
class Decisions {
  /** Gate → side-file lines when its decision was let out (nothing behind the gate may start before). */
  readonly delivered = new Map<string, number>()
  readonly #resolved = new Set<string>()

  constructor(
    readonly file: string,
    readonly by: string,
    private readonly side: SideFile,
  ) {}

  /** Writes the gate's decision `delayMs` from now, once per gate. */
  deliver(gate: string, delayMs: number): void {
    if (this.delivered.has(gate)) return
    this.side.read()
    this.delivered.set(gate, this.side.lines.length)
    setTimeout(() => this.#write(), delayMs)
  }

  resolved(gate: string): void {
    this.#resolved.add(gate)
    this.#write()
  }

  #write(): void {
    const entries = Object.fromEntries(
      [...this.delivered.keys()].map((g) => [
        g,
        this.#resolved.has(g) ? { decision: 'reject', by: 'too-late', feedback: 'asked again after the decision was recorded' } : { decision: 'approve', by: this.by },
      ]),
    )
    writeFileSync(this.file + '.tmp', JSON.stringify(entries))
    renameSync(this.file + '.tmp', this.file)
  }
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
    for (let n: number; (n = readSync(this.#fd, this.#buf, 0, this.#buf.length, this.#offset)) > 0; ) {
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

type Mode = 'node-start' | 'node-end' | 'random' | 'gate' | 'decided' | 'none'

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
  /** The `approval.requested` lines it printed (gate, and whether it had printed that gate's decision before). */
  asked: Array<{ gate: string; afterResolved: boolean }>
  /** Gates whose `approval.resolved` it printed. */
  resolved: string[]
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
 * 0–200 ms after a gate not yet decided asks (`gate`: while the run waits there), 0–5 ms after a gate's decision is
 * printed (`decided`: around the gate's commit), or at a random instant (a resume from its spawn, start-up included;
 * a run from its id line), drawn over the time the process is expected to take: start-up as measured so far plus
 * 40 ms per node left. A gate that asks and is not to be killed gets its decision 0–50 ms later.
 */
function attempt(kind: 'run' | 'resume', runId: string | undefined, file: string, side: SideFile, decisions: Decisions, mode: Mode, remaining: number): Promise<Attempt> {
  side.read()
  const from = side.lines.length
  const args = [...(kind === 'run' ? ['run', file, '--input', `log=${side.file}`] : ['resume', runId!]), '--decisions', decisions.file]
  processes++
  const child = spawn(process.execPath, [...weft, ...args], { cwd: root, env, stdio: ['ignore', 'ignore', 'pipe'] })
  const a: Attempt = {
    kind,
    mode,
    from,
    to: from,
    killed: false,
    hung: false,
    code: null,
    runId,
    started: false,
    reported: [],
    leased: false,
    stderr: '',
    leftover: false,
    reportedAt: new Map(),
    asked: [],
    resolved: [],
  }
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
      // counted once it drives: a rival refused the lease sees another process's lines
      if (!a.started) continue
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
      const [, event, gate] = /^\S+ approval\.(requested|resolved) (\S+)/.exec(line) ?? []
      if (event === 'requested') {
        a.asked.push({ gate: gate!, afterResolved: a.resolved.includes(gate!) })
        if (decisions.delivered.has(gate!)) continue
        if (mode === 'gate') arm(rand() * 200)
        else decisions.deliver(gate!, rand() * 50)
      } else if (event === 'resolved') {
        a.resolved.push(gate!)
        decisions.resolved(gate!)
        if (mode === 'decided') arm(rand() * 5)
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
  nodes: Record<string, { status: string; output?: unknown }>
  events: Array<{ seq: number; type: string; node?: string; timestamp: string }>
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

const LANDINGS = [
  'start-up (store open, migrations, claim)',
  'after claim, before the first node',
  'while waiting at an approval',
  "between a gate's decision and its commit",
  'during a node',
  "between a node's end and its commit",
  'between nodes (all ended nodes committed)',
  'after the run completed',
] as const
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
  const gateUncommitted = a.resolved.some((g) => !committed.has(g))
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
  const landed: Landing =
    status === 'completed'
      ? 'after the run completed'
      : status === 'awaiting_approval'
        ? 'while waiting at an approval'
        : gateUncommitted
          ? "between a gate's decision and its commit"
          : endedUncommitted.length
            ? "between a node's end and its commit"
            : inFlight.length
              ? 'during a node'
              : started === 0
                ? a.started
                  ? 'after claim, before the first node'
                  : 'start-up (store open, migrations, claim)'
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
  /** With --rivals: resumes where one process drove and the other was refused the lease; where both drove, one after the other. */
  rivalsRefused: number
  rivalsBothDrove: number
  /** Per node completed without a kill in between: its `end` line to its `node.completed` line (ms). */
  commitLagMs: number[]
  gates: GateReport
  failures: string[]
  /** For the store check at the end: the final `weft show`, the gates, and who their decisions are by. */
  final?: Shown
  gateIds: string[]
  decisionsBy: string
}

/** Whether each approval gate was decided once, with the decision the harness let out, and nothing ran early. */
interface GateReport {
  gates: number
  /** Kills in `gate` mode, and those of them that found the run `awaiting_approval` in the store. */
  gateKills: number
  gateKillsAwaiting: number
  /** Requests printed by a process after a kill that found the gate decided, or after it printed the decision. */
  askedAfterDecision: number
  /** `approval.requested` events after the gate's first `approval.resolved` in the final event log. */
  askedAfterDecisionInLog: number
  /** `approval.requested` events later than the store's `decided_at` (one machine's clock). */
  askedAfterDecidedAt: number
  /** Extra `approval.resolved` events of a gate (beyond one). */
  resolvedTwice: number
  /** Gates decided in the store with no `approval.resolved` event (a kill between the two writes). */
  decidedWithoutEvent: number
  /** Gates whose recorded decision is not the one written to the decisions file. */
  notAsDelivered: number
  /** Requests at revision 1 (there must be none: only approve is given), and requests left undecided. */
  secondRevision: number
  pending: number
  /** Gate nodes whose output does not say one approve by this run's token. */
  outputWrong: number
  /** Executions of nodes behind a gate that started before its decision was let out. */
  startedBeforeDecision: number
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
      else if (kill.committed.has(cur.node))
        continue // counted in committedRerun
      else if (prev.end !== undefined) beforeCommit.push(cur)
      else afterMidNodeKill.push(cur)
    }
  }
  return { committedRerun, beforeCommit, afterMidNodeKill, unexplained }
}

const modes: Mode[] = ['node-start', 'node-end', 'random', 'gate', 'decided']
let modeTurn = Math.floor(rand() * modes.length)
/** The next mode in turn; `gate` and `decided` only while the run has a gate whose decision is not let out. */
const nextMode = (gatesLeft: boolean): Mode => {
  for (;;) {
    const mode = modes[modeTurn++ % modes.length]!
    if (gatesLeft || (mode !== 'gate' && mode !== 'decided')) return mode
  }
}
let storeBroken = false
let killCount = 0
const log = (s: string) => o.verbose && process.stderr.write(s + '\n')

/**
 * Two resumes started at once, as one attempt: the one that took the lease drove (and may have been killed), the
 * other was refused it or found the run over. Its span covers both, so a kill's snapshot (taken once both are gone)
 * and the side-file lines after it agree.
 */
function contend([main, rival]: [Attempt, Attempt], rep: RunReport): Attempt {
  const drove = [main, rival].filter((x) => x.started)
  const refused = [main, rival].filter((x) => x.leased)
  if (drove.length === 1 && refused.length === 1) rep.rivalsRefused++
  if (drove.length === 2) rep.rivalsBothDrove++
  const lead = main.leased ? rival : main
  return {
    ...lead,
    from: Math.min(main.from, rival.from),
    to: Math.max(main.to, rival.to),
    killed: main.killed || rival.killed,
    hung: main.hung || rival.hung,
    started: main.started || rival.started,
    reported: [...main.reported, ...rival.reported],
    reportedAt: new Map([...main.reportedAt, ...rival.reportedAt]),
    asked: [...main.asked, ...rival.asked],
    resolved: [...main.resolved, ...rival.resolved],
    leased: main.leased && rival.leased,
    stderr: main.stderr + rival.stderr,
    leftover: main.leftover || rival.leftover,
  }
}

async function crashRun(r: number, quota: number): Promise<RunReport> {
  const graph = makeGraph()
  const file = path.join(work, `crash-${r}.yaml`)
  writeFileSync(file, graph.yaml)
  const side = new SideFile(path.join(work, `crash-${r}.log`))
  const decisions = new Decisions(path.join(work, `crash-${r}.decisions.json`), `crash-bench-${seed}-${r}`, side)
  const gates: GateReport = {
    gates: graph.gates.size,
    gateKills: 0,
    gateKillsAwaiting: 0,
    askedAfterDecision: 0,
    askedAfterDecisionInLog: 0,
    askedAfterDecidedAt: 0,
    resolvedTwice: 0,
    decidedWithoutEvent: 0,
    notAsDelivered: 0,
    secondRevision: 0,
    pending: 0,
    outputWrong: 0,
    startedBeforeDecision: 0,
  }
  const rep: RunReport = {
    run: r,
    id: undefined,
    completed: false,
    outputsOk: false,
    kills: [],
    committedRerun: [],
    beforeCommit: [],
    afterMidNodeKill: [],
    unexplained: [],
    duplicateCompletions: 0,
    seqGaps: 0,
    leaseRefusals: 0,
    leaseWaitMs: 0,
    hung: 0,
    leftover: 0,
    missed: 0,
    rivalsRefused: 0,
    rivalsBothDrove: 0,
    commitLagMs: [],
    gates,
    failures: [],
    gateIds: [...graph.gates.keys()],
    decisionsBy: decisions.by,
  }
  let committed = new Set<string>()
  const decided = new Set<string>()
  let failures = 0
  while (elapsed() < budgetMs) {
    const kind = rep.id ? 'resume' : 'run'
    const mode = rep.kills.length < quota ? nextMode([...graph.gates.keys()].some((g) => !decisions.delivered.has(g))) : 'none'
    const left = graph.logged.filter((n) => !committed.has(n)).length
    const a =
      kind === 'resume' && o.rivals
        ? contend(await Promise.all([attempt(kind, rep.id, file, side, decisions, mode, left), attempt(kind, rep.id, file, side, decisions, 'none', left)]), rep)
        : await attempt(kind, rep.id, file, side, decisions, mode, left)
    rep.id ??= a.runId
    gates.askedAfterDecision += a.asked.filter((x) => decided.has(x.gate) || x.afterResolved).length
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
      committed = new Set(
        Object.entries(shown.nodes)
          .filter(([, n]) => n.status === 'succeeded')
          .map(([id]) => id),
      )
      for (const g of graph.gates.keys()) if (committed.has(g) || shown.events.some((e) => e.type === 'approval.resolved' && e.node === g)) decided.add(g)
      const k: Kill = { run: r, n: ++killCount, kind, mode, cut: a.to, committed, lost: a.reported.filter((n) => !committed.has(n)), ...where(a, side.lines, committed, shown.status) }
      rep.kills.push(k)
      if (mode === 'gate') {
        gates.gateKills++
        if (shown.status === 'awaiting_approval') gates.gateKillsAwaiting++
      }
      log(
        `run ${r} kill ${k.n} (${kind}, ${mode}): ${k.landed}; in flight [${k.inFlight.join(' ')}], ended uncommitted [${k.endedUncommitted.join(' ')}]; committed ${committed.size}/${graph.ids.length}; gates decided [${[...decided].join(' ')}]`,
      )
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
    for (const [g, behind] of graph.gates) {
      const mine = final.events.filter((e) => e.node === g && e.type.startsWith('approval.'))
      const first = mine.findIndex((e) => e.type === 'approval.resolved')
      gates.askedAfterDecisionInLog += first < 0 ? 0 : mine.slice(first).filter((e) => e.type === 'approval.requested').length
      gates.resolvedTwice += Math.max(0, mine.filter((e) => e.type === 'approval.resolved').length - 1)
      const history = (final.nodes[g]?.output as { history?: Array<{ decision: string; by: string; revision: number }> } | undefined)?.history
      if (history?.length !== 1 || history[0]!.decision !== 'approve' || history[0]!.by !== decisions.by || history[0]!.revision !== 0) gates.outputWrong++
      const at = decisions.delivered.get(g) ?? side.lines.length
      gates.startedBeforeDecision += side.lines.slice(0, at).filter((l) => l.startsWith('start ') && behind.includes(l.split(' ')[1]!)).length
    }
    rep.final = final
  } catch (err) {
    rep.failures.push(`final show: ${(err as Error).message}`)
  }
  Object.assign(rep, analyse(side.lines, rep.kills))
  return rep
}

/** The approvals as the store holds them, read in this process once no weft process runs (all runs at once). */
async function checkApprovals(reports: RunReport[]): Promise<void> {
  const store = await openRunStore({ env })
  try {
    for (const rep of reports) {
      if (!rep.id || !rep.final) continue
      for (const g of rep.gateIds) {
        const approval = await store.getApproval(rep.id, g, 0)
        const d = approval?.decision
        if (d?.decision !== 'approve' || d.by !== rep.decisionsBy || d.edits !== undefined || d.feedback !== undefined) rep.gates.notAsDelivered++
        if (await store.getApproval(rep.id, g, 1)) rep.gates.secondRevision++
        const events = rep.final.events.filter((e) => e.node === g)
        if (d && !events.some((e) => e.type === 'approval.resolved')) rep.gates.decidedWithoutEvent++
        if (approval?.decided_at) rep.gates.askedAfterDecidedAt += events.filter((e) => e.type === 'approval.requested' && Date.parse(e.timestamp) > Date.parse(approval.decided_at!)).length
      }
      rep.gates.pending += (await store.pendingApprovals(rep.id)).length
    }
  } finally {
    await store.close()
  }
}

async function main(): Promise<void> {
  const create0 = performance.now()
  // the data directory (SQLite) or schema (Postgres) is created once, outside the runs
  await new Promise<void>((resolve) => spawn(process.execPath, [...weft, 'runs', '--limit', '1'], { cwd: root, env, stdio: 'ignore' }).on('close', () => resolve()))
  const createMs = performance.now() - create0
  const reports: RunReport[] = []
  for (let r = 1; !storeBroken && elapsed() < budgetMs && (r <= targetRuns || killCount < targetKills); r++) {
    const quota = Math.max(1, Math.ceil((targetKills - killCount) / Math.max(1, targetRuns - r + 1)))
    reports.push(await crashRun(r, quota))
  }
  let approvalsChecked = false
  if (!storeBroken) {
    try {
      await checkApprovals(reports)
      approvalsChecked = true
    } catch (err) {
      reports.at(-1)?.failures.push(`approvals check: ${(err as Error).message}`)
    }
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
    gates_per_run: 2,
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
    approvals: {
      checked_in_store: approvalsChecked,
      gates: sum((r) => r.gates.gates),
      decided_as_delivered: sum((r) => r.gates.gates - r.gates.notAsDelivered),
      gate_kills: sum((r) => r.gates.gateKills),
      gate_kills_awaiting_approval: sum((r) => r.gates.gateKillsAwaiting),
      asked_after_decision: { processes: sum((r) => r.gates.askedAfterDecision), event_log: sum((r) => r.gates.askedAfterDecisionInLog), after_decided_at: sum((r) => r.gates.askedAfterDecidedAt) },
      resolved_twice: sum((r) => r.gates.resolvedTwice),
      decided_without_resolved_event: sum((r) => r.gates.decidedWithoutEvent),
      second_revision_requests: sum((r) => r.gates.secondRevision),
      pending_after_completion: sum((r) => r.gates.pending),
      gate_outputs_wrong: sum((r) => r.gates.outputWrong),
      started_behind_a_gate_before_its_decision: sum((r) => r.gates.startedBeforeDecision),
    },
    event_seq_gaps: sum((r) => r.seqGaps),
    processes: { run_or_resume: processes, show: showProcesses, hung: sum((r) => r.hung), left_running: sum((r) => r.leftover) },
    kill_attempts_outrun: sum((r) => r.missed),
    end_to_commit_ms: lag(reports.flatMap((r) => r.commitLagMs)),
    lease_refusals: sum((r) => r.leaseRefusals),
    rivals: o.rivals ? { refused: sum((r) => r.rivalsRefused), both_drove_in_turn: sum((r) => r.rivalsBothDrove) } : null,
    lease_wait_s: +(sum((r) => r.leaseWaitMs) / 1000).toFixed(1),
    failures: reports.flatMap((r) => r.failures.map((f) => `run ${r.run}: ${f}`)),
    store_broken: storeBroken,
    seconds: { total: +(elapsed() / 1000).toFixed(1), create: +(createMs / 1000).toFixed(1), median_startup: +(startupMs() / 1000).toFixed(2) },
    ...(o.verbose ? { details: { committed_reexecuted: all((r) => r.committedRerun), before_commit: all((r) => r.beforeCommit), unexplained: all((r) => r.unexplained) } } : {}),
  }
  process.stdout.write(JSON.stringify(summary) + '\n')
  const s = summary
  process.stdout.write(
    `crash ${store}: ${s.runs_completed}/${s.runs} runs completed (outputs correct ${s.outputs_correct}), ${s.kills} kills ` +
      `(${s.kills_with_a_node_in_flight} with a node running, ${s.kills_with_an_ended_uncommitted_node} between a node's end and its commit), ` +
      `${s.committed_nodes_reexecuted.executions} committed nodes re-executed, ${s.reexecuted_before_commit.nodes} nodes re-executed before commit ` +
      `(${s.reexecuted_before_commit.executions} executions), ${s.rerun_after_kill_mid_node.executions} re-run after a kill mid-node, ` +
      `${s.reported_commits_lost} reported commits lost; ${s.approvals.gate_kills} kills at a gate (${s.approvals.gate_kills_awaiting_approval} while awaiting_approval), ` +
      `${s.approvals.decided_as_delivered}/${s.approvals.gates} gates decided once as delivered, ${Math.max(...Object.values(s.approvals.asked_after_decision))} asked again after their decision; ` +
      `${s.lease_refusals} lease refusals${s.rivals ? ` (rival resumes: ${s.rivals.refused} refused while the other drove, ${s.rivals.both_drove_in_turn} drove in turn)` : ''}, ${s.failures.length} failures, ${s.seconds.total} s\n`,
  )
  if (o.keep) process.stderr.write(`kept ${work}\n`)
  else rmSync(work, { recursive: true, force: true })
}

await main()
