// Crash test: `weft run` and `weft resume` are killed with SIGKILL inside nodes and just after nodes end, then
// resumed until the run completes; no node the store held as succeeded at a kill may execute again.
// PGlite in a temporary data directory, or Postgres when DATABASE_URL is set. bench/crash.ts does this at scale.
import { after, describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { spawn } from 'node:child_process'
import { mkdtempSync, readFileSync, rmSync, watch, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import path from 'node:path'
import { setTimeout as sleep } from 'node:timers/promises'
import { fileURLToPath } from 'node:url'
import { openRunStore } from '../../engine/adapters/open-store.ts'
import type { RunEvent, RunRecord } from '../../engine/ports.ts'

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..')
const dir = mkdtempSync(path.join(tmpdir(), 'weft-crash-test-'))
const env: Record<string, string | undefined> = { ...process.env, WEFT_DATA_DIR: path.join(dir, 'data'), WEFT_LEASE_TTL: '300ms' }

// bench/nodes/logged.mjs: a `start` line when an execution begins, an `end` line when its work is done
const plugin = path.join(root, 'bench', 'nodes', 'logged.mjs')

const $ = (s: string) => '$' + `{{ ${s} }}`

/** a1 → a2 → a3 → b1…b6 in parallel → c → d1 → d2; each value is the sum of its inputs' plus its position. */
function crashPipeline(): { yaml: string; ids: string[]; expected: number } {
  const nodes: Array<[string, string[]]> = [['a1', []], ['a2', ['a1']], ['a3', ['a2']]]
  const fan = ['b1', 'b2', 'b3', 'b4', 'b5', 'b6']
  for (const b of fan) nodes.push([b, ['a3']])
  nodes.push(['c', fan], ['d1', ['c']], ['d2', ['d1']])
  const value = new Map<string, number>()
  const lines = ['pipeline: crash', `plugins: [${JSON.stringify(plugin)}]`, 'inputs:', '  log: { type: string, required: true }', 'nodes:']
  nodes.forEach(([id, deps], i) => {
    value.set(id, deps.reduce((sum, d) => sum + value.get(d)!, i + 1))
    const v = deps.length ? `'${$([...deps.map((d) => `nodes.${d}.output.value`), String(i + 1)].join(' + '))}'` : String(i + 1)
    lines.push(`  ${id}: { type: logged, log: '${$('inputs.log')}', ms: ${20 + ((i * 17) % 31)}, value: ${v} }`)
  })
  lines.push('outputs:', `  total: ${$('nodes.d2.output.value')}`)
  return { yaml: lines.join('\n') + '\n', ids: nodes.map(([id]) => id), expected: value.get('d2')! }
}

const readLines = (file: string) => readFileSync(file, 'utf8').split('\n').filter(Boolean)

interface Outcome {
  code: number | null
  killed: boolean
  stderr: string
  runId: string | undefined
  /** Nodes printed as completed: the CLI prints an event only after committing it. */
  reported: string[]
}

/** Runs the CLI; with `kill`, SIGKILLs it `delayMs` after the `nth` side-file line of `phase` it writes. */
function weft(args: string[], side: string, kill?: { phase: 'start' | 'end'; nth: number; delayMs: number }): Promise<Outcome> {
  const from = readLines(side).length
  const child = spawn(process.execPath, ['--import', 'tsx', path.join(root, 'cli', 'weft.ts'), ...args], { cwd: root, env, stdio: ['ignore', 'ignore', 'pipe'] })
  let stderr = ''
  child.stderr.setEncoding('utf8').on('data', (chunk: string) => (stderr += chunk))
  let timer: NodeJS.Timeout | undefined
  const check = () => {
    if (!kill || timer) return
    const seen = readLines(side).slice(from).filter((l) => l.startsWith(`${kill.phase} `)).length
    if (seen >= kill.nth) timer = setTimeout(() => child.kill('SIGKILL'), kill.delayMs)
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
      })
    })
  })
}

/** What the store holds, read in this process (the CLI's own store code) while no weft process runs. */
async function stored(id: string): Promise<{ run: RunRecord; events: RunEvent[] }> {
  const store = await openRunStore({ env })
  try {
    const run = await store.getRun(id)
    assert.ok(run, `run ${id} is not recorded`)
    return { run, events: await store.listEvents(id) }
  } finally {
    await store.close()
  }
}

interface Kill {
  phase: 'start' | 'end'
  /** Side-file lines when the process was gone: later lines were written by later processes. */
  cut: number
  committed: Set<string>
  reported: string[]
}

/** One run killed `quota` times (alternately inside a node and 0–5 ms after a node's end), then resumed to the end. */
async function crashRun(name: string, quota: number) {
  const { yaml, ids, expected } = crashPipeline()
  const file = path.join(dir, `${name}.yaml`)
  const side = path.join(dir, `${name}.log`)
  writeFileSync(file, yaml)
  writeFileSync(side, '')
  const kills: Kill[] = []
  let id: string | undefined
  let committed = new Set<string>()
  for (let processes = 0; processes < quota + 6; processes++) {
    const phase = kills.length % 2 ? 'end' : 'start'
    const kill = kills.length < quota ? { phase, nth: 1 + Math.floor(Math.random() * (ids.length - committed.size)), delayMs: Math.random() * (phase === 'start' ? 15 : 5) } as const : undefined
    const command = id ? ['resume', id] : ['run', file, '--input', `log=${side}`]
    const out = await weft(command, side, kill)
    id ??= out.runId
    assert.ok(id, `weft run printed no run id (exit ${out.code}):\n${out.stderr}`)
    if (!out.killed) {
      if (out.code === 0) break
      // the killed owner's lease (300 ms) had not run out yet
      assert.match(out.stderr, /RUN_LEASED/, `weft ${command[0]} exited ${out.code}:\n${out.stderr}`)
      await sleep(300)
      continue
    }
    const { run } = await stored(id)
    committed = new Set(Object.values(run.nodes).filter((n) => n.status === 'succeeded').map((n) => n.id))
    kills.push({ phase, cut: readLines(side).length, committed, reported: out.reported })
    if (run.status === 'completed') break
  }
  const { run, events } = await stored(id!)
  return { run, events, kills, ids, expected, lines: readLines(side) }
}

describe(`crash safety (${env.DATABASE_URL ? 'Postgres' : 'PGlite'}): SIGKILL, then weft resume`, () => {
  after(() => rmSync(dir, { recursive: true, force: true }))

  it('completes each run and never executes a node again once the store holds it as succeeded', { timeout: 150_000 }, async () => {
    const runs = [await crashRun('first', 4), await crashRun('second', 3)]
    assert.ok(runs.reduce((n, r) => n + r.kills.length, 0) >= 6, 'at least 6 kills landed')
    for (const { run, events, kills, ids, expected, lines } of runs) {
      assert.equal(run.status, 'completed')
      assert.deepEqual(run.outputs, { total: expected })
      const reexecuted = kills.flatMap((k, i) => lines.slice(k.cut).filter((l) => l.startsWith('start ')).map((l) => l.split(' ')[1]!).filter((n) => k.committed.has(n)).map((n) => `${n} after kill ${i + 1} (${k.phase})`))
      assert.deepEqual(reexecuted, [], 'committed nodes executed again')
      const lost = kills.flatMap((k) => k.reported.filter((n) => !k.committed.has(n)))
      assert.deepEqual(lost, [], 'nodes printed as completed before a kill are succeeded in the store after it')
      const completions = events.filter((e) => e.type === 'node.completed').map((e) => e.node!).sort()
      assert.deepEqual(completions, [...ids].sort(), 'one node.completed event per node')
      assert.deepEqual(events.map((e) => e.seq), events.map((_, i) => i + 1))
    }
  })
})
