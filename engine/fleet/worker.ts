// `weft worker`: a graphile-worker runner that executes node attempts and applies steps for any fleet run in the
// database. Claims are fenced and kept alive by a heartbeat; a worker that finds another's heartbeat lapsed hands
// that task on, and unlocks the queue jobs of workers that stopped renewing their own.
import os from 'node:os'
import { randomUUID } from 'node:crypto'
import { EventEmitter } from 'node:events'
import { run as runQueue, makeWorkerUtils, type Logger as QueueLogger, type Runner, type WorkerEvents, type WorkerUtils } from 'graphile-worker'
import type { NodeExecutor, TaskOutcome } from '../ports.ts'
import { WeftError } from '../errors.ts'
import { attemptOnce, throttledProgress } from './attempt.ts'
import { QUEUE_SCHEMA, type Job, type PgFleet } from '../adapters/pg-fleet.ts'
import type { FleetTask } from './state.ts'
import type { StepEvent } from './step.ts'
import type { RunCachePolicy } from '../cache/policy.ts'
import { attemptTask, DEFAULT_QUEUE } from './queue.ts'

export interface FleetWorkerOptions {
  connectionString: string
  fleet: PgFleet
  executor: NodeExecutor
  /** Jobs run at once (default 10). */
  concurrency?: number
  /** The queues whose attempts it runs (default: `default`, the tasks of pools with no queue of their own); steps it applies whatever the queue. */
  queues?: readonly string[]
  /** A claim lapses after this long without a heartbeat (ms, default 30 s); heartbeats go every third of it. */
  heartbeatTtlMs?: number
  /** Told what happens (claims lost, tasks handed on); default: nothing. */
  log?: (message: string) => void
  /** The cache rule this worker applies to the tasks it runs (with a caching executor); default: no cache. */
  cache?: RunCachePolicy
}

export interface FleetWorker {
  readonly id: string
  /** Stops taking jobs, lets those running finish, and resolves once they have. */
  stop(): Promise<void>
  /** Resolves when the runner stops by itself (its database gone). */
  readonly done: Promise<void>
}

const quiet: QueueLogger = new (class {
  scope() {
    return this
  }
  info() {}
  debug() {}
  warn() {}
  error() {}
})() as unknown as QueueLogger

/** Creates graphile-worker's schema if this database does not have it yet (idempotent). */
export async function migrateQueue(connectionString: string): Promise<void> {
  const utils = await makeWorkerUtils({ connectionString, schema: QUEUE_SCHEMA, logger: quiet })
  try {
    await utils.migrate()
  } finally {
    await utils.release()
  }
}

export async function startFleetWorker(o: FleetWorkerOptions): Promise<FleetWorker> {
  const id = `${os.hostname()}:${process.pid}:${randomUUID().slice(0, 8)}`
  const ttl = o.heartbeatTtlMs ?? 30_000
  const log = o.log ?? (() => {})
  const { fleet, executor } = o
  const shutdown = new AbortController()
  const queueWorkers = new Set<string>()

  // the attempt tasks this worker runs: an attempt a settling step dispatches to one of them may be claimed for it
  const served = new Set((o.queues ?? [DEFAULT_QUEUE]).map((q) => attemptTask(q)))
  const attempt = async ({ run, key, fence }: Job['payload'] & { key: string; fence: number }): Promise<void> => {
    let task = await fleet.claim(run, key, fence, id)
    // one job slot runs the attempt it was given and then each one its own settling step took for it (a chain goes on
    // without a queue hop); a worker that is stopping takes none
    while (task?.spec) {
      const outcome = await runClaimed(run, task)
      // a fenced-out worker's outcome is not recorded: only the current holder settles a task
      const settled = await fleet.settle(run, task.key, task.fence, outcome, shutdown.signal.aborted ? undefined : { worker: id, tasks: served })
      task = settled.next
    }
  }

  /** Runs a task this worker holds, keeping its claim alive; the outcome, which the caller settles. */
  const runClaimed = async (run: string, task: FleetTask): Promise<TaskOutcome> => {
    const key = task.key
    const lost = new AbortController()
    const beat = setInterval(
      () => {
        fleet.heartbeat(run, key, task.fence).then(
          (mine) => {
            if (!mine) lost.abort(new WeftError('CANCELLED', `task "${key}" is no longer this worker's`))
          },
          (err) => log(`heartbeat of ${run}/${key} failed: ${(err as Error).message}`),
        )
      },
      Math.max(50, Math.floor(ttl / 3)),
    )
    const progress = throttledProgress(
      (p) => fleet.progress(run, task.spec!.reportAs, { ...p, ...task.spec!.progress }),
      (err) => log(`progress of ${run}/${key} not recorded: ${(err as Error).message}`),
    )
    try {
      return await attemptOnce(executor, task, run, lost.signal, progress.report, o.cache)
    } finally {
      clearInterval(beat)
      await progress.close()
    }
  }

  const advance = async ({ run, event }: { run: string; event: StepEvent }): Promise<void> => {
    await fleet.apply(run, event)
  }

  const utils: WorkerUtils = await makeWorkerUtils({ connectionString: o.connectionString, schema: QUEUE_SCHEMA, logger: quiet })
  await utils.migrate()
  // listened to before the runner starts: its queue workers are created (and announced) while it starts
  const events: WorkerEvents = new EventEmitter() as WorkerEvents
  // graphile-worker 0.17 locks a job under its pool's id (and names each worker too): both are recorded as this worker's
  events.on('pool:create', ({ workerPool }) => void queueWorkers.add(workerPool.id))
  events.on('worker:create', ({ worker }) => void queueWorkers.add(worker.workerId))
  const runner: Runner = await runQueue({
    events,
    connectionString: o.connectionString,
    schema: QUEUE_SCHEMA,
    concurrency: o.concurrency ?? 10,
    noHandleSignals: true,
    pollInterval: 1000,
    // a job's completion (or failure) recorded through a batcher, which a graceful stop flushes: without one,
    // graphile-worker 0.17 records it without waiting, and a SIGTERM could end the pool first and leave the job locked
    preset: { worker: { completeJobBatchDelay: 0, failJobBatchDelay: 0 } },
    logger: quiet,
    taskList: {
      ...Object.fromEntries((o.queues ?? [DEFAULT_QUEUE]).map((q) => [attemptTask(q), (payload: unknown) => attempt(payload as { run: string; key: string; fence: number })])),
      weft_advance: (payload) => advance(payload as { run: string; event: StepEvent }),
    },
  })

  // a worker's own liveness: its queue workers' ids with a heartbeat and its TTL, so that others can unlock its jobs
  // once it is gone, judging it by its own TTL
  let toldTtl = false
  const alive = async () => {
    const longest = await fleet.alive(id, [...queueWorkers], ttl)
    if (longest > ttl && !toldTtl) {
      toldTtl = true
      log(
        `other workers of this database have a longer heartbeat TTL (${longest / 1000}s, this one ${ttl / 1000}s): each worker's tasks are handed on after its own; start every worker and server with the same WEFT_HEARTBEAT_TTL`,
      )
    }
  }
  const sweep = async () => {
    // one run that cannot be stepped must not keep the others from being swept
    const each = async (run: string, what: string, fn: () => Promise<unknown>) => {
      try {
        await fn()
      } catch (err) {
        log(`${what} of run ${run} failed: ${(err as Error).message.split('\n')[0]}`)
      }
    }
    for (const t of await fleet.lapsed(ttl)) {
      await each(t.run, 'handing on a lapsed task', async () => {
        // said by the one worker whose sweep handed it on (every live worker's sweep may find it)
        if (await fleet.handOn(t.run, t.key, t.fence)) log(`task ${t.run}/${t.key}: its worker's heartbeat lapsed; handed it on`)
      })
    }
    for (const run of await fleet.undrained()) await each(run, 'settling ended attempts', () => fleet.drain(run))
    const ids = await fleet.orphanedQueueWorkers(ttl)
    if (ids.length) {
      log(`unlocking the jobs of ${ids.length} queue worker(s) that are gone`)
      await utils.forceUnlockWorkers(ids)
    }
  }
  await alive().catch(() => {})
  const timer = setInterval(
    () => {
      alive()
        .then(sweep)
        .catch((err) => log(`sweep failed: ${(err as Error).message}`))
    },
    Math.max(50, Math.floor(ttl / 3)),
  )

  let stopping: Promise<void> | undefined
  const stop = () =>
    (stopping ??= (async () => {
      shutdown.abort()
      clearInterval(timer)
      await Promise.resolve(runner.stop()).catch(() => {})
      await fleet.gone(id).catch(() => {})
      await Promise.resolve(utils.release()).catch(() => {})
    })())
  const done = Promise.resolve(runner.promise).catch(() => {})
  return { id, stop, done }
}
