// NodeExecutor on a piscina worker pool. A node that ignores its abort signal is killed with its thread.
import os from 'node:os'
import { Piscina } from 'piscina'
import type { NodeExecutor, NodeTask, TaskOutcome } from '../ports.ts'
import type { Progress } from '../node-def.ts'
import { toErrorInfo } from '../errors.ts'
import type { CancelMessage, ProgressMessage, StartedMessage, WorkerData, WorkerTask } from './piscina-worker.ts'

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
  threadId?: number
  /** Set once the attempt is aborted; re-sent when the task starts, in case no worker heard it before. */
  cancel?: CancelMessage
}

export class PiscinaExecutor implements NodeExecutor {
  readonly #pool: Piscina
  readonly #channel: InstanceType<typeof BroadcastChannel>
  readonly #running = new Map<number, Running>()
  readonly #killGraceMs: number
  #nextId = 0

  constructor(opts: PiscinaExecutorOptions = {}) {
    const threads = opts.threads ?? Math.max(2, os.availableParallelism())
    this.#killGraceMs = opts.killGraceMs ?? 2000
    const cancelChannel = `weft-cancel-${process.pid}-${Math.random().toString(36).slice(2)}`
    this.#channel = new BroadcastChannel(cancelChannel)
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
      workerData: { cancelChannel } satisfies WorkerData,
    })
    this.#pool.on('message', (m: ProgressMessage | StartedMessage) => {
      if (!m || typeof m !== 'object') return
      if ('weftProgress' in m) this.#running.get(m.weftProgress)?.onProgress(m.progress as Progress)
      else if ('weftStarted' in m) {
        const r = this.#running.get(m.weftStarted)
        if (!r) return
        r.threadId = m.threadId
        if (r.cancel) this.#channel.postMessage(r.cancel)
      }
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
    const running: Running = { onProgress: opts.onProgress }
    this.#running.set(taskId, running)
    let grace: NodeJS.Timeout | undefined
    let giveUp!: (o: TaskOutcome) => void
    const killed = new Promise<TaskOutcome>((resolve) => (giveUp = resolve))
    const onAbort = () => {
      running.cancel = { taskId, reason: toErrorInfo(signal.reason, 'CANCELLED') }
      this.#channel.postMessage(running.cancel)
      grace = setTimeout(() => {
        const info = toErrorInfo(signal.reason, 'CANCELLED')
        const thread = this.#pool.threads.find((t) => t.threadId === running.threadId)
        void thread?.terminate()
        giveUp({ ok: false, error: { ...info, details: { ...(info.details as object), killed: thread !== undefined, grace_ms: this.#killGraceMs } } })
      }, this.#killGraceMs)
    }
    signal.addEventListener('abort', onAbort, { once: true })
    const payload: WorkerTask = { ...task, taskId }
    try {
      for (let lost = 0; ; lost++) {
        const attempt = this.#pool.run(payload).then((o) => o as TaskOutcome, (err: Error) => err)
        const result = await Promise.race([attempt, killed])
        if (!(result instanceof Error)) return result
        if (signal.aborted) return await killed
        // the worker thread died (killed for another task, or crashed): run this attempt again on a fresh one
        if (lost < MAX_LOST) continue
        return { ok: false, error: { code: 'WORKER_LOST', message: `worker thread died ${MAX_LOST + 1} times while running node "${task.nodeId}": ${result.message}` } }
      }
    } finally {
      if (grace) clearTimeout(grace)
      signal.removeEventListener('abort', onAbort)
      this.#running.delete(taskId)
    }
  }

  async close(): Promise<void> {
    this.#channel.close()
    await this.#pool.destroy()
  }
}
