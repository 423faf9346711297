// A fleet of `weft worker` processes on a fresh Postgres database: one run's fan-out spread over them, and workers
// SIGKILLed at random instants while runs go on. Needs DATABASE_URL (CI sets it).
import { after, describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { spawn, spawnSync, type ChildProcess } from 'node:child_process'
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import path from 'node:path'
import { fileURLToPath } from 'node:url'
import { testPluginDirs } from '../../helpers.ts'
import postgres from 'postgres'
import { closeAdmin, createDatabase } from '../../support/pg-database.ts'
import { openRunStore } from '../../../engine/adapters/open-store.ts'
import type { RunRecord, RunStore } from '../../../engine/ports.ts'
import { seededRandom } from '../../../engine/seeded.ts'
import { QUEUE_SCHEMA } from '../../../engine/fleet/queue.ts'

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..', '..')
const cli = path.join(root, 'cli', 'weft.ts')
const where = path.join(root, 'test', 'fixtures', 'plugins', 'where.mjs')

after(closeAdmin)

function pipelineFile(dir: string, items: number, ms: number, log: string, extra = ''): string {
  const file = path.join(dir, `fan-${items}.yaml`)
  writeFileSync(
    file,
    `
pipeline: fleet_fan
plugins: [${where}]
nodes:
  first: { type: where, log: ${log}, ms: 10 }
  fan:
    type: fan_out
    needs: [first]
    items: \${{ [${Array.from({ length: items }, (_, i) => i).join(', ')}] }}
    concurrency: 8
    node: { type: where, value: '\${{ item * 2 }}', ms: ${ms}, log: ${log} }
${extra}
outputs:
  values: \${{ nodes.fan.output.results.map(r, r.value) }}
  pids: \${{ nodes.fan.output.results.map(r, r.pid) }}
`,
  )
  return file
}

interface Env {
  [k: string]: string | undefined
}

/** The processes with an execution started and not done, from the `where` nodes' log. */
function inFlight(log: string): Set<number> {
  let text = ''
  try {
    text = readFileSync(log, 'utf8')
  } catch {
    return new Set()
  }
  const open = new Map<string, number>()
  for (const line of text.split('\n')) {
    const [kind, , exec, pid] = line.split(' ')
    if (kind === 'start' && exec) open.set(exec, Number(pid))
    else if (kind === 'done' && exec) open.delete(exec)
  }
  return new Set(open.values())
}

/** What workers said when a state they brought up to date differed from a whole read (each checks every one). */
const diverged: string[] = []

/** A fresh database and folder for one test (`prefix` names the folder), and the environment its workers and CLI runs share. */
async function fleetCase(prefix: string, heartbeatTtl: string): Promise<{ db: Awaited<ReturnType<typeof createDatabase>>; dir: string; log: string; env: Env }> {
  const db = await createDatabase()
  const dir = mkdtempSync(path.join(tmpdir(), prefix))
  const env: Env = { ...process.env, DATABASE_URL: db.url, WEFT_DATA_DIR: path.join(dir, 'data'), WEFT_PLUGIN_DIRS: testPluginDirs.join(path.delimiter), WEFT_HEARTBEAT_TTL: heartbeatTtl }
  return { db, dir, log: path.join(dir, 'exec.log'), env }
}

function startWorker(env: Env, extra: string[] = []): ChildProcess {
  const child = spawn(process.execPath, ['--import', 'tsx', cli, 'worker', '--concurrency', '4', '--executor', 'inline', ...extra], {
    cwd: root,
    env: { ...env, WEFT_FLEET_CHECK: '1' },
    stdio: ['ignore', 'ignore', 'pipe'],
  })
  child.stderr!.setEncoding('utf8')
  let err = ''
  child.stderr!.on('data', (d: string) => {
    err = (err + d).slice(-4000)
    for (const line of d.split('\n')) if (line.includes('differs from a whole read')) diverged.push(line)
  })
  child.on('exit', (code, signal) => {
    if (code !== 0 && signal !== 'SIGKILL' && signal !== 'SIGTERM') process.stderr.write(`worker ${child.pid} exited ${code ?? signal}: ${err}\n`)
  })
  return child
}

function detach(env: Env, file: string): string {
  const r = spawnSync(process.execPath, ['--import', 'tsx', cli, 'run', file, '--detach'], { cwd: root, env, encoding: 'utf8' })
  assert.equal(r.status, 0, r.stderr)
  return r.stdout.trim()
}

async function waitDone(store: RunStore, ids: string[], ms: number): Promise<RunRecord[]> {
  const end = Date.now() + ms
  for (;;) {
    const runs = await Promise.all(ids.map((id) => store.getRun(id)))
    if (runs.every((r) => r && ['completed', 'failed', 'cancelled'].includes(r.status))) return runs as RunRecord[]
    if (Date.now() > end) assert.fail(`runs not finished after ${ms} ms: ${runs.map((r) => `${r?.id} ${r?.status}`).join(', ')}`)
    await new Promise((r) => setTimeout(r, 200))
  }
}

const stop = (w: ChildProcess) =>
  new Promise<void>((resolve) => {
    if (w.exitCode !== null || w.signalCode !== null) return resolve()
    w.once('exit', () => resolve())
    w.kill('SIGTERM')
  })

describe('weft run --detach', () => {
  it('refuses --decisions (a detached run is decided through the API), --executor inline and a missing DATABASE_URL, with exit 2', () => {
    const file = path.join(root, 'pipelines', 'examples', 'headlines.yaml')
    const args = ['--import', 'tsx', cli, 'run', file, '--input', 'prompt=One. Two.', '--detach']
    const noDb = spawnSync(process.execPath, args, { cwd: root, env: { ...process.env, DATABASE_URL: '' }, encoding: 'utf8' })
    assert.equal(noDb.status, 2)
    assert.match(noDb.stderr, /set DATABASE_URL/)
    const decisions = spawnSync(process.execPath, [...args, '--decisions', 'd.yaml'], { cwd: root, env: { ...process.env, DATABASE_URL: 'postgres://nobody@127.0.0.1:1/none' }, encoding: 'utf8' })
    assert.equal(decisions.status, 2)
    assert.match(decisions.stderr, /--decisions answers gates of a run this process drives/)
    const inline = spawnSync(process.execPath, [...args, '--executor', 'inline'], { cwd: root, env: { ...process.env, DATABASE_URL: 'postgres://nobody@127.0.0.1:1/none' }, encoding: 'utf8' })
    assert.equal(inline.status, 2)
    assert.match(inline.stderr, /--executor applies to runs this process drives/)
  })
})

if (!process.env.DATABASE_URL) {
  describe('fleet of workers', () => {
    it('runs on Postgres', { skip: 'DATABASE_URL is not set; this runs in CI, where it is set (locally: DATABASE_URL=postgres://postgres@127.0.0.1:5432/test)' }, () => {})
  })
} else {
  describe('fleet of workers', { timeout: 240_000 }, () => {
    after(() => assert.deepEqual(diverged, [], 'every state a worker brought up to date agreed with a whole read'))

    it('a pool with a queue of its own runs only on workers started with --queues naming it; the rest on the default queue', async () => {
      const { db, dir, env } = await fleetCase('weft-fleet-queues-', '3s')
      const file = path.join(dir, 'queues.yaml')
      writeFileSync(
        file,
        `
pipeline: fleet_queues
plugins: [${where}]
pools: { gpu: { max: 2, queue: gpu } }
nodes:
  plan: { type: where, ms: 10 }
  renders:
    type: fan_out
    needs: [plan]
    pool: gpu
    items: \${{ [1, 2, 3, 4, 5, 6] }}
    node: { type: where, ms: 30 }
  stitch: { type: where, needs: [renders], ms: 10 }
outputs:
  plan: \${{ nodes.plan.output.pid }}
  renders: \${{ nodes.renders.output.results.map(r, r.pid) }}
  stitch: \${{ nodes.stitch.output.pid }}
`,
      )
      const store = await openRunStore({ env })
      const cpu = startWorker(env)
      const gpu = startWorker(env, ['--queues', 'gpu'])
      try {
        const id = detach(env, file)
        const [run] = await waitDone(store, [id], 60_000)
        assert.equal(run!.status, 'completed', JSON.stringify(run!.error))
        const out = run!.outputs as { plan: number; renders: number[]; stitch: number }
        assert.deepEqual(out.renders, Array(6).fill(gpu.pid), 'every item of the gpu pool ran on the gpu worker')
        assert.equal(out.plan, cpu.pid)
        assert.equal(out.stitch, cpu.pid)
      } finally {
        await Promise.all([stop(cpu), stop(gpu)])
        await store.close()
        await db.drop()
      }
    })

    it('a worker stopped by SIGTERM while items run (told twice, as supervisors do) finishes them, exits 0 and leaves no queue job locked', async () => {
      const { db, dir, log, env } = await fleetCase('weft-fleet-stop-', '3s')
      const store = await openRunStore({ env })
      const pg = postgres(db.url, { max: 1, onnotice: () => {} })
      const first = startWorker(env)
      let second: ChildProcess | undefined
      try {
        const id = detach(env, pipelineFile(dir, 4, 400, log))
        // the items are running on it (their jobs are its own) when it is told to stop: their completions come after
        const t0 = Date.now()
        while (!readFileSync(log, { encoding: 'utf8', flag: 'a+' }).includes('fan[') && Date.now() - t0 < 30_000) await new Promise((r) => setTimeout(r, 20))
        const exited = new Promise<number | null>((resolve) => first.once('exit', (code) => resolve(code)))
        first.kill('SIGTERM')
        // a second SIGTERM while it stops does not cut the stop short
        await new Promise((r) => setTimeout(r, 100))
        first.kill('SIGTERM')
        assert.equal(await exited, 0)
        const [locked] = await pg.unsafe(`select count(*)::int as n from ${QUEUE_SCHEMA}._private_jobs where locked_by is not null`)
        assert.equal(locked!.n, 0, 'no job left locked by the stopped worker')
        second = startWorker(env)
        const [run] = await waitDone(store, [id], 60_000)
        assert.equal(run!.status, 'completed', JSON.stringify(run!.error))
      } finally {
        if (second) await stop(second)
        await pg.end()
        await store.close()
        await db.drop()
      }
    })

    it('weft show lists a node no worker has taken as queued, and as succeeded once a worker has run it', async () => {
      const { db, dir, log, env } = await fleetCase('weft-fleet-show-', '3s')
      const store = await openRunStore({ env })
      const show = (id: string) => spawnSync(process.execPath, ['--import', 'tsx', cli, 'show', id], { cwd: root, env, encoding: 'utf8' }).stdout
      let worker: ChildProcess | undefined
      try {
        // no worker yet: the first node is dispatched (running in the record) and waits in the queue
        const id = detach(env, pipelineFile(dir, 3, 10, log))
        const before = show(id)
        assert.match(before, /^ {2}queued {4}first \[where\] \(waiting for a worker\)$/m, before)
        assert.match(before, /^ {2}pending {3}fan \[fan_out\]$/m, before)
        worker = startWorker(env)
        const [run] = await waitDone(store, [id], 60_000)
        assert.equal(run!.status, 'completed', JSON.stringify(run!.error))
        const done = show(id)
        assert.match(done, /^ {2}succeeded first \[where\]/m, done)
        assert.doesNotMatch(done, /waiting for a worker/)
      } finally {
        if (worker) await stop(worker)
        await store.close()
        await db.drop()
      }
    })

    it('3 worker processes run a fan-out of 60 items: each item once, on all 3, outputs in order; SIGTERM exits 0', async () => {
      const { db, dir, log, env } = await fleetCase('weft-fleet-', '3s')
      const store = await openRunStore({ env })
      const workers = [startWorker(env), startWorker(env), startWorker(env)]
      try {
        const id = detach(env, pipelineFile(dir, 60, 40, log))
        const [run] = await waitDone(store, [id], 120_000)
        assert.equal(run!.status, 'completed', JSON.stringify(run!.error))
        const outputs = run!.outputs as { values: number[]; pids: number[] }
        assert.deepEqual(
          outputs.values,
          Array.from({ length: 60 }, (_, i) => i * 2),
        )
        const pids = new Set(outputs.pids)
        assert.deepEqual([...pids].sort(), workers.map((w) => w.pid).sort(), 'items ran on all three workers')
        const starts = readFileSync(log, 'utf8')
          .trim()
          .split('\n')
          .filter((l) => l.startsWith('start '))
          .map((l) => l.split(' ')[1]!.split('/')[1])
        const counts = new Map<string, number>()
        for (const k of starts) counts.set(k!, (counts.get(k!) ?? 0) + 1)
        assert.equal(counts.size, 61)
        assert.deepEqual(
          [...counts.values()].filter((n) => n !== 1),
          [],
          'every task executed exactly once',
        )
        const events = await store.listEvents(id)
        assert.deepEqual(
          events.map((e) => e.seq),
          events.map((_, i) => i + 1),
          'one sequence, no gaps',
        )
        // each task has a position of its own (they order admission under caps), and the run's counter is past them all
        const pg = postgres(db.url, { max: 1, onnotice: () => {} })
        try {
          const positions = (await pg`select position from fleet_tasks where run_id = ${id}`).map((r) => Number(r.position))
          assert.equal(new Set(positions).size, positions.length, 'no two tasks share a position')
          const [fr] = await pg`select next_position from fleet_runs where run_id = ${id}`
          assert.equal(Number(fr!.next_position), Math.max(...positions) + 1)
        } finally {
          await pg.end()
        }
      } finally {
        const codes = await Promise.all(workers.map((w) => stop(w).then(() => w.exitCode)))
        assert.deepEqual(codes, [0, 0, 0], 'SIGTERM: workers finish and exit 0')
        await store.close()
        await db.drop()
      }
    })

    it('workers share the node cache of their machine: the same run detached again executes nothing, and says which run computed each result', async () => {
      const { db, dir, log, env } = await fleetCase('weft-fleet-cache-', '3s')
      // the log is named by the environment: a file named in a node's fields counts by its content in the key
      env.EXEC_LOG = log
      writeFileSync(
        path.join(dir, 'counted.mjs'),
        `
import { appendFileSync } from 'node:fs'
export default {
  type: 'counted',
  execute({ config, node }) {
    appendFileSync(process.env.EXEC_LOG, 'start ' + node.id + ' ' + process.pid + '\\n')
    return { value: config.value, pid: process.pid }
  },
}
`,
      )
      const file = path.join(dir, 'cached.yaml')
      writeFileSync(
        file,
        `
pipeline: fleet_cached
plugins: [./counted.mjs]
nodes:
  first: { type: counted, value: 7, cache: true }
  fan:
    type: fan_out
    items: \${{ [0, 1, 2, 3, 4, 5] }}
    node: { type: counted, item: '\${{ item }}', value: '\${{ item * nodes.first.output.value }}', cache: true }
outputs:
  values: \${{ nodes.fan.output.results.map(r, r.value) }}
`,
      )
      const store = await openRunStore({ env })
      const workers = [startWorker(env), startWorker(env)]
      try {
        const [a] = await waitDone(store, [detach(env, file)], 60_000)
        assert.equal(a!.status, 'completed', JSON.stringify(a!.error))
        const executed = () =>
          readFileSync(log, 'utf8')
            .trim()
            .split('\n')
            .filter((l) => l.startsWith('start ')).length
        assert.equal(executed(), 7)
        assert.deepEqual(a!.nodes.first!.cache?.hit, false, JSON.stringify(a!.nodes.first))
        const [b] = await waitDone(store, [detach(env, file)], 60_000)
        assert.equal(b!.status, 'completed')
        assert.equal(executed(), 7, 'the second run executed nothing')
        assert.deepEqual(b!.outputs, a!.outputs)
        assert.deepEqual(b!.nodes.first!.cache, { key: a!.nodes.first!.cache!.key, hit: true, from: { run: a!.id, node: 'first' } })
        const hits = (await store.listEvents(b!.id)).filter((e) => e.type === 'node.progress' && (e.payload.cache as { hit?: boolean } | undefined)?.hit)
        assert.equal(hits.length, 6, 'each fan-out item came from the cache')
      } finally {
        await Promise.all(workers.map((w) => stop(w)))
        await store.close()
        await db.drop()
      }
    })

    it('an interactive run waits at its gate holding no worker; decisions recorded through the store (as the API does) move it on', async () => {
      const { db, dir, log, env } = await fleetCase('weft-fleet-gate-', '3s')
      const store = await openRunStore({ env })
      const workers = [startWorker(env), startWorker(env)]
      try {
        const file = pipelineFile(dir, 3, 10, log, '  review: { type: approval, gate: first }\n')
        const r = spawnSync(process.execPath, ['--import', 'tsx', cli, 'run', file, '--detach', '--interactive'], { cwd: root, env, encoding: 'utf8' })
        assert.equal(r.status, 0, r.stderr)
        const id = r.stdout.trim()
        // a session of its own, so that a console or a WebSocket client of `weft serve` can follow it and decide its gates
        assert.equal((await store.getRun(id))!.session_id, id)
        assert.deepEqual(
          (await store.listRuns({ sessionId: id })).map((x) => x.id),
          [id],
        )
        const waitFor = async (pred: () => Promise<boolean>) => {
          for (const end = Date.now() + 30_000; !(await pred()); ) {
            if (Date.now() > end) assert.fail('timed out')
            await new Promise((res) => setTimeout(res, 100))
          }
        }
        await waitFor(async () => (await store.pendingApprovals(id)).length === 1)
        assert.equal((await store.getRun(id))!.status, 'awaiting_approval')
        // no process resumes it: it is the fleet's, and that is said first (not that a gate needs a terminal)
        const resume = spawnSync(process.execPath, ['--import', 'tsx', cli, 'resume', id], { cwd: root, env, encoding: 'utf8' })
        assert.equal(resume.status, 1)
        assert.match(resume.stderr, new RegExp(`^RUN_LEASED: run ${id} is driven by the fleet`))
        assert.equal((await store.decideApproval(id, 'review', 0, { decision: 'revise', feedback: 'again', by: 'ann' }))!.applied, true)
        await waitFor(async () => (await store.pendingApprovals(id)).some((a) => a.request.revision === 1))
        const claim = await store.claimRun(id, 'someone-else', 1000)
        assert.equal(claim, false, 'no single process can take a fleet run as its own')
        await store.decideApproval(id, 'review', 1, { decision: 'approve', by: 'ann' })
        const [run] = await waitDone(store, [id], 30_000)
        assert.equal(run!.status, 'completed', JSON.stringify(run!.error))
        const events = await store.listEvents(id)
        assert.deepEqual(
          events.filter((e) => e.type.startsWith('approval.')).map((e) => `${e.type} ${e.payload.revision}`),
          ['approval.requested 0', 'approval.resolved 0', 'approval.requested 1', 'approval.resolved 1'],
        )
        assert.equal(events.filter((e) => e.type === 'node.completed' && e.node === 'first' && e.payload.revision === 1).length, 1, 'the gated node was revised once')
        // a detached re-run waits at its gates only when asked to (--interactive), whatever the run it re-runs did
        const rerun = spawnSync(process.execPath, ['--import', 'tsx', cli, 'rerun', id, '--detach'], { cwd: root, env, encoding: 'utf8' })
        assert.equal(rerun.status, 0, rerun.stderr)
        const [again] = await waitDone(store, [rerun.stdout.trim()], 30_000)
        assert.deepEqual([again!.status, again!.interactive], ['completed', false])
      } finally {
        await Promise.all(workers.map(stop))
        await store.close()
        await db.drop()
      }
    })

    it("a worker started with a shorter heartbeat TTL than the others does not take a live worker's task", async () => {
      const { db, dir, log, env } = await fleetCase('weft-fleet-ttl-', '3s')
      const store = await openRunStore({ env })
      const workers = [startWorker(env)]
      try {
        const file = path.join(dir, 'long.yaml')
        writeFileSync(file, `pipeline: fleet_long\nplugins: [${where}]\nnodes:\n  long: { type: where, log: ${log}, ms: 6000 }\n`)
        const id = detach(env, file)
        const t0 = Date.now()
        while (!readFileSync(log, { encoding: 'utf8', flag: 'a+' }).includes('start') && Date.now() - t0 < 30_000) await new Promise((r) => setTimeout(r, 20))
        // the long node held by the 3 s worker; a worker with a 300 ms TTL joins (it would find that heartbeat lapsed every time)
        workers.push(startWorker({ ...env, WEFT_HEARTBEAT_TTL: '300ms' }))
        const [run] = await waitDone(store, [id], 30_000)
        assert.equal(run!.status, 'completed', JSON.stringify(run!.error))
        assert.equal(
          readFileSync(log, 'utf8')
            .split('\n')
            .filter((l) => l.startsWith('start')).length,
          1,
          'executed once',
        )
        assert.deepEqual(
          (await store.listEvents(id)).filter((e) => e.type === 'node.retrying'),
          [],
          'never handed on',
        )
      } finally {
        await Promise.all(workers.map(stop))
        await store.close()
        await db.drop()
      }
    })

    it('weft rerun --detach hands the re-run to the fleet: the kept nodes are not executed again, the rest are', async () => {
      const { db, dir, log, env } = await fleetCase('weft-fleet-rerun-', '3s')
      const store = await openRunStore({ env })
      const worker = startWorker(env)
      try {
        const id = detach(env, pipelineFile(dir, 3, 10, log))
        const [first] = await waitDone(store, [id], 30_000)
        assert.equal(first!.status, 'completed', JSON.stringify(first!.error))
        // refused before anything is read or copied
        for (const [extra, said] of [
          [['--no-cache'], /--no-cache applies to runs this process drives/],
          [['--executor', 'inline'], /--executor applies to runs this process drives/],
          [['--decisions', 'd.yaml'], /--decisions answers gates of a run this process drives/],
        ] as const) {
          const refused = spawnSync(process.execPath, ['--import', 'tsx', cli, 'rerun', id, '--detach', ...extra], { cwd: root, env, encoding: 'utf8' })
          assert.equal(refused.status, 2)
          assert.match(refused.stderr, said)
        }
        const r = spawnSync(process.execPath, ['--import', 'tsx', cli, 'rerun', id, '--from', 'fan', '--detach'], { cwd: root, env, encoding: 'utf8' })
        assert.equal(r.status, 0, r.stderr)
        const again = r.stdout.trim()
        assert.notEqual(again, id)
        const [second] = await waitDone(store, [again], 30_000)
        assert.equal(second!.status, 'completed', JSON.stringify(second!.error))
        assert.deepEqual(second!.outputs!.values, [0, 2, 4])
        const started = (run: string) =>
          readFileSync(log, 'utf8')
            .split('\n')
            .filter((l) => l.startsWith(`start ${run}/`))
            .map((l) => l.split(' ')[1]!.slice(run.length + 1))
            .sort()
        assert.deepEqual(started(again), ['fan[0]', 'fan[1]', 'fan[2]'], 'first kept, not executed again')
        assert.deepEqual(second!.nodes.first!.output, first!.nodes.first!.output)
        assert.equal((await store.listEvents(again))[0]!.payload.rerun_of, id)
        assert.equal((await store.listRuns({})).length, 2, 'the refused re-runs recorded nothing')
      } finally {
        await stop(worker)
        await store.close()
        await db.drop()
      }
    })

    it('a job locked by a worker killed before it claimed the task (or before it said it was alive) is unlocked and run', async () => {
      const { db, dir, env } = await fleetCase('weft-fleet-orphan-', '1s')
      const store = await openRunStore({ env })
      const pg = postgres(db.url, { max: 1, onnotice: () => {} })
      let worker: ChildProcess | undefined
      try {
        const id = detach(env, pipelineFile(dir, 2, 10, path.join(dir, 'exec.log')))
        // the first node's job, as a worker that died holding it leaves it: locked, by a queue worker nobody knows
        const locked = await pg`update graphile_worker._private_jobs set locked_by = 'gone-worker', locked_at = now() - interval '10 seconds' returning id`
        assert.equal(locked.length, 1)
        worker = startWorker(env)
        const [run] = await waitDone(store, [id], 30_000)
        assert.equal(run!.status, 'completed', JSON.stringify(run!.error))
      } finally {
        if (worker) await stop(worker)
        await pg.end()
        await store.close()
        await db.drop()
      }
    })

    it('a run whose pipeline file is gone by the time a worker steps it ends failed, naming the file, instead of waiting forever', async () => {
      const { db, dir, env } = await fleetCase('weft-fleet-gone-', '1s')
      const store = await openRunStore({ env })
      let worker: ChildProcess | undefined
      try {
        const file = pipelineFile(dir, 2, 10, path.join(dir, 'exec.log'))
        const id = detach(env, file)
        rmSync(file)
        worker = startWorker(env)
        const [run] = await waitDone(store, [id], 30_000)
        assert.equal(run!.status, 'failed')
        assert.equal(run!.error!.code, 'PIPELINE_NOT_FOUND')
        assert.match(run!.error!.message, /fan-2\.yaml/)
        // its nodes end with it: the one dispatched is cancelled, those not started are skipped
        assert.deepEqual(Object.fromEntries(Object.values(run!.nodes).map((n) => [n.id, n.status])), { first: 'cancelled', fan: 'skipped' })
        const types = (await store.listEvents(id)).map((e) => `${e.type}${e.node ? ` ${e.node}` : ''}`)
        assert.deepEqual(types.slice(-3), ['node.cancelled first', 'node.skipped fan', 'run.failed'])
        // ended, and its file gone: resume says it has ended, before it looks for the file
        const resumed = spawnSync(process.execPath, ['--import', 'tsx', cli, 'resume', id], { cwd: root, env, encoding: 'utf8' })
        assert.equal(resumed.status, 1, resumed.stderr)
        assert.match(resumed.stderr, /^RUN_FINISHED: run \S+ ran on the fleet and has ended \(failed\); a fleet run is not resumed/m)
      } finally {
        if (worker) await stop(worker)
        await store.close()
        await db.drop()
      }
    })

    it('workers SIGKILLed at random instants 20 times: every run completes, no committed task runs again, no gate asked twice', async (t) => {
      const { db, dir, log, env } = await fleetCase('weft-fleet-kill-', '1s')
      const store = await openRunStore({ env })
      const random = seededRandom(Number(process.env.WEFT_TEST_SEED ?? 7))
      const gate = `  review: { type: approval, gate: first }\n`
      const workers = [startWorker(env), startWorker(env), startWorker(env)]
      try {
        const file = pipelineFile(dir, 24, 120, log, gate)
        const ids = [detach(env, file), detach(env, file), detach(env, file)]
        for (let kill = 0; kill < 20; kill++) {
          await new Promise((r) => setTimeout(r, 150 + random() * 600))
          // every other kill goes to a worker that is in the middle of an attempt, when one is: a kill that lands
          // only between attempts (or on a worker still starting) proves little
          const busy = inFlight(log)
          const mid = workers.findIndex((w) => w.pid !== undefined && busy.has(w.pid))
          const i = kill % 2 === 0 && mid >= 0 ? mid : Math.floor(random() * workers.length)
          workers[i]!.kill('SIGKILL')
          workers[i] = startWorker(env)
          if (kill === 9) ids.push(detach(env, file), detach(env, file))
        }
        const runs = await waitDone(store, ids, 150_000).catch(async (err: Error) => {
          // what a stuck run is waiting on, for whoever reads the failure
          const pg = postgres(db.url, { max: 1, onnotice: () => {} })
          const tasks = await pg`select run_id, key, status, fence, attempt, worker, heartbeat_at from fleet_tasks where status in ('ready', 'queued', 'running', 'backoff')`
          const jobs = await pg`select task_identifier, payload, locked_by, locked_at, attempts, run_at from graphile_worker._private_jobs j join graphile_worker._private_tasks t on t.id = j.task_id`
          await pg.end()
          throw new Error(`${err.message}\nopen tasks: ${JSON.stringify(tasks)}\njobs: ${JSON.stringify(jobs)}`)
        })
        for (const r of runs) assert.equal(r.status, 'completed', `${r.id}: ${JSON.stringify(r.error)}`)
        // a committed task's execution is the last one of that task to start: nothing ran it again after its commit
        const lastStart = new Map<string, string>()
        for (const l of readFileSync(log, 'utf8').trim().split('\n')) {
          const [kind, key, exec] = l.split(' ')
          if (kind === 'start') lastStart.set(key!, exec!)
        }
        let reexecuted = 0
        for (const r of runs) {
          const committed: Array<[string, string]> = [[`${r.id}/first`, (r.nodes.first!.output as { exec: string }).exec]]
          ;(r.nodes.fan!.output as { results: Array<{ exec: string }> }).results.forEach((x, i) => {
            committed.push([`${r.id}/fan[${i}]`, x.exec])
          })
          for (const [key, exec] of committed) if (lastStart.get(key) !== exec) reexecuted++
          const events = await store.listEvents(r.id)
          assert.equal(events.filter((e) => e.type === 'approval.requested').length, 1, `${r.id}: the gate is asked once`)
          assert.deepEqual(
            events.map((e) => e.seq),
            events.map((_, i) => i + 1),
            `${r.id}: one sequence, no gaps`,
          )
          const completed = events.filter((e) => e.type === 'node.completed').map((e) => e.node)
          assert.equal(new Set(completed).size, completed.length, `${r.id}: no node completed twice`)
        }
        assert.equal(reexecuted, 0, 'committed tasks executed again')
        // the kills landed during attempts (not only between them): some executions never committed and ran again
        const starts = [...readFileSync(log, 'utf8').matchAll(/^start /gm)].length
        const commits = runs.length * 25
        t.diagnostic(`${starts} executions for ${commits} committed tasks: ${starts - commits} cut off by a kill and run again`)
        assert.ok(starts > commits, 'no kill landed during an attempt')
      } finally {
        await Promise.all(workers.map(stop))
        await store.close()
        await db.drop()
      }
    })
  })
}
