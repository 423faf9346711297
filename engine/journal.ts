// Group commit in front of a RunStore: writes queued while one batch is in flight go out together in the next.
import type { RunStore, StoreWrite } from './ports.ts'

interface Entry {
  writes: readonly StoreWrite[]
  resolve: () => void
  reject: (err: unknown) => void
}

export class Journal {
  #pending: Entry[] = []
  #flushing: Promise<void> | undefined

  constructor(private readonly store: RunStore) {}

  /** Queues writes; resolves once they are committed (in order with every earlier write). */
  commit(writes: readonly StoreWrite[]): Promise<void> {
    return new Promise((resolve, reject) => {
      this.#pending.push({ writes, resolve, reject })
      this.#flushing ??= this.#flush()
    })
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
        try {
          await this.store.write(batch.length === 1 ? batch[0]!.writes : batch.flatMap((e) => e.writes))
          for (const e of batch) e.resolve()
        } catch (err) {
          for (const e of batch) e.reject(err)
        }
      }
    } finally {
      this.#flushing = undefined
    }
  }
}
