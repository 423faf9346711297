// Group commit in front of a RunStore: writes queued while one batch is in flight go out together in the next,
// and writes nobody waits on may linger briefly to ride with the next one somebody does.
import { type Clock, systemClock } from './clock.ts'
import type { RunStore, StoreWrite } from './ports.ts'

interface Entry {
  writes: readonly StoreWrite[]
  done: (err?: unknown) => void
}

export class Journal {
  #pending: Entry[] = []
  /** Something queued must go out now: an urgent write came, or a lingering one's time is up. */
  #due = false
  /** The first failed write's error: every later write fails with it unwritten, so the log has no holes. */
  #failed: unknown
  #flushing: Promise<void> | undefined
  /** Cancels the lingering writes' timer. */
  #linger: (() => void) | undefined

  /**
   * `lingerMs`: how long a write pushed with `urgent = false` may wait for company (a node's start
   * waiting for its completion, say) before it is written anyway. 0 writes everything at once.
   */
  constructor(
    private readonly store: RunStore,
    private readonly lingerMs = 0,
    private readonly clock: Clock = systemClock,
  ) {}

  /** Queues writes; resolves once they are committed (in order with every earlier write). */
  commit(writes: readonly StoreWrite[]): Promise<void> {
    return new Promise((resolve, reject) => this.push(writes, (err) => (err === undefined ? resolve() : reject(err))))
  }

  /** Like `commit`, with a callback instead of a promise (the run loop's hot path). `done(err)` on failure. */
  push(writes: readonly StoreWrite[], done: (err?: unknown) => void, urgent = true): void {
    this.#pending.push({ writes, done })
    if (urgent || this.lingerMs <= 0) this.#start()
    else this.#linger ??= this.clock.setTimer(() => this.#start(), this.lingerMs)
  }

  /** Writes what is queued, as soon as the batch in flight (if any) is done. */
  #start(): void {
    this.#due = true
    if (this.#linger) {
      this.#linger()
      this.#linger = undefined
    }
    if (!this.#flushing && this.#pending.length) this.#flushing = this.#flush()
  }

  /** Resolves when everything queued so far is committed (or has failed). */
  async drain(): Promise<void> {
    if (this.#pending.length) this.#start()
    while (this.#flushing) await this.#flushing
  }

  async #flush(): Promise<void> {
    // yield first: `#flushing` must be assigned before this can finish and clear it
    await null
    try {
      // lingering writes queued while a batch was in flight (a dependent's start, right after its dependency's
      // completion committed) wait for company or their time, as any lingering write does
      while (this.#pending.length && this.#due) {
        const batch = this.#pending
        this.#pending = []
        this.#due = false
        let failure: unknown = this.#failed
        if (failure === undefined) {
          try {
            await this.store.write(batch.length === 1 ? batch[0]!.writes : batch.flatMap((e) => e.writes))
          } catch (err) {
            // what follows a lost write must not land after it (events numbered past a gap, a node's end without
            // its start): the run stops here and a resume continues from what was recorded
            failure = this.#failed = err ?? new Error('store write failed')
          }
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
