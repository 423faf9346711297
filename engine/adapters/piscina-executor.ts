// NodeExecutor on a piscina worker pool. A node that ignores its abort signal is killed with its thread.
import os from 'node:os'
import { Piscina } from 'piscina'
import type { NodeExecutor, NodeTask, TaskOutcome } from '../ports.ts'
import type { Progress } from '../node-def.ts'
import { toErrorInfo, type ErrorInfo } from '../errors.ts'
import type { ControlMessage, WorkerData, WorkerMessage, WorkerTask } from './piscina-worker.ts'

export interface PiscinaExecutorOptions {
  /** Worker threads (default: available cores, at least 2). */
  threads?: number
  /**
   * Node attempts a thread runs at once. Node work is mostly waiting on providers, so one thread holds
   * many; CPU-bound work still shares a core.
   */
  tasksPerThread?: number
  /** After an abort (timeout, cancellation), how long a node may take to stop before its thread is killed. */
  killGraceMs?: number
}

/** How many times a task is re-run when the thread under it dies for another task's sake. */
const MAX_LOST = 3

interface Running {
  onProgress: (p: Progress) => void
  signal: AbortSignal
  /** Resolves the attempt when it had to be abandoned (its thread killed, or it never started). */
  abandon: (o: TaskOutcome) => void
  grace?: NodeJS.Timeout
}

export class PiscinaExecutor implements NodeExecutor {
  readonly #pool: Piscina
  readonly #channel: InstanceType<typeof BroadcastChannel>
  readonly #running = new Map<number, Running>()
  /** Tasks per abort signal: one listener per signal, however many tasks share it. */
  readonly #bySignal = new Map<AbortSignal, Set<number>>()
  readonly #pongs = new Map<number, (m: { threadId: number; tasks: number[] }) => void>()
  readonly #killGraceMs: number
  #nextId = 0

  constructor(opts: PiscinaExecutorOptions = {}) {
    const threads = opts.threads ?? Math.max(2, os.availableParallelism())
    this.#killGraceMs = opts.killGraceMs ?? 2000
    const control = `weft-control-${process.pid}-${Math.random().toString(36).slice(2)}`
    this.#channel = new BroadcastChannel(control)
    ;(this.#channel as unknown as { unref(): void }).unref()
    // workers load TypeScript through the same loader as this process, wherever weft is started from
    const tsx = import.meta.resolve('tsx')
    this.#pool = new Piscina({
      filename: new URL('./piscina-worker.ts', import.meta.url).href,
      // only the loader: flags of this process (test runner, inspector) have no place in workers
      execArgv: ['--import', tsx],
      minThreads: threads,
      maxThreads: threads,
      idleTimeout: 60_000,
      concurrentTasksPerWorker: opts.tasksPerThread ?? 1024,
      // workers must keep their event loop free for async node work, so no blocking Atomics.wait
      atomics: 'disabled',
      workerData: { control } satisfies WorkerData,
    })
    this.#pool.on('message', (m: WorkerMessage) => {
      if (!m || typeof m !== 'object') return
      if ('progress' in m) this.#running.get(m.taskId)?.onProgress(m.progress as Progress)
      else if ('pong' in m) this.#pongs.get(m.pong)?.(m)
    })
  }

  /**
   * Runs one attempt. Tasks are not given to piscina with an AbortSignal (that would keep each thread to
   * one task at a time); cancellation goes to the worker as a message, and only a task that ignores it
   * past the grace period has its thread terminated.
   */
  async execute(task: NodeTask, opts: { signal: AbortSignal; onProgress: (p: Progress) => void }): Promise<TaskOutcome> {
    const { signal } = opts
    if (signal.aborted) return { ok: false, error: toErrorInfo(signal.reason, 'CANCELLED') }
    const taskId = ++this.#nextId
    let abandon!: (o: TaskOutcome) => void
    const abandoned = new Promise<TaskOutcome>((resolve) => (abandon = resolve))
    const running: Running = { onProgress: opts.onProgress, signal, abandon }
    this.#running.set(taskId, running)
    this.#watch(signal, taskId)
    const payload: WorkerTask = { ...task, taskId }
    try {
      for (let lost = 0; ; lost++) {
        const attempt = this.#pool.run(payload).then((o) => o as TaskOutcome, (err: Error) => err)
        const result = await Promise.race([attempt, abandoned])
        if (!(result instanceof Error)) return result
        if (signal.aborted) return await abandoned
        // the worker thread died (killed for another task, or crashed): run this attempt again on a fresh one
        if (lost < MAX_LOST) continue
        return { ok: false, error: { code: 'WORKER_LOST', message: `worker thread died ${MAX_LOST + 1} times while running node "${task.nodeId}": ${result.message}` } }
      }
    } finally {
      if (running.grace) clearTimeout(running.grace)
      this.#running.delete(taskId)
      this.#unwatch(signal, taskId)
    }
  }

  #watch(signal: AbortSignal, taskId: number): void {
    let set = this.#bySignal.get(signal)
    if (!set) {
      set = new Set()
      this.#bySignal.set(signal, set)
      const tasks = set
      signal.addEventListener('abort', () => {
        for (const id of tasks) this.#cancel(id)
      }, { once: true })
    }
    set.add(taskId)
  }

  #unwatch(signal: AbortSignal, taskId: number): void {
    const set = this.#bySignal.get(signal)
    if (!set) return
    set.delete(taskId)
    // the listener stays on the signal until it aborts or is collected; the map entry goes now
    if (set.size === 0) this.#bySignal.delete(signal)
  }

  #cancel(taskId: number): void {
    const running = this.#running.get(taskId)
    if (!running || running.grace) return
    const reason = toErrorInfo(running.signal.reason, 'CANCELLED')
    this.#channel.postMessage({ cancel: taskId, reason } satisfies ControlMessage)
    running.grace = setTimeout(() => void this.#kill(taskId, reason), this.#killGraceMs)
  }

  /** The task did not stop in time: find its thread (or any thread too blocked to answer) and end it. */
  async #kill(taskId: number, reason: ErrorInfo): Promise<void> {
    const running = this.#running.get(taskId)
    if (!running) return
    const nonce = taskId
    const answered = new Map<number, number[]>()
    await new Promise<void>((resolve) => {
      const wait = setTimeout(resolve, Math.max(100, Math.min(500, this.#killGraceMs / 2)))
      this.#pongs.set(nonce, (m) => {
        answered.set(m.threadId, m.tasks)
        if (answered.size === this.#pool.threads.length) {
          clearTimeout(wait)
          resolve()
        }
      })
      this.#channel.postMessage({ ping: nonce } satisfies ControlMessage)
    })
    this.#pongs.delete(nonce)
    const doomed = this.#pool.threads.filter((t) => !answered.has(t.threadId) || answered.get(t.threadId)!.includes(taskId))
    for (const t of doomed) void t.terminate()
    running.abandon({ ok: false, error: { ...reason, details: { ...(reason.details as object), killed: doomed.length > 0, grace_ms: this.#killGraceMs } } })
  }

  async close(): Promise<void> {
    this.#channel.close()
    await this.#pool.destroy()
  }
}
