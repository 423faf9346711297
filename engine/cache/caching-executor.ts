// A NodeExecutor in front of another: an attempt whose key is cached is answered from the cache (its files linked
// into the run's folder); one that is computed is stored. Two attempts with one key compute it once, in this
// process and across processes sharing the cache.
import { setTimeout as sleep } from 'node:timers/promises'
import type { Progress } from '../node-def.ts'
import type { NodeExecutor, NodeTask, TaskOutcome } from '../ports.ts'
import { toErrorInfo } from '../errors.ts'
import { cacheKey, type KeyContext } from './key.ts'
import { CLAIM_MAX_MS, CLAIM_RENEW_MS, type NodeCache } from './node-cache.ts'
import { filesIn, placeFile, rebase } from './run-files.ts'

type Opts = { signal: AbortSignal; onProgress: (p: Progress) => void }

/** Resolves true once `p` settles, false if `signal` aborts first. */
function untilDone(p: Promise<unknown>, signal: AbortSignal): Promise<boolean> {
  if (signal.aborted) return Promise.resolve(false)
  return new Promise((resolve) => {
    const onAbort = () => resolve(false)
    signal.addEventListener('abort', onAbort, { once: true })
    p.then(
      () => {
        signal.removeEventListener('abort', onAbort)
        resolve(true)
      },
      () => resolve(true),
    )
  })
}

/** `fn()`, or `fallback` when it throws. */
function quietly<T>(fn: () => T, fallback: T): T {
  try {
    return fn()
  } catch {
    return fallback
  }
}

const cancelled = (signal: AbortSignal): TaskOutcome => ({ ok: false, error: toErrorInfo(signal.reason, 'CANCELLED') })

export interface CachingOptions extends KeyContext {
  /** How often an attempt waiting on another process's computation of its key looks again (ms, default 200). */
  pollMs?: number
  /** How often a computation renews its claim of its key (ms, default `CLAIM_RENEW_MS`). */
  renewMs?: number
  /** Told when the cache cannot be read or written; the attempt then executes as if uncached. */
  onProblem?: (message: string) => void
  /** Close the cache when the executor closes. */
  closeCache?: boolean
}

export class CachingExecutor implements NodeExecutor {
  readonly #computing = new Map<string, Promise<unknown>>()

  constructor(
    readonly inner: NodeExecutor,
    readonly cache: NodeCache,
    readonly opts: CachingOptions,
  ) {}

  async execute(task: NodeTask, opts: Opts): Promise<TaskOutcome> {
    const mode = task.cache ?? 'off'
    if (mode === 'off') return this.inner.execute(task, opts)
    let key: string
    try {
      key = await cacheKey(task, this.opts)
    } catch (err) {
      this.opts.onProblem?.(`node "${task.nodeId}": no cache key (${(err as Error).message}); executing`)
      return this.inner.execute(task, opts)
    }
    if (mode === 'refresh') return this.#compute(key, task, opts)
    for (;;) {
      const hit = await this.#lookup(key, task)
      if (hit) return hit
      // the same key computing in this process: wait for it, then look again
      const here = this.#computing.get(key)
      if (here) {
        // the wait ends with the run too: a cancelled run does not wait out another run's computation
        if (!(await untilDone(here, opts.signal))) return cancelled(opts.signal)
        const after = await this.#lookup(key, task)
        return after ?? this.inner.execute(task, opts)
      }
      if (this.#claim(key)) break
      // another process computes it: wait until it stores the result or gives up
      while (this.#claimed(key) && !this.#has(key)) {
        try {
          await sleep(this.opts.pollMs ?? 200, undefined, { signal: opts.signal })
        } catch {
          return cancelled(opts.signal)
        }
      }
    }
    return this.#compute(key, task, opts, true)
  }

  async close(): Promise<void> {
    try {
      await this.inner.close()
    } finally {
      if (this.opts.closeCache) this.cache.close()
    }
  }

  /** Executes and stores a success; a failure is never stored. */
  async #compute(key: string, task: NodeTask, opts: Opts, claimed = false): Promise<TaskOutcome> {
    let done!: () => void
    this.#computing.set(key, new Promise<void>((resolve) => (done = resolve)))
    // the claim renewed while it computes (for CLAIM_MAX_MS at most: a computation that hangs does not hold the key
    // for ever): one left unrenewed (this process frozen) lapses, and others go on
    const until = Date.now() + CLAIM_MAX_MS
    const renewing = setInterval(() => {
      if (Date.now() > until) return clearInterval(renewing)
      quietly(() => this.cache.renew(key), false)
    }, this.opts.renewMs ?? CLAIM_RENEW_MS)
    renewing.unref()
    try {
      if (!claimed) this.#claim(key)
      const out = await this.inner.execute(task, opts)
      if (!out.ok) return out
      try {
        const files = await filesIn(out.output, task.workDir)
        await this.cache.put({ key, type: task.type, node: task.nodeId, run: task.runId, work_dir: task.workDir, output: out.output }, files)
        return { ...out, cache: { key, hit: false } }
      } catch (err) {
        this.opts.onProblem?.(`node "${task.nodeId}": result not cached (${(err as Error).message})`)
        return out
      }
    } finally {
      clearInterval(renewing)
      this.#release(key)
      this.#computing.delete(key)
      done()
    }
  }

  /** A stored result placed in this task's run folder, or undefined. */
  async #lookup(key: string, task: NodeTask): Promise<TaskOutcome | undefined> {
    try {
      const entry = await this.cache.get(key)
      if (!entry) return undefined
      for (const f of entry.files) await placeFile(this.cache.blobPath(f.sha), `${task.workDir}/${f.rel}`)
      return { ok: true, output: rebase(entry.output, entry.work_dir, task.workDir), cache: { key, hit: true, from: { run: entry.run, node: entry.node } } }
    } catch (err) {
      this.opts.onProblem?.(`node "${task.nodeId}": cache entry unusable (${(err as Error).message}); executing`)
      return undefined
    }
  }

  // the index failing never fails an attempt: it executes as if uncached, and a claim left behind lapses
  #has = (key: string) => quietly(() => this.cache.has(key), false)
  #claim = (key: string) => quietly(() => this.cache.claim(key), true)
  #claimed = (key: string) => quietly(() => this.cache.claimed(key), false)
  #release = (key: string) => quietly(() => this.cache.release(key), undefined)
}
