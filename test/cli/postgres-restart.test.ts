// Postgres restarted under a running `weft run`: the run pauses and goes on once the database is back; down for
// longer than the store retries, the process stops with a one-line error and `weft resume` finishes the run. Either
// way no node the store held as succeeded runs again, and the node rows and the event log have no duplicate or gap.
// The cluster is a private one (initdb in a temp dir, its own port), never the machine's shared server.
import { after, before, beforeEach, describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { spawn, spawnSync, type ChildProcess } from 'node:child_process'
import { chownSync, existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { createServer } from 'node:net'
import { tmpdir } from 'node:os'
import path from 'node:path'
import { setTimeout as sleep } from 'node:timers/promises'
import { fileURLToPath } from 'node:url'
import postgres, { type Sql } from 'postgres'
import { testPluginDirs } from '../helpers.ts'

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..')
const bin = '/usr/lib/postgresql/15/bin'
// bench/nodes/logged.mjs: a `start` line when an execution begins, an `end` line when its work is done
const plugin = path.join(root, 'bench', 'nodes', 'logged.mjs')

/** Why this machine cannot host a private cluster, or undefined when it can. */
function unavailable(): string | undefined {
  if (process.platform !== 'linux') return 'needs Linux with PostgreSQL 15 server binaries'
  for (const tool of ['initdb', 'pg_ctl', 'postgres']) if (!existsSync(path.join(bin, tool))) return `needs ${path.join(bin, tool)} (apt-get install postgresql-15)`
  const uid = spawnSync('id', ['-u', 'postgres'], { encoding: 'utf8' })
  if (uid.status !== 0) return 'needs a `postgres` OS user to run the cluster as'
  const me = process.getuid?.()
  if (me !== 0 && me !== Number(uid.stdout.trim())) return 'needs to run as root (to start PostgreSQL as the postgres user) or as postgres'
  return undefined
}

const skip = unavailable()
const dir = mkdtempSync(path.join(tmpdir(), 'weft-pg-restart-'))
let cluster: Cluster | undefined
/** CLI processes still running (a failed test leaves its process behind). */
const children = new Set<ChildProcess>()

after(() => {
  for (const child of children) child.kill('SIGKILL')
  cluster?.remove()
  rmSync(dir, { recursive: true, force: true })
})

/** A PostgreSQL cluster of this test's own, run as the postgres user; `remove()` stops it and deletes it, whatever state it is in. */
class Cluster {
  readonly home: string
  readonly data: string
  readonly url: string

  constructor(readonly port: number) {
    this.home = mkdtempSync(path.join(tmpdir(), 'weft-pg-cluster-'))
    this.data = path.join(this.home, 'data')
    this.url = `postgres://postgres@127.0.0.1:${port}/postgres`
    if (process.getuid?.() === 0) {
      const uid = Number(spawnSync('id', ['-u', 'postgres'], { encoding: 'utf8' }).stdout.trim())
      const gid = Number(spawnSync('id', ['-g', 'postgres'], { encoding: 'utf8' }).stdout.trim())
      chownSync(this.home, uid, gid)
    }
  }

  /** Runs a server binary as the postgres user; throws with its output when it fails. */
  #run(tool: string, args: string[]): void {
    const cmd = path.join(bin, tool)
    const r =
      process.getuid?.() === 0 ? spawnSync('runuser', ['-u', 'postgres', '--', cmd, ...args], { encoding: 'utf8', timeout: 20_000 }) : spawnSync(cmd, args, { encoding: 'utf8', timeout: 20_000 })
    if (r.status !== 0) throw new Error(`${tool} ${args.join(' ')} exited ${r.status}:\n${r.stdout}${r.stderr}`)
  }

  init(): void {
    this.#run('initdb', ['-D', this.data, '-U', 'postgres', '-A', 'trust', '-E', 'UTF8', '--no-sync'])
  }

  start(): void {
    // loopback only, the socket in the cluster's own directory; fsync off: nothing here must survive a power cut
    const opts = `-p ${this.port} -k '${this.home}' -c listen_addresses=127.0.0.1 -c fsync=off`
    this.#run('pg_ctl', ['-D', this.data, '-l', path.join(this.home, 'server.log'), '-o', opts, '-w', '-t', '15', 'start'])
  }

  stop(): void {
    this.#run('pg_ctl', ['-D', this.data, '-m', 'fast', '-w', '-t', '15', 'stop'])
  }

  /** Starts the server unless it runs (a test that failed while it was down left it so). */
  ensureRunning(): void {
    try {
      this.#run('pg_ctl', ['-D', this.data, 'status'])
    } catch {
      this.start()
    }
  }

  remove(): void {
    if (existsSync(path.join(this.data, 'postmaster.pid'))) {
      try {
        this.#run('pg_ctl', ['-D', this.data, '-m', 'immediate', '-w', 'stop'])
      } catch {
        // stopped already
      }
    }
    rmSync(this.home, { recursive: true, force: true })
  }
}

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer().once('error', reject)
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as { port: number }
      server.close(() => resolve(port))
    })
  })
}

const $ = (s: string) => '$' + `{{ ${s} }}`
const ids = ['n1', 'n2', 'n3', 'p1', 'p2', 'p3', 'n4', 'n5', 'n6']

/** n1 → n2 → n3 → p1, p2, p3 (side by side, 600 ms each: time to stop the database) → n4 → n5 → n6 (200 ms each). */
function writePipeline(name: string): string {
  const needs: Record<string, string[]> = { n2: ['n1'], n3: ['n2'], p1: ['n3'], p2: ['n3'], p3: ['n3'], n4: ['p1', 'p2', 'p3'], n5: ['n4'], n6: ['n5'] }
  const lines = [`pipeline: ${name}`, `plugins: [${JSON.stringify(plugin)}]`, 'inputs:', '  log: { type: string, required: true }', 'nodes:']
  for (const id of ids) lines.push(`  ${id}: { type: logged, log: '${$('inputs.log')}', ms: ${id.startsWith('p') ? 600 : 200}, value: 1${needs[id] ? `, needs: [${needs[id].join(', ')}]` : ''} }`)
  const file = path.join(dir, `${name}.yaml`)
  writeFileSync(file, lines.join('\n') + '\n')
  return file
}

const readLines = (file: string) => (existsSync(file) ? readFileSync(file, 'utf8').split('\n').filter(Boolean) : [])

/** Resolves once `ready()` holds (checked every 10 ms); rejects after `ms`. */
async function until(ready: () => boolean, ms: number, what: string): Promise<void> {
  const deadline = Date.now() + ms
  while (!ready()) {
    if (Date.now() > deadline) throw new Error(`timed out after ${ms} ms waiting for ${what}`)
    await sleep(10)
  }
}

interface Exit {
  code: number | null
  stderr: string
  /** When it exited (ms since the epoch). */
  at: number
}

/** Starts the CLI against the private cluster; a process still alive after 25 s is killed (and the test fails). */
function weft(args: string[], env: Record<string, string>): { exited: Promise<Exit> } {
  const child = spawn(process.execPath, ['--import', 'tsx', path.join(root, 'cli', 'weft.ts'), ...args], {
    cwd: root,
    env: { ...process.env, WEFT_DATA_DIR: path.join(dir, 'weft'), WEFT_LEASE_TTL: '1s', WEFT_PLUGIN_DIRS: testPluginDirs.join(path.delimiter), ...env },
    stdio: ['ignore', 'ignore', 'pipe'],
  })
  children.add(child)
  let stderr = ''
  child.stderr.setEncoding('utf8').on('data', (chunk: string) => (stderr += chunk))
  const exited = new Promise<Exit>((resolve, reject) => {
    const guard = setTimeout(() => child.kill('SIGKILL'), 25_000)
    child.on('close', (code, signal) => {
      children.delete(child)
      clearTimeout(guard)
      if (signal) reject(new Error(`weft ${args.join(' ')} hung and was killed:\n${stderr}`))
      else resolve({ code, stderr, at: Date.now() })
    })
  })
  return { exited }
}

const runIdOf = (stderr: string) => /^run ([0-9a-f-]{36})$/m.exec(stderr)?.[1]

interface Stored {
  status: string
  owner: string | null
  nodes: Array<{ node_id: string; status: string; attempts: number }>
  /** Node rows beyond one per node id (the primary key makes them impossible; counted all the same). */
  duplicates: number
  events: Array<{ seq: number; type: string; node: string | null; at: number }>
}

/** The run as its tables hold it, read with plain SQL. */
async function stored(sql: Sql, id: string): Promise<Stored> {
  const [run] = await sql<Array<{ status: string; owner: string | null }>>`select status, owner from generations where id = ${id}`
  assert.ok(run, `run ${id} is not recorded`)
  const nodes = await sql<Stored['nodes']>`select node_id, status, attempts from generation_nodes where run_id = ${id} order by position`
  const [dup] = await sql<Array<{ n: number }>>`select count(*)::int - count(distinct node_id)::int as n from generation_nodes where run_id = ${id}`
  const events = await sql<Array<{ seq: number; type: string; node: string | null; timestamp: Date }>>`select seq, type, node, timestamp from generation_events where run_id = ${id} order by seq`
  return { ...run, nodes: [...nodes], duplicates: dup!.n, events: events.map((e) => ({ seq: e.seq, type: e.type, node: e.node, at: e.timestamp.getTime() })) }
}

/** Seq 1, 2, 3… with nothing missing or twice; each node completed once, and started as often as `times` says (default once). */
function assertEventLog(s: Stored, times: Record<string, number> = {}): void {
  assert.deepEqual(
    s.events.map((e) => e.seq),
    s.events.map((_, i) => i + 1),
    'event seqs run 1, 2, 3… without gaps',
  )
  for (const id of ids) {
    const of = (type: string) => s.events.filter((e) => e.type === type && e.node === id).length
    assert.equal(of('node.completed'), 1, `node.completed events of ${id}`)
    assert.equal(of('node.started'), times[id] ?? 1, `node.started events of ${id}`)
  }
}

/** `weft resume <id>`; again after a second while the lease of the process that gave up (1 s) has not run out. */
async function resume(id: string, env: Record<string, string>): Promise<Exit> {
  for (let tries = 1; ; tries++) {
    const out = await weft(['resume', id], env).exited
    if (out.code === 0 || tries === 3 || !/RUN_LEASED/.test(out.stderr)) return out
    await sleep(1000)
  }
}

const executions = (side: string, id: string) => readLines(side).filter((l) => l.startsWith(`start ${id} `)).length

describe('Postgres restarted under a running run', { timeout: 60_000 }, () => {
  if (skip) {
    // an `it` with the reason, so that the skip is counted and says why (a skipped describe counts no test)
    it('pauses or stops cleanly, then completes, with every node once and no gap in the event log', { skip: `${skip}; CI runs it as root` }, () => {})
    return
  }
  let sql: Sql

  before(async () => {
    cluster = new Cluster(await freePort())
    cluster.init()
    cluster.start()
    sql = postgres(cluster.url, { max: 1, onnotice: () => {}, backoff: () => 0.1 })
  })

  beforeEach(() => cluster!.ensureRunning())

  after(async () => {
    await sql?.end({ timeout: 1 })
  })

  it('pauses while the database is down and completes once it is back, running every node once', async (t) => {
    const side = path.join(dir, 'pause.log')
    const proc = weft(['run', writePipeline('pause'), '--input', `log=${side}`], { DATABASE_URL: cluster!.url })
    // p1, p2 and p3 are running: their ends must be recorded while the database is down
    await until(() => readLines(side).some((l) => l.startsWith('start p3 ')), 15_000, 'p3 to start')
    const cut = readLines(side).length
    const down = Date.now()
    cluster!.stop()
    await until(
      () =>
        readLines(side)
          .slice(cut)
          .filter((l) => l.startsWith('end ')).length > 0,
      5_000,
      'a node to end while the database is down',
    )
    await sleep(1000)
    // n4 needs p1…p3, whose ends can only be recorded once the database is back: it has not started yet
    assert.ok(!readLines(side).some((l) => l.startsWith('start n4 ')), 'n4 started while the database was down')
    // taken before starting: the server may accept (and the run go on) before pg_ctl returns
    const up = Date.now()
    cluster!.start()
    const out = await proc.exited
    assert.equal(out.code, 0, out.stderr)

    const id = runIdOf(out.stderr)
    assert.ok(id, out.stderr)
    const s = await stored(sql, id)
    const timeline = `database down at +0, up at +${up - down} ms; events: ` + s.events.map((e) => `${e.type} ${e.node ?? ''} +${e.at - down}`).join(', ')
    assert.equal(s.status, 'completed', timeline)
    assert.equal(s.owner, null, 'the lease is given up')
    assert.equal(s.duplicates, 0)
    assert.deepEqual(
      s.nodes.map((n) => [n.node_id, n.status, n.attempts]),
      ids.map((n) => [n, 'succeeded', 1]),
    )
    for (const n of ids) assert.equal(executions(side, n), 1, `executions of ${n}: ${timeline}`)
    assertEventLog(s)
    // its node.started carries the time of the step that started it, which may be while the database was down (the
    // step waits for the store, and the node for the step's commit): what it ran after is checked in its log above
    const n4 = s.events.find((e) => e.type === 'node.started' && e.node === 'n4')!
    assert.ok(readLines(side).findIndex((l) => l.startsWith('start n4 ')) > readLines(side).findLastIndex((l) => /^end p\d /.test(l)), `n4 started after p1…p3 ended: ${timeline}`)
    const lastEnd = Math.max(...s.events.filter((e) => e.type === 'node.completed' && e.node?.startsWith('p')).map((e) => e.at))
    t.diagnostic(
      `database down ${up - down} ms; p1…p3 done ${lastEnd - down} ms after it went down; n4 started ${n4.at - up} ms after it was back, ${n4.at - lastEnd} ms after p1…p3 were done; run ended ${out.at - up} ms after`,
    )
  })

  it('down for longer than the store retries: the process stops with a clear error, and weft resume completes the run', async (t) => {
    const side = path.join(dir, 'stop.log')
    const env = { DATABASE_URL: cluster!.url, WEFT_DB_RECONNECT: '1s' }
    const proc = weft(['run', writePipeline('stop'), '--input', `log=${side}`], env)
    await until(() => readLines(side).some((l) => l.startsWith('start p3 ')), 15_000, 'p3 to start')
    const down = Date.now()
    cluster!.stop()
    // kept down until the process has given up: nothing it writes after a failed write may land
    const out = await proc.exited
    cluster!.start()
    const id = runIdOf(out.stderr)
    assert.ok(id, out.stderr)
    assert.equal(out.code, 1, out.stderr)
    assert.match(out.stderr, /^STORE_UNAVAILABLE: /m)
    assert.ok(out.stderr.includes(`weft resume ${id}`), out.stderr)
    assert.doesNotMatch(out.stderr, /^\s+at /m, 'no stack trace')

    const before = await stored(sql, id)
    const committed = before.nodes.filter((n) => n.status === 'succeeded').map((n) => n.node_id)
    assert.deepEqual(committed, ['n1', 'n2', 'n3'])
    assert.deepEqual(
      before.events.map((e) => e.seq),
      before.events.map((_, i) => i + 1),
    )
    // p1…p3's starts were recorded unless the database went down first; the resume records them (again)
    const started = Object.fromEntries(ids.map((n) => [n, before.events.filter((e) => e.type === 'node.started' && e.node === n).length + (committed.includes(n) ? 0 : 1)]))

    const resumed = await resume(id, env)
    assert.equal(resumed.code, 0, resumed.stderr)

    const s = await stored(sql, id)
    assert.equal(s.status, 'completed')
    assert.equal(s.owner, null)
    assert.equal(s.duplicates, 0)
    assert.deepEqual(
      s.nodes.map((n) => [n.node_id, n.status]),
      ids.map((n) => [n, 'succeeded']),
    )
    for (const n of committed) assert.equal(executions(side, n), 1, `executions of ${n}, which had succeeded`)
    // p1…p3 were running when the database went down, their ends never recorded: they ran again, once
    for (const n of ['p1', 'p2', 'p3']) assert.equal(executions(side, n), 2, `executions of ${n}`)
    for (const n of ['n4', 'n5', 'n6']) assert.equal(executions(side, n), 1, `executions of ${n}`)
    assertEventLog(s, started)
    assert.equal(s.events.filter((e) => e.type === 'run.resumed').length, 1)
    t.diagnostic(`the first process exited ${out.at - down} ms after the database went down; the resume took ${resumed.at - out.at} ms`)
  })

  // Events are numbered as they are made. A driver that went on writing after a failed write (the nodes it skips,
  // the run's end) would, with the database back by then, land them after the missing ones, and the hole would
  // stay for good (a resume goes on from the highest seq). Nothing is written past a failed write.
  it('the database back while the process gives up: no event is recorded past a hole in the log', async () => {
    const side = path.join(dir, 'hole.log')
    const env = { DATABASE_URL: cluster!.url, WEFT_DB_RECONNECT: '1s' }
    const proc = weft(['run', writePipeline('hole'), '--input', `log=${side}`], env)
    await until(() => readLines(side).some((l) => l.startsWith('start p3 ')), 15_000, 'p3 to start')
    cluster!.stop()
    // the lease renewal (every 333 ms) finds the connection lost; a second later the store gives up
    await sleep(1600)
    cluster!.start()
    const out = await proc.exited
    const id = runIdOf(out.stderr)
    assert.ok(id, out.stderr)
    const before = await stored(sql, id)
    assert.deepEqual(
      before.events.map((e) => e.seq),
      before.events.map((_, i) => i + 1),
      'event seqs run 1, 2, 3… without gaps',
    )
    if (out.code !== 0) assert.equal((await resume(id, env)).code, 0)
    const s = await stored(sql, id)
    assert.equal(s.status, 'completed')
    for (const n of ['n1', 'n2', 'n3']) assert.equal(executions(side, n), 1, `executions of ${n}`)
    assert.deepEqual(
      s.events.map((e) => e.seq),
      s.events.map((_, i) => i + 1),
      'event seqs run 1, 2, 3… without gaps',
    )
  })
})
