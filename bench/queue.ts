// Queue engine benchmark: graphile-worker 0.17 (LISTEN/NOTIFY) against pg-boss 10 (polling) on one Postgres, each in
// its own schema (bench_gw, bench_pgboss; both dropped at the start of every run). Measures the time from calling
// add/send to the handler's first line (one job at a time, a random pause between jobs so that each job meets the
// poll loop at a random phase), the throughput of a burst of no-op jobs enqueued in one call and run at concurrency 10
// in this process, and whether a job can be enqueued inside the caller's own postgres.js transaction (rolled back:
// no row and never runs; committed: runs). Prints markdown tables; asserts nothing.
//   node --import tsx bench/queue.ts [--database-url postgres://postgres@127.0.0.1:5432/test] [--n 200] [--jobs 2000]
//     [--concurrency 10] [--jitter-ms 500] [--pgboss-batch 20] [--tx-wait-ms 3000] [--seed N]
//   (after `npm run build`: node dist/bench/queue.js …)
import { createRequire } from 'node:module'
import { cpus } from 'node:os'
import { performance } from 'node:perf_hooks'
import { setTimeout as sleep } from 'node:timers/promises'
import { parseArgs } from 'node:util'
import postgres, { type Sql } from 'postgres'
import { Logger, makeWorkerUtils, run, type Runner, type Task, type WorkerUtils } from 'graphile-worker'
import PgBoss from 'pg-boss'
import { seededRandom } from '../engine/seeded.ts'

const { values: o } = parseArgs({
  options: {
    'database-url': { type: 'string', default: process.env.BENCH_DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/test' },
    n: { type: 'string', default: '200' },
    jobs: { type: 'string', default: '2000' },
    concurrency: { type: 'string', default: '10' },
    'jitter-ms': { type: 'string', default: '500' },
    'pgboss-batch': { type: 'string', default: '20' },
    'tx-wait-ms': { type: 'string', default: '3000' },
    seed: { type: 'string' },
  },
})
const url = o['database-url']
const N = Number(o.n)
const JOBS = Number(o.jobs)
const CONCURRENCY = Number(o.concurrency)
const JITTER_MS = Number(o['jitter-ms'])
const PGBOSS_BATCH = Number(o['pgboss-batch'])
const TX_WAIT_MS = Number(o['tx-wait-ms'])
const seed = o.seed === undefined ? Date.now() >>> 0 : Number(o.seed)
const random = seededRandom(seed)

const GW_SCHEMA = 'bench_gw'
const BOSS_SCHEMA = 'bench_pgboss'
// pg-boss 10 refuses anything below POLICY.MIN_POLLING_INTERVAL_MS = 500 (src/attorney.js); its default is 2 s
const BOSS_POLL_S = 0.5
/** How long one job may take to reach its handler before the latency loop counts it as missed. */
const START_TIMEOUT_MS = 10_000

const require = createRequire(import.meta.url)
const version = (pkg: string) => (require(`${pkg}/package.json`) as { version: string }).version

// ---------------------------------------------------------------------------------------------------------------
// Shared bookkeeping: each handler calls `started(key)` on its first line; the latency loop waits on the key.

const waiting = new Map<string, (t: number) => void>()
const seen = new Set<string>()
function started(key: string, t: number): void {
  seen.add(key)
  const resolve = waiting.get(key)
  if (resolve) {
    waiting.delete(key)
    resolve(t)
  }
}
function startOf(key: string): Promise<number | undefined> {
  return new Promise<number | undefined>((resolve) => {
    const timer = setTimeout(() => {
      waiting.delete(key)
      resolve(undefined)
    }, START_TIMEOUT_MS)
    waiting.set(key, (t) => {
      clearTimeout(timer)
      resolve(t)
    })
  })
}
let handled = 0

const percentile = (sorted: number[], p: number) => sorted[Math.max(0, Math.ceil((p / 100) * sorted.length) - 1)] ?? NaN
const ms = (x: number) => (Number.isFinite(x) ? x.toFixed(1) : '–')

interface LatencyRow {
  engine: string
  config: string
  p50: number
  p95: number
  p99: number
  max: number
  missed: number
}
interface ThroughputRow {
  engine: string
  config: string
  enqueueMs: number
  totalS: number
  jobsPerS: number
  handled: number
}
interface TxRow {
  engine: string
  how: string
  rollback: string
  commit: string
  verdict: string
}

/** Enqueues N jobs one at a time, each after the previous one reached its handler (plus a random pause). */
async function latency(engine: string, config: string, prefix: string, enqueue: (key: string) => Promise<unknown>): Promise<LatencyRow> {
  const xs: number[] = []
  let missed = 0
  for (let i = 0; i < N; i++) {
    const key = `${prefix}-${i}`
    const start = startOf(key)
    const t0 = performance.now()
    await enqueue(key)
    const t1 = await start
    if (t1 === undefined) missed++
    else xs.push(t1 - t0)
    if (JITTER_MS > 0) await sleep(random() * JITTER_MS)
  }
  xs.sort((a, b) => a - b)
  return { engine, config, p50: percentile(xs, 50), p95: percentile(xs, 95), p99: percentile(xs, 99), max: xs.at(-1) ?? NaN, missed }
}

/** Polls `remaining()` until it reaches 0; returns the instant it saw 0. */
async function drained(remaining: () => Promise<number>, timeoutMs = 600_000): Promise<number> {
  const until = performance.now() + timeoutMs
  while (performance.now() < until) {
    if ((await remaining()) === 0) return performance.now()
    await sleep(5)
  }
  throw new Error('jobs still pending after the timeout')
}

class Rollback extends Error {}

/** Runs `body` in a postgres.js transaction and rolls it back (by throwing) or commits it. */
async function inTransaction<T>(sql: Sql, outcome: 'rollback' | 'commit', body: (tx: postgres.TransactionSql) => Promise<T>): Promise<T> {
  let result: T | undefined
  try {
    await sql.begin(async (tx) => {
      result = await body(tx)
      if (outcome === 'rollback') throw new Rollback()
    })
  } catch (err) {
    if (!(err instanceof Rollback)) throw err
  }
  return result as T
}

/** Waits until `key` reached a handler (returns ms after `since`) or `waitMs` passed (returns undefined). */
async function ranWithin(key: string, since: number, waitMs: number): Promise<number | undefined> {
  const until = since + waitMs
  while (performance.now() < until) {
    if (seen.has(key)) return performance.now() - since
    await sleep(2)
  }
  return seen.has(key) ? performance.now() - since : undefined
}

// ---------------------------------------------------------------------------------------------------------------
// graphile-worker

const quietLogger = new Logger(() => (level, message) => {
  if ((level as string) === 'error' || (level as string) === 'warning') console.error(`[graphile-worker ${level}] ${message}`)
})

async function graphileWorker(sql: Sql): Promise<{ latency: LatencyRow[]; throughput: ThroughputRow[]; tx: TxRow }> {
  const common = { connectionString: url, schema: GW_SCHEMA, logger: quietLogger }
  const utils: WorkerUtils = await makeWorkerUtils({ ...common })
  await utils.migrate()
  const onStart: Task = async (payload) => {
    const t = performance.now()
    started((payload as { key: string }).key, t)
  }
  const noop: Task = async () => {
    handled++
  }
  const runner: Runner = await run({
    ...common,
    concurrency: CONCURRENCY,
    maxPoolSize: CONCURRENCY + 2,
    noHandleSignals: true,
    // LISTEN/NOTIFY brings new jobs at once; the poll (default 2 s) only catches future run_at and missed notifications
    taskList: { bench_latency: onStart, bench_tp: noop, bench_tx: onStart },
  })
  try {
    const config = `LISTEN/NOTIFY, concurrency ${CONCURRENCY}`
    const lat = await latency('graphile-worker', config, 'gw', (key) => utils.addJob('bench_latency', { key }))

    handled = 0
    const specs = Array.from({ length: JOBS }, (_, i) => ({ identifier: 'bench_tp', payload: { i } }))
    const t0 = performance.now()
    await utils.addJobs(specs)
    const tEnq = performance.now()
    const tEnd = await drained(async () => {
      const [row] = await sql`select count(*)::int as n from ${sql(GW_SCHEMA)}._private_jobs j join ${sql(GW_SCHEMA)}._private_tasks t on t.id = j.task_id where t.identifier = 'bench_tp'`
      return (row as { n: number }).n
    })
    const tp: ThroughputRow = {
      engine: 'graphile-worker',
      config: `concurrency ${CONCURRENCY}, addJobs() once`,
      enqueueMs: tEnq - t0,
      totalS: (tEnd - t0) / 1000,
      jobsPerS: JOBS / ((tEnd - t0) / 1000),
      handled,
    }

    // transactional enqueue through add_job() on the caller's own postgres.js transaction
    await sql`create table ${sql(GW_SCHEMA)}.bench_scratch (key text primary key)`
    const check = async (outcome: 'rollback' | 'commit') => {
      const key = `gw-tx-${outcome}`
      const id = await inTransaction(sql, outcome, async (tx) => {
        await tx`insert into ${tx(GW_SCHEMA)}.bench_scratch (key) values (${key})`
        const [job] = await tx`select id from ${tx(GW_SCHEMA)}.add_job('bench_tx', ${tx.json({ key })}::json)`
        return String((job as { id: string | number }).id)
      })
      const t = performance.now()
      const ranAfter = await ranWithin(key, t, outcome === 'rollback' ? TX_WAIT_MS : START_TIMEOUT_MS)
      const [row] = await sql`select count(*)::int as n from ${sql(GW_SCHEMA)}.bench_scratch where key = ${key}`
      const [job] = await sql`select count(*)::int as n from ${sql(GW_SCHEMA)}._private_jobs where id = ${id}`
      return { id, rowExists: (row as { n: number }).n > 0, jobRowExists: (job as { n: number }).n > 0, ranAfter }
    }
    const rb = await check('rollback')
    const cm = await check('commit')
    const tx = txRow('graphile-worker', `postgres.js sql.begin(): insert + select ${GW_SCHEMA}.add_job(…)`, rb, cm)
    return { latency: [lat], throughput: [tp], tx }
  } finally {
    await runner.stop()
    await utils.release()
  }
}

function txRow(engine: string, how: string, rb: { rowExists: boolean; jobRowExists: boolean; ranAfter: number | undefined }, cm: { rowExists: boolean; ranAfter: number | undefined }): TxRow {
  const rollback = `scratch row ${rb.rowExists ? 'present' : 'absent'}, job row ${rb.jobRowExists ? 'present' : 'absent'}, ${rb.ranAfter === undefined ? `did not run in ${TX_WAIT_MS / 1000} s` : `RAN after ${ms(rb.ranAfter)} ms`}`
  const commit = `scratch row ${cm.rowExists ? 'present' : 'absent'}, ${cm.ranAfter === undefined ? `did NOT run in ${START_TIMEOUT_MS / 1000} s` : `ran ${ms(cm.ranAfter)} ms after COMMIT`}`
  const ok = !rb.rowExists && !rb.jobRowExists && rb.ranAfter === undefined && cm.rowExists && cm.ranAfter !== undefined
  return { engine, how, rollback, commit, verdict: ok ? 'yes' : 'no' }
}

// ---------------------------------------------------------------------------------------------------------------
// pg-boss

async function pgBoss(sql: Sql): Promise<{ latency: LatencyRow[]; throughput: ThroughputRow[]; tx: TxRow }> {
  const boss = new PgBoss({
    connectionString: url,
    schema: BOSS_SCHEMA,
    max: CONCURRENCY + 2,
    pollingIntervalSeconds: BOSS_POLL_S,
    schedule: false, // no cron here; keeps the timekeeper's own polling out of the figures
  })
  boss.on('error', (err) => console.error('[pg-boss error]', err))
  await boss.start()
  const queues = ['bench_lat1', 'bench_lat10', 'bench_latnotify', 'bench_tp1', 'bench_tpbatch', 'bench_tx']
  for (const q of queues) await boss.createQueue(q)
  const interval = BOSS_POLL_S * 1000
  const onStart = async (jobs: PgBoss.Job<{ key: string }>[]) => {
    const t = performance.now()
    for (const job of jobs) started(job.data.key, t)
  }
  const noop = async (jobs: PgBoss.Job<object>[]) => {
    for (const _ of jobs) handled++ // one at a time: at most one running job per work() loop
  }
  const work = (q: string, batchSize: number, handler: (jobs: PgBoss.Job<{ key: string }>[]) => Promise<void>) =>
    boss.work<{ key: string }>(q, { pollingIntervalSeconds: BOSS_POLL_S, batchSize }, handler)

  try {
    const lat: LatencyRow[] = []
    const send = (q: string) => async (key: string) => boss.send(q, { key })

    let ids = [await work('bench_lat1', 1, onStart)]
    lat.push(await latency('pg-boss', `1 work() loop, poll ${BOSS_POLL_S} s`, 'boss1', send('bench_lat1')))
    for (const id of ids) await boss.offWork({ id })

    ids = []
    for (let i = 0; i < CONCURRENCY; i++) {
      ids.push(await work('bench_lat10', 1, onStart))
      await sleep(interval / CONCURRENCY) // stagger the loops so that their polls interleave
    }
    lat.push(await latency('pg-boss', `${CONCURRENCY} staggered work() loops, poll ${BOSS_POLL_S} s each`, 'boss10', send('bench_lat10')))
    for (const id of ids) await boss.offWork({ id })

    const notifyId = await work('bench_latnotify', 1, onStart)
    lat.push(
      await latency('pg-boss', `1 loop + notifyWorker() after send (same process only)`, 'bossn', async (key) => {
        await boss.send('bench_latnotify', { key })
        boss.notifyWorker(notifyId)
      }),
    )
    await boss.offWork({ id: notifyId })

    const tp: ThroughputRow[] = []
    for (const batchSize of [1, PGBOSS_BATCH]) {
      const q = batchSize === 1 ? 'bench_tp1' : 'bench_tpbatch'
      ids = []
      for (let i = 0; i < CONCURRENCY; i++) ids.push(await work(q, batchSize, noop))
      handled = 0
      const t0 = performance.now()
      await boss.insert(Array.from({ length: JOBS }, (_, i) => ({ name: q, data: { i } })))
      const tEnq = performance.now()
      const tEnd = await drained(async () => {
        const [row] = await sql`select count(*)::int as n from ${sql(BOSS_SCHEMA)}.job where name = ${q} and state < 'completed'`
        return (row as { n: number }).n
      })
      tp.push({
        engine: 'pg-boss',
        config: `${CONCURRENCY} work() loops, batchSize ${batchSize}, insert() once`,
        enqueueMs: tEnq - t0,
        totalS: (tEnd - t0) / 1000,
        jobsPerS: JOBS / ((tEnd - t0) / 1000),
        handled,
      })
      for (const id of ids) await boss.offWork({ id })
    }

    // transactional enqueue: send(…, { db }) with a db adapter running on the caller's postgres.js transaction
    const txId = await work('bench_tx', 1, onStart)
    await sql`create table ${sql(BOSS_SCHEMA)}.bench_scratch (key text primary key)`
    const check = async (outcome: 'rollback' | 'commit') => {
      const key = `boss-tx-${outcome}`
      const id = await inTransaction(sql, outcome, async (tx) => {
        await tx`insert into ${tx(BOSS_SCHEMA)}.bench_scratch (key) values (${key})`
        const db: PgBoss.Db = {
          // pg-boss passes undefined for unset options; postgres.js refuses undefined parameters
          executeSql: async (text, values) => ({ rows: [...(await tx.unsafe(text, values.map((v: unknown) => v ?? null) as postgres.ParameterOrJSON<never>[]))] }),
        }
        return await boss.send('bench_tx', { key }, { db })
      })
      const t = performance.now()
      const ranAfter = await ranWithin(key, t, outcome === 'rollback' ? TX_WAIT_MS : START_TIMEOUT_MS)
      const [row] = await sql`select count(*)::int as n from ${sql(BOSS_SCHEMA)}.bench_scratch where key = ${key}`
      const job = id === null ? null : await boss.getJobById('bench_tx', id, { includeArchive: true })
      return { id, rowExists: (row as { n: number }).n > 0, jobRowExists: job !== null, ranAfter }
    }
    const rb = await check('rollback')
    const cm = await check('commit')
    await boss.offWork({ id: txId })
    const tx = txRow('pg-boss', 'postgres.js sql.begin(): insert + boss.send(…, { db: { executeSql: tx.unsafe } })', rb, cm)
    return { latency: lat, throughput: tp, tx }
  } finally {
    await boss.stop({ graceful: true, wait: true, close: true, timeout: 5000 })
  }
}

// ---------------------------------------------------------------------------------------------------------------

const sql = postgres(url, { max: 4, onnotice: () => {} })
try {
  const [server] = await sql`select current_setting('server_version') as v`
  await sql`drop schema if exists ${sql(GW_SCHEMA)} cascade`
  await sql`drop schema if exists ${sql(BOSS_SCHEMA)} cascade`

  console.log(`# Queue engines on ${url.replace(/\/\/[^@/]*@/, '//')} (PostgreSQL ${(server as { v: string }).v})`)
  console.log(
    `graphile-worker ${version('graphile-worker')}, pg-boss ${version('pg-boss')} (polling ${BOSS_POLL_S} s, its minimum); ` + `Node ${process.versions.node}, ${cpus().length} cores; seed ${seed}\n`,
  )

  const gw = await graphileWorker(sql)
  const boss = await pgBoss(sql)

  console.log(`## Latency: add()/send() called → handler's first line (${N} jobs one at a time, pause 0–${JITTER_MS} ms between)\n`)
  console.log('| engine | config | p50 ms | p95 ms | p99 ms | max ms | missed |')
  console.log('|---|---|---:|---:|---:|---:|---:|')
  for (const r of [...gw.latency, ...boss.latency]) console.log(`| ${r.engine} | ${r.config} | ${ms(r.p50)} | ${ms(r.p95)} | ${ms(r.p99)} | ${ms(r.max)} | ${r.missed} |`)

  console.log(`\n## Throughput: ${JOBS} no-op jobs enqueued in one call, worked in this process (first enqueue → last marked complete)\n`)
  console.log('| engine | config | enqueue ms | total s | jobs/s | handled |')
  console.log('|---|---|---:|---:|---:|---:|')
  for (const r of [...gw.throughput, ...boss.throughput]) console.log(`| ${r.engine} | ${r.config} | ${ms(r.enqueueMs)} | ${r.totalS.toFixed(2)} | ${r.jobsPerS.toFixed(0)} | ${r.handled} |`)

  console.log(`\n## Transactional enqueue on the caller's own postgres.js transaction\n`)
  console.log('| engine | how | after ROLLBACK | after COMMIT | works |')
  console.log('|---|---|---|---|---|')
  for (const r of [gw.tx, boss.tx]) console.log(`| ${r.engine} | ${r.how} | ${r.rollback} | ${r.commit} | ${r.verdict} |`)
} finally {
  await sql.end({ timeout: 2 })
}
