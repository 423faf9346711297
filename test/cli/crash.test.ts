// Crash test: `weft run` and `weft resume` are killed with SIGKILL inside nodes, just after nodes end, and while the
// run waits at an approval gate, then resumed until the run completes; no node the store held as succeeded at a
// kill may execute again, and the gate is decided once (its decision comes from a `--decisions` file).
// On SQLite in a temporary data directory, and on Postgres when DATABASE_URL is set; the second run of each resumes
// with two processes at once after every kill, of which one drives and the other is refused. The lease TTL is long
// (30 s): a resume goes on at once only because the killed holder's process is gone. bench/crash.ts does this at scale.
import { after, describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { spawn } from 'node:child_process'
import { mkdtempSync, readFileSync, renameSync, rmSync, watch, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import path from 'node:path'
import { setTimeout as sleep } from 'node:timers/promises'
import { fileURLToPath } from 'node:url'
import { openRunStore } from '../../engine/adapters/open-store.ts'
import type { ApprovalRecord, RunEvent, RunRecord } from '../../engine/ports.ts'
import { seededRandom } from '../../engine/seeded.ts'
import { testPluginDirs } from '../helpers.ts'

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..')
const dir = mkdtempSync(path.join(tmpdir(), 'weft-crash-test-'))
type Env = Record<string, string | undefined>
const plugins = testPluginDirs.join(path.delimiter)
const sqliteEnv: Env = { ...process.env, WEFT_DATA_DIR: path.join(dir, 'data'), WEFT_LEASE_TTL: '30s', WEFT_PLUGIN_DIRS: plugins }
delete sqliteEnv.DATABASE_URL

// bench/nodes/logged.mjs: a `start` line when an execution begins, an `end` line when its work is done
const plugin = path.join(root, 'bench', 'nodes', 'logged.mjs')

const $ = (s: string) => '$' + `{{ ${s} }}`

const GATE = 'g'
const GATED = 'a3'

/**
 * a1 → a2 → a3 → b1…b6 in parallel → c → d1 → d2, with the approval gate `g` on a3, which c also needs: b1…b6 run
 * while g waits. Each logged node's value is the sum of its inputs' plus its position; g passes a3's value on.
 * `auto: reject`: were the gate not asked (a run that is not interactive), the run would fail.
 */
function crashPipeline(): { yaml: string; ids: string[]; logged: string[]; downstream: string[]; gatedValue: number; expected: number } {
  const fan = ['b1', 'b2', 'b3', 'b4', 'b5', 'b6']
  const nodes: Array<[string, string[]]> = [['a1', []], ['a2', ['a1']], [GATED, ['a2']], ...fan.map((b): [string, string[]] => [b, [GATED]]), ['c', [...fan, GATE]], ['d1', ['c']], ['d2', ['d1']]]
  const value = new Map<string, number>()
  const lines = ['pipeline: crash', `plugins: [${JSON.stringify(plugin)}]`, 'inputs:', '  log: { type: string, required: true }', 'nodes:']
  nodes.forEach(([id, deps], i) => {
    value.set(
      id,
      deps.reduce((sum, d) => sum + value.get(d)!, i + 1),
    )
    if (id === GATED) value.set(GATE, value.get(GATED)!)
    const v = deps.length ? `'${$([...deps.map((d) => `nodes.${d}.output.value`), String(i + 1)].join(' + '))}'` : String(i + 1)
    lines.push(`  ${id}: { type: logged, log: '${$('inputs.log')}', ms: ${20 + ((i * 17) % 31)}, value: ${v} }`)
  })
  lines.push(`  ${GATE}: { type: approval, gate: ${GATED}, path: value, auto: reject }`)
  lines.push('outputs:', `  total: ${$('nodes.d2.output.value')}`)
  const logged = nodes.map(([id]) => id)
  return { yaml: lines.join('\n') + '\n', ids: [...logged, GATE], logged, downstream: ['c', 'd1', 'd2'], gatedValue: value.get(GATED)!, expected: value.get('d2')! }
}

const readLines = (file: string) => readFileSync(file, 'utf8').split('\n').filter(Boolean)

/** Replaces the file at once (a reader never sees half of it). */
function writeAtomic(file: string, text: string): void {
  writeFileSync(file + '.tmp', text)
  renameSync(file + '.tmp', file)
}

type Phase = 'start' | 'end' | 'gate' | 'decided'

interface Outcome {
  code: number | null
  killed: boolean
  stderr: string
  runId: string | undefined
  /** Nodes printed as completed: the CLI prints an event only after committing it. */
  reported: string[]
  /** `approval.requested` lines printed for the gate, and those of them after its `approval.resolved` line. */
  asked: number
  askedAfterResolved: number
}

interface Watch {
  /** SIGKILL `delayMs` after the `nth` side-file line of `phase`, or after the gate's request (`gate`) or decision (`decided`) is printed. */
  kill?: { phase: Phase; nth: number; delayMs: number }
  /** The gate's request is recorded (printed), and this process is not to be killed there. */
  onAsked(): void
  /** The gate's decision is recorded (printed). */
  onResolved(): void
}

/** Runs the CLI and kills it per `w.kill`. */
function weft(env: Env, args: string[], side: string, w: Watch): Promise<Outcome> {
  const from = readLines(side).length
  const child = spawn(process.execPath, ['--import', 'tsx', path.join(root, 'cli', 'weft.ts'), ...args], { cwd: root, env, stdio: ['ignore', 'ignore', 'pipe'] })
  // it drives once it prints the run's id (after taking the lease): a rival refused the lease is never killed
  let driving = false
  let stderr = ''
  let pending = ''
  let asked = 0
  let askedAfterResolved = 0
  let resolved = false
  let timer: NodeJS.Timeout | undefined
  const arm = (ms: number) => (timer ??= setTimeout(() => child.kill('SIGKILL'), ms))
  child.stderr.setEncoding('utf8').on('data', (chunk: string) => {
    stderr += chunk
    const lines = (pending + chunk).split('\n')
    pending = lines.pop()!
    for (const line of lines) {
      if (/^run [0-9a-f-]{36}$/.test(line)) driving = true
      const event = /^\S+ (approval\.requested|approval\.resolved) (\S+)/.exec(line)
      if (event?.[2] !== GATE) continue
      if (event[1] === 'approval.resolved') {
        resolved = true
        if (w.kill?.phase === 'decided') arm(w.kill.delayMs)
        w.onResolved()
        continue
      }
      asked++
      if (resolved) askedAfterResolved++
      if (w.kill?.phase === 'gate') arm(w.kill.delayMs)
      else w.onAsked()
    }
  })
  const check = () => {
    const kill = w.kill
    if (!kill || (kill.phase !== 'start' && kill.phase !== 'end') || timer || !driving) return
    const seen = readLines(side)
      .slice(from)
      .filter((l) => l.startsWith(`${kill.phase} `)).length
    if (seen >= kill.nth) arm(kill.delayMs)
  }
  const watcher = watch(side, check)
  const poll = setInterval(check, 10)
  let hung = false
  const guard = setTimeout(() => {
    hung = true
    child.kill('SIGKILL')
  }, 60_000)
  return new Promise((resolve, reject) => {
    child.on('close', (code, signal) => {
      clearTimeout(timer)
      clearTimeout(guard)
      clearInterval(poll)
      watcher.close()
      if (hung) return reject(new Error(`weft ${args.join(' ')} did not finish within 60 s:\n${stderr}`))
      resolve({
        code,
        killed: signal === 'SIGKILL',
        stderr,
        runId: /^run ([0-9a-f-]{36})$/m.exec(stderr)?.[1],
        reported: [...stderr.matchAll(/^\S+ node\.completed (\S+)/gm)].map((m) => m[1]!),
        asked,
        askedAfterResolved,
      })
    })
  })
}

interface Stored {
  run: RunRecord
  events: RunEvent[]
  /** The gate's request and decision at revision 0, at revision 1 (there must be none), and the undecided requests. */
  approval: ApprovalRecord | undefined
  second: ApprovalRecord | undefined
  pending: ApprovalRecord[]
}

/** What the store holds, read in this process (the CLI's own store code) while no weft process runs. */
async function stored(env: Env, id: string): Promise<Stored> {
  const store = await openRunStore({ env })
  try {
    const run = await store.getRun(id)
    assert.ok(run, `run ${id} is not recorded`)
    return { run, events: await store.listEvents(id), approval: await store.getApproval(id, GATE, 0), second: await store.getApproval(id, GATE, 1), pending: await store.pendingApprovals(id) }
  } finally {
    await store.close()
  }
}

interface Kill {
  phase: Phase
  /** Side-file lines when the process was gone: later lines were written by later processes. */
  cut: number
  committed: Set<string>
  reported: string[]
  /** At the kill: the run's status, the gate node's and the gated node's, and whether the gate was decided. */
  status: string
  gate: string | undefined
  gated: string | undefined
  decided: boolean
}

/**
 * One run, killed once per entry of `plan` (`start`: 0–15 ms after the nth start of a node; `end`: 0–5 ms after
 * the nth end; `gate`: 0–60 ms after the gate asks, while b1…b6 run; `decided`: 0–5 ms after the gate's decision
 * is recorded, mostly before the gate node's completion is), then resumed to the end. The decision is
 * written to the decisions file once no gate kill is left, 0–30 ms after a process asks; once it is recorded the
 * file says `reject` instead, so a gate asked again after its decision would get a different answer.
 * With `rivals`, every resume is two processes started at once: whichever takes the lease drives (and may be
 * killed), the other is refused it (or finds the run over); a kill's snapshot is read once both are gone.
 */
async function crashRun(env: Env, name: string, plan: Phase[], random: () => number, rivals = false) {
  const { yaml, ids, logged, downstream, gatedValue, expected } = crashPipeline()
  const file = path.join(dir, `${name}.yaml`)
  const side = path.join(dir, `${name}.log`)
  const decisions = path.join(dir, `${name}.decisions.yaml`)
  const by = `crash-test-${name}`
  writeFileSync(file, yaml)
  writeFileSync(side, '')
  const kills: Kill[] = []
  let id: string | undefined
  let committed = new Set<string>()
  /** Side-file lines when the decision was written (-1: not yet). */
  let delivered = -1
  let decidedAtAKill = false
  /** Gate requests printed by processes started after a kill that found the gate decided, or after the decision in one process. */
  let askedAgain = 0
  /** Rounds where two resumes raced and one of them was refused the lease while the other drove. */
  let refused = 0
  /** Single resumes refused the lease (the killed holder's lease should have been taken over at once). */
  const waitedOut: string[] = []
  for (let round = 0; round < plan.length + 6; round++) {
    const phase = plan[kills.length]
    const gateAhead = plan.indexOf('gate', kills.length) >= 0
    // while a gate kill is ahead, the gate is not decided: only nodes before the gate can start
    const pool = logged.filter((n) => !committed.has(n) && (!gateAhead || !downstream.includes(n))).length
    const kill = phase === undefined ? undefined : { phase, nth: 1 + Math.floor(random() * pool), delayMs: random() * (phase === 'start' ? 15 : phase === 'gate' ? 60 : 5) }
    const command = id ? ['resume', id] : ['run', file, '--input', `log=${side}`]
    const watch: Watch = {
      kill,
      onAsked: () => {
        if (gateAhead || delivered >= 0) return
        delivered = readLines(side).length
        setTimeout(() => writeAtomic(decisions, JSON.stringify({ [GATE]: { decision: 'approve', by } })), random() * 30)
      },
      onResolved: () => writeAtomic(decisions, JSON.stringify({ [GATE]: { decision: 'reject', by: 'too-late', feedback: 'asked again after the decision' } })),
    }
    const racing = Boolean(id && rivals)
    const outs = await Promise.all(Array.from({ length: racing ? 2 : 1 }, () => weft(env, [...command, '--decisions', decisions], side, watch)))
    id ??= outs[0]!.runId
    assert.ok(id, `weft run printed no run id (exit ${outs[0]!.code}):\n${outs[0]!.stderr}`)
    for (const out of outs) askedAgain += decidedAtAKill ? out.asked : out.askedAfterResolved
    const leased = outs.filter((o) => !o.killed && /RUN_LEASED/.test(o.stderr))
    if (racing && leased.length === 1 && outs.some((o) => o.runId)) refused++
    if (!racing && leased.length) waitedOut.push(leased[0]!.stderr.trim())
    for (const out of outs) {
      // besides a refused lease, a process that was not killed completed the run (a rival may find it over)
      if (!out.killed && !leased.includes(out)) assert.equal(out.code, 0, `weft ${command[0]} exited ${out.code}:\n${out.stderr}`)
    }
    if (!outs.some((o) => o.killed)) {
      if (outs.some((o) => o.code === 0)) break
      await sleep(300)
      continue
    }
    const { run, approval } = await stored(env, id)
    committed = new Set(
      Object.values(run.nodes)
        .filter((n) => n.status === 'succeeded')
        .map((n) => n.id),
    )
    const decided = Boolean(approval?.decision)
    decidedAtAKill ||= decided
    kills.push({
      phase: phase!,
      cut: readLines(side).length,
      committed,
      reported: outs.flatMap((o) => o.reported),
      status: run.status,
      gate: run.nodes[GATE]?.status,
      gated: run.nodes[GATED]?.status,
      decided,
    })
    if (run.status === 'completed') break
  }
  return { ...(await stored(env, id!)), kills, ids, downstream, gatedValue, expected, by, delivered, askedAgain, refused, waitedOut, lines: readLines(side) }
}

after(() => rmSync(dir, { recursive: true, force: true }))

const stores: Array<[string, Env | undefined]> = [
  ['SQLite', sqliteEnv],
  ['Postgres', process.env.DATABASE_URL ? { ...process.env, WEFT_DATA_DIR: path.join(dir, 'pg-data'), WEFT_LEASE_TTL: '30s', WEFT_PLUGIN_DIRS: plugins } : undefined],
]

for (const [name, env] of stores)
  describe(`crash safety (${name}): SIGKILL, then weft resume`, () => {
    it('completes each run, never executes a node again once the store holds it as succeeded, and decides the gate once', {
      timeout: 240_000,
      skip: env ? false : 'DATABASE_URL is not set; this runs in CI, where it is set',
    }, async (t) => {
      // where and when each kill lands is drawn from a seed: a failure names it, and WEFT_TEST_SEED draws the same plan again
      const seed = Number(process.env.WEFT_TEST_SEED ?? Math.floor(Math.random() * 2 ** 31))
      t.diagnostic(`seed ${seed}`)
      const random = seededRandom(seed)
      const runs = [await crashRun(env!, `${name}-first`, ['gate', 'decided', 'start', 'end'], random), await crashRun(env!, `${name}-second`, ['start', 'gate', 'end', 'start'], random, true)]
      assert.ok(runs.reduce((n, r) => n + r.kills.length, 0) >= 6, 'at least 6 kills landed')
      assert.deepEqual(
        runs.flatMap((r) => r.waitedOut),
        [],
        'a resume after a kill was refused the lease of a process that is gone',
      )
      assert.ok(runs[1]!.refused >= 1, 'two resumes raced for the run and one was refused the lease')
      for (const { run, events, approval, second, pending, kills, ids, downstream, gatedValue, expected, by, delivered, askedAgain, lines } of runs) {
        assert.equal(run.status, 'completed')
        assert.deepEqual(run.outputs, { total: expected })
        const reexecuted = kills.flatMap((k, i) =>
          lines
            .slice(k.cut)
            .filter((l) => l.startsWith('start '))
            .map((l) => l.split(' ')[1]!)
            .filter((n) => k.committed.has(n))
            .map((n) => `${n} after kill ${i + 1} (${k.phase})`),
        )
        assert.deepEqual(reexecuted, [], 'committed nodes executed again')
        const lost = kills.flatMap((k) => k.reported.filter((n) => !k.committed.has(n)))
        assert.deepEqual(lost, [], 'nodes printed as completed before a kill are succeeded in the store after it')
        const completions = events
          .filter((e) => e.type === 'node.completed')
          .map((e) => e.node!)
          .sort()
        assert.deepEqual(completions, [...ids].sort(), 'one node.completed event per node')
        assert.deepEqual(
          events.map((e) => e.seq),
          events.map((_, i) => i + 1),
        )

        // each gate kill landed while the run waited at the gate, with the gated node committed and no decision yet
        const atGate = kills.filter((k) => k.phase === 'gate').map((k) => ({ status: k.status, gate: k.gate, gated: k.gated, decided: k.decided }))
        assert.deepEqual(atGate, [{ status: 'awaiting_approval', gate: 'waiting', gated: 'succeeded', decided: false }])
        for (const k of kills) if (k.phase === 'decided') assert.equal(k.decided, true, 'a kill after the printed decision finds it recorded')
        // the decision written to the file is the one recorded, once: one request, no second revision, none pending
        assert.ok(delivered >= 0, 'the decision was delivered')
        assert.deepEqual(approval?.decision, { decision: 'approve', by })
        assert.equal(second, undefined)
        assert.deepEqual(pending, [])
        assert.deepEqual(run.nodes[GATE]?.output, { value: gatedValue, edited: false, revisions: 0, by, history: [{ decision: 'approve', by, edited: false, revision: 0 }] })
        // asked again only before the decision: never by a process after a kill that found it decided, nor after it in one process
        assert.equal(askedAgain, 0, 'the gate was asked again after its decision was recorded')
        const gateEvents = events.filter((e) => e.node === GATE && e.type.startsWith('approval.')).map((e) => e.type)
        // (a kill between recording the decision and its event leaves no `approval.resolved`; the store has the decision)
        const resolvedAt = gateEvents.indexOf('approval.resolved')
        assert.ok(gateEvents.filter((t) => t === 'approval.resolved').length <= 1, `approval events: ${gateEvents.join(', ')}`)
        if (resolvedAt >= 0) assert.deepEqual(gateEvents.slice(resolvedAt + 1), [], `approval events: ${gateEvents.join(', ')}`)
        assert.ok(gateEvents.filter((t) => t === 'approval.requested').length >= 2, 'the gate asked before the gate kill and again after it')
        // nothing behind the gate started before the decision was delivered
        const early = lines.slice(0, delivered).filter((l) => l.startsWith('start ') && downstream.includes(l.split(' ')[1]!))
        assert.deepEqual(early, [], 'nodes behind the gate started before its decision')
      }
    })
  })
