// Pipelines sent to `POST /api/v2/pipelines/validate` are checked on worker threads, with a time and memory limit:
// three large documents at once, or one that is slow to check, leave the API answering.
import { Piscina } from 'piscina'
import { type Diagnostic, WeftError } from '../engine/errors.ts'
import { fromSources } from '../engine/runtime.ts'
import type { ValidateJob } from './validate-worker.ts'

export interface ValidatePoolOptions {
  /** Threads (default 2); more requests wait in line. */
  threads?: number
  /** A validation taking longer is stopped, its thread replaced, and answered with VALIDATION_TIMEOUT (default 10 s). */
  timeoutMs?: number
  /** Heap of a validation thread, in MB (default 256): past it the thread dies and the answer is VALIDATION_TOO_LARGE. */
  heapMb?: number
  /** Validations that may wait for a thread (default 16); one more is refused with RATE_LIMITED. */
  maxWaiting?: number
}

export class ValidatePool {
  readonly #pool: Piscina
  readonly #timeoutMs: number
  readonly #threads: number
  readonly #maxWaiting: number
  #running = 0
  /** Validations waiting for a thread, first come first served: their time limit starts when they get one. */
  readonly #waiting: Array<() => void> = []

  constructor(o: ValidatePoolOptions = {}) {
    this.#timeoutMs = o.timeoutMs ?? 10_000
    this.#threads = o.threads ?? 2
    this.#maxWaiting = o.maxWaiting ?? 16
    this.#pool = new Piscina({
      filename: new URL(fromSources ? './validate-boot.mjs' : './validate-worker.js', import.meta.url).href,
      execArgv: [],
      minThreads: 0,
      maxThreads: this.#threads,
      idleTimeout: 30_000,
      resourceLimits: { maxOldGenerationSizeMb: o.heapMb ?? 256 },
    })
  }

  /** The diagnostics of `text` checked as `file`; one diagnostic naming the limit when a limit stops it. */
  async validate(job: ValidateJob): Promise<Diagnostic[]> {
    if (this.#running >= this.#threads) {
      if (this.#waiting.length >= this.#maxWaiting) throw new WeftError('RATE_LIMITED', `${this.#waiting.length} validations are already waiting; try again shortly`)
      // a finishing validation hands its thread over (the count stays)
      await new Promise<void>((resolve) => this.#waiting.push(resolve))
    } else this.#running++
    // the limit counts the check itself, not the wait for a thread
    const limit = AbortSignal.timeout(this.#timeoutMs)
    try {
      return (await this.#pool.run(job, { signal: limit })) as Diagnostic[]
    } catch (err) {
      const at = { file: job.file, line: 0, col: 0, path: '', severity: 'error' as const }
      if (limit.aborted) return [{ ...at, code: 'VALIDATION_TIMEOUT', message: `checking this pipeline took longer than ${this.#timeoutMs / 1000} s; it was stopped` }]
      if ((err as { code?: string }).code === 'ERR_WORKER_OUT_OF_MEMORY')
        return [{ ...at, code: 'VALIDATION_TOO_LARGE', message: 'checking this pipeline needed more memory than a validation may use; it was stopped' }]
      throw err
    } finally {
      const next = this.#waiting.shift()
      if (next) next()
      else this.#running--
    }
  }

  close(): Promise<void> {
    return this.#pool.destroy()
  }
}
