// Group commit in front of a RunStore: writes queued while one batch is in flight go out together in the next.
import type { RunStore, StoreWrite } from './ports.ts'

interface Entry {
  writes: readonly StoreWrite[]
  done: (err?: unknown) => void
}

export class Journal {
  #pending: Entry[] = []
  #flushing: Promise<void> | undefined

  constructor(private readonly store: RunStore) {}

  /** Queues writes; resolves once they are committed (in order with every earlier write). */
  commit(writes: readonly StoreWrite[]): Promise<void> {
    return new Promise((resolve, reject) => this.push(writes, (err) => (err === undefined ? resolve() : reject(err))))
  }

  /** Like `commit`, with a callback instead of a promise (the run loop's hot path). `done(err)` on failure. */
  push(writes: readonly StoreWrite[], done: (err?: unknown) => void): void {
    this.#pending.push({ writes, done })
    this.#flushing ??= this.#flush()
  }

  /** Resolves when everything queued so far is committed (or has failed). */
  async drain(): Promise<void> {
    while (this.#flushing) await this.#flushing
  }

  async #flush(): Promise<void> {
    try {
      while (this.#pending.length) {
        const batch = this.#pending
        this.#pending = []
        let failure: unknown
        try {
          await this.store.write(batch.length === 1 ? batch[0]!.writes : batch.flatMap((e) => e.writes))
        } catch (err) {
          failure = err ?? new Error('store write failed')
        }
        // each callback exactly once, whatever the others do
        for (const e of batch) {
          try {
            e.done(failure)
          } catch {
            // a caller's callback failing is the caller's business
          }
        }
      }
    } finally {
      this.#flushing = undefined
    }
  }
}
