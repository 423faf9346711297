// NodeExecutor on a piscina worker pool. Attempts go to free threads in batches, results come back as
// they finish, an attempt stuck behind a node that blocks its thread moves to a free one, and a node
// that ignores its abort signal is killed with its thread.
import os from 'node:os'
import { Piscina } from 'piscina'
import type { NodeExecutor, NodeTask, TaskOutcome } from '../ports.ts'
import type { Progress } from '../node-def.ts'
import { toErrorInfo, type ErrorInfo } from '../errors.ts'
import { fromSources } from '../runtime.ts'
import type { BatchReturn, ControlMessage, WorkerData, WorkerMessage } from './piscina-worker.ts'
import { pack, type WorkerTask } from './worker-batch.ts'
import { BoardReader, newBoard, STALE_MS } from './thread-board.ts'
import type { ProviderSettings } from '../providers.ts'

export interface PiscinaExecutorOptions {
  /** Worker threads (default: available cores, at least 2). */
  threads?: number
  /** After an abort (timeout, cancellation), how long a node may take to stop before its thread is killed. */
  killGraceMs?: number
  /** Workers must import TypeScript (plugins written in `.ts`); implied when running from the sources. */
  typescript?: boolean
  /** Young-generation heap per worker thread, in MB (default 8). */
  youngGenerationMb?: number
  /** Model and media providers for node types that use them (each thread builds its own). */
  providers?: ProviderSettings
  /**
   * Nice value (0–19) each worker thread takes, with the processes it starts (ffmpeg): node work then yields
   * the CPU to the main thread, which answers requests and records results. Linux only (nice is per thread
   * there); elsewhere, or when refused, threads keep the process's priority. Default 0.
   */
  nice?: number
}

/** How many times a task is re-run when the thread under it dies for another task's sake. */
const MAX_LOST = 3

interface Pending {
  task: WorkerTask
  signal: AbortSignal
  onProgress: (p: Progress) => void
  resolve: (o: TaskOutcome) => void
  lost: number
  /** True once a worker has posted this task's result (it may still be in flight). */
  posted: boolean
  /** How many times it was sent: a thread's answer about an earlier sending is ignored. */
  sent: number
  /** Its current sending's token on the thread board (0: not on it): it can be taken back from a blocked thread, and its thread is read there. */
  token: number
  /** Waiting in the executor's queue to be sent (again). */
  queued: boolean
  grace?: NodeJS.Timeout
  /** While a cancel waits for its answer: tells it again (a thread still starting had no channel to hear it). */
  retell?: NodeJS.Timeout
}

/** How often a cancel is told again until its task answers. */
const RETELL_MS = 25

/** How often, while attempts are out, blocked threads are looked for. */
const WATCH_MS = STALE_MS / 2
/** Most batches a thread holds at once. */
const MAX_BATCHES = 1024

export class PiscinaExecutor implements NodeExecutor {
  readonly #pool: Piscina
  readonly #threads: number
  readonly #channel: InstanceType<typeof BroadcastChannel>
  readonly #pending = new Map<number, Pending>()
  /** Tasks per abort signal: one listener per signal, however many tasks share it. */
  readonly #bySignal = new WeakMap<AbortSignal, Set<number>>()
  /** The thread each started untracked task runs on (tracked ones are on the board). */
  readonly #threadOf = new Map<number, number>()
  readonly #board: ReturnType<typeof newBoard>
  readonly #reader: BoardReader
  readonly #killGraceMs: number
  #queue: WorkerTask[] = []
  #closed = false
  #flushQueued = false
  #nextId = 0
  /** While attempts are out: moves tasks off blocked threads, and keeps the process alive (piscina does not, for tasks still in its queue). */
  #watcher: NodeJS.Timeout | undefined

  constructor(opts: PiscinaExecutorOptions = {}) {
    this.#threads = opts.threads ?? Math.max(2, os.availableParallelism())
    this.#killGraceMs = opts.killGraceMs ?? 2000
    this.#board = newBoard(this.#threads)
    this.#reader = new BoardReader(this.#board)
    const control = `weft-control-${process.pid}-${Math.random().toString(36).slice(2)}`
    this.#channel = new BroadcastChannel(control)
    ;(this.#channel as unknown as { unref(): void }).unref()
    // workers load TypeScript only when they must (a loader costs each thread memory and start-up time); a
    // thread registers tsx itself: an `--import` flag in a worker's execArgv does not cover its later imports.
    // Flags of this process (test runner, inspector) have no place in workers.
    const typescript = opts.typescript || fromSources
    this.#pool = new Piscina({
      filename: new URL(fromSources ? './piscina-boot.mjs' : './piscina-worker.js', import.meta.url).href,
      execArgv: [],
      minThreads: this.#threads,
      maxThreads: this.#threads,
      idleTimeout: 60_000,
      // a batch is mostly waiting on providers: a thread holds many at once
      concurrentTasksPerWorker: MAX_BATCHES,
      loadBalancer: (_task, workers) => this.#pick(workers),
      // workers wait for tasks with Atomics.waitAsync: quick to wake, and the event loop stays free for async node work
      atomics: 'async',
      workerData: { control, board: this.#board, typescript, ...(opts.providers ? { providers: opts.providers } : {}), ...(opts.nice ? { nice: opts.nice } : {}) } satisfies WorkerData,
      // node code on workers mostly waits on providers and allocates little at a time: a small young
      // generation keeps each thread's memory low (the default sizes it like a main thread)
      resourceLimits: { maxYoungGenerationSizeMb: opts.youngGenerationMb ?? 8 },
    })
    this.#pool.on('message', (m: WorkerMessage) => {
      if (!m || typeof m !== 'object') return
      if ('results' in m) for (const [id, outcome] of m.results) this.#settle(id, outcome)
      else if ('progress' in m) this.#pending.get(m.taskId)?.onProgress(m.progress as Progress)
      else if ('started' in m) for (const id of m.started) if (this.#pending.has(id)) this.#threadOf.set(id, m.threadId)
    })
    // a thread that is gone gives its place on the board back (piscina names it only after its id is lost: the live ones say which)
    this.#pool.on('workerDestroy', () => this.#reader.retain(new Set(this.#pool.threads.map((t) => t.threadId))))
  }

  /** The thread for a batch: the least busy of those not blocked, else the least busy. */
  #pick<W extends { id: number; currentUsage: number; terminating: boolean; destroyed: boolean }>(workers: W[]): W | null {
    let best: W | null = null
    let bestBlocked = true
    for (const w of workers) {
      if (w.terminating || w.destroyed || w.currentUsage >= MAX_BATCHES) continue
      const blocked = this.#reader.blocked(w.id)
      if (!best || (bestBlocked && !blocked) || (bestBlocked === blocked && w.currentUsage < best.currentUsage)) {
        best = w
        bestBlocked = blocked
      }
    }
    return best
  }

  #freeThreads(): number {
    return this.#pool.threads.filter((t) => !this.#reader.blocked(t.threadId)).length
  }

  /**
   * Runs one attempt. Attempts submitted in the same tick share a message to a thread; each result
   * returns on its own as soon as it is ready. Cancellation travels as a message (giving piscina an
   * AbortSignal would keep each thread to one task), and a task that ignores it past the grace period
   * has its thread terminated.
   */
  execute(task: NodeTask, opts: { signal: AbortSignal; onProgress: (p: Progress) => void }): Promise<TaskOutcome> {
    const { signal } = opts
    if (signal.aborted) return Promise.resolve({ ok: false, error: toErrorInfo(signal.reason, 'CANCELLED') })
    return new Promise((resolve) => {
      const taskId = ++this.#nextId
      const wt: WorkerTask = { ...task, taskId }
      this.#pending.set(taskId, { task: wt, signal, onProgress: opts.onProgress, resolve, lost: 0, posted: false, sent: 0, token: 0, queued: false })
      this.#watcher ??= setInterval(() => this.#rescue(), WATCH_MS)
      this.#watch(signal, taskId)
      this.#enqueue(wt)
    })
  }

  #enqueue(task: WorkerTask): void {
    const p = this.#pending.get(task.taskId)
    if (!p || p.queued) return
    p.queued = true
    this.#queue.push(task)
    if (!this.#flushQueued) {
      this.#flushQueued = true
      queueMicrotask(() => this.#flush())
    }
  }

  #flush(): void {
    this.#flushQueued = false
    // while every thread is blocked, tasks wait here: the watcher sends them when one is free again
    const free = this.#pool.threads.length === 0 ? this.#threads : this.#freeThreads()
    if (free === 0) return
    const queued = this.#queue
    this.#queue = []
    // a batch carries one run's tasks
    const byRun = new Map<string, WorkerTask[]>()
    for (const t of queued) {
      const p = this.#pending.get(t.taskId)
      if (!p) continue // settled while it waited (cancelled)
      p.queued = false
      const list = byRun.get(t.runId)
      if (list) list.push(t)
      else byRun.set(t.runId, [t])
    }
    for (const tasks of byRun.values()) {
      // spread a burst over the free threads; piscina gives each batch to the least busy free one
      const size = Math.ceil(tasks.length / Math.min(free, tasks.length))
      for (let i = 0; i < tasks.length; i += size) this.#send(tasks.slice(i, i + size))
    }
  }

  /** Looks for tasks held by blocked threads that have not started, takes them back and sends them again. */
  #rescue(): void {
    const blocked = new Set(this.#pool.threads.filter((t) => this.#reader.blocked(t.threadId)).map((t) => t.threadId))
    if (blocked.size > 0) {
      for (const [id, p] of this.#pending) {
        if (!p.token || p.posted) continue
        const holder = this.#reader.holder(id, p.token)
        if (holder !== undefined && blocked.has(holder) && this.#reader.revoke(id, p.token)) {
          // answers about the sending taken back are ignored from now on (its thread may still die under it)
          p.token = 0
          p.sent++
          this.#enqueue(p.task)
        }
      }
    }
    if (this.#queue.length > 0 && !this.#flushQueued) this.#flush()
  }

  #send(batch: WorkerTask[]): void {
    // which sending of each task this is: an answer about an earlier one is ignored
    const sending = batch.map((t) => {
      const p = this.#pending.get(t.taskId)!
      p.token = this.#reader.dispatch(t.taskId)
      return p
    })
    const sent = sending.map((p) => ++p.sent)
    this.#pool
      .run(
        pack(
          batch,
          sending.map((p) => p.token),
        ),
      )
      .then(
        (ret: BatchReturn) => {
          for (const [id, outcome] of ret.results) this.#settle(id, outcome)
          // results still missing here are on their way as messages
          for (const id of ret.posted) {
            const p = this.#pending.get(id)
            if (p) p.posted = true
          }
        },
        (err: Error) => {
          // the thread died under this batch (killed for another task, or crashed): run the rest again
          for (const [i, t] of batch.entries()) {
            const p = this.#pending.get(t.taskId)
            if (!p || p.posted || p.queued || p.sent !== sent[i]) continue // taken back (and perhaps sent elsewhere) meanwhile
            if (p.token) this.#reader.release(t.taskId, p.token)
            p.token = 0
            if (p.signal.aborted) continue // its kill path resolves it
            if (p.lost++ < MAX_LOST) this.#enqueue(t)
            else this.#settle(t.taskId, { ok: false, error: { code: 'WORKER_LOST', message: `worker thread died ${MAX_LOST + 1} times while running node "${t.nodeId}": ${err.message}` } })
          }
        },
      )
  }

  #settle(taskId: number, outcome: TaskOutcome): void {
    const p = this.#pending.get(taskId)
    if (!p) return
    this.#pending.delete(taskId)
    this.#threadOf.delete(taskId)
    if (p.token) this.#reader.release(taskId, p.token)
    if (this.#pending.size === 0 && this.#watcher) {
      clearInterval(this.#watcher)
      this.#watcher = undefined
    }
    if (p.grace) clearTimeout(p.grace)
    if (p.retell) clearInterval(p.retell)
    this.#unwatch(p.signal, taskId)
    p.resolve(outcome)
  }

  #watch(signal: AbortSignal, taskId: number): void {
    let set = this.#bySignal.get(signal)
    if (!set) {
      set = new Set()
      this.#bySignal.set(signal, set)
      const tasks = set
      signal.addEventListener(
        'abort',
        () => {
          for (const id of tasks) this.#cancel(id)
        },
        { once: true },
      )
    }
    set.add(taskId)
  }

  #unwatch(signal: AbortSignal, taskId: number): void {
    const set = this.#bySignal.get(signal)
    if (!set) return
    // the entry (and its one listener) lives as long as the signal: a run's signal serves all its tasks
    set.delete(taskId)
  }

  #cancel(taskId: number): void {
    const p = this.#pending.get(taskId)
    if (!p || p.grace) return
    const reason = toErrorInfo(p.signal.reason, 'CANCELLED')
    const tell = () => {
      if (!this.#closed) this.#channel.postMessage({ cancel: taskId, reason } satisfies ControlMessage)
    }
    tell()
    // a broadcast reaches only the channels that exist: a thread still loading its code (a pool starting, a thread
    // replacing a killed one) would never hear it, and its task would run on to be killed. Told again until it answers.
    p.retell = setInterval(tell, RETELL_MS)
    p.grace = setTimeout(() => this.#kill(taskId, reason), this.#killGraceMs)
  }

  /**
   * The task did not stop in time: terminate the thread running it (its other tasks are run again on a
   * fresh thread). A task that never started is simply given up; it is cancelled if it starts later.
   */
  #kill(taskId: number, reason: ErrorInfo): void {
    const p = this.#pending.get(taskId)
    if (!p) return
    // a tracked task that never started is taken back, so it never will
    const started = p.token ? !this.#reader.revoke(taskId, p.token) : this.#threadOf.has(taskId)
    const threadId = !started ? undefined : p.token ? this.#reader.holder(taskId, p.token) : this.#threadOf.get(taskId)
    const thread = threadId === undefined ? undefined : this.#pool.threads.find((t) => t.threadId === threadId)
    if (thread) void thread.terminate()
    this.#settle(taskId, { ok: false, error: { ...reason, details: { ...(reason.details as object), killed: thread !== undefined, grace_ms: this.#killGraceMs } } })
  }

  async close(): Promise<void> {
    this.#closed = true
    if (this.#watcher) clearInterval(this.#watcher)
    // cancels still being told, and their grace periods, end with the pool
    for (const p of this.#pending.values()) {
      if (p.retell) clearInterval(p.retell)
      if (p.grace) clearTimeout(p.grace)
    }
    this.#channel.close()
    await this.#pool.destroy()
  }
}
