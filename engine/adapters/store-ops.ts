// Around every operation of a SQL store: tried again while the database is out of reach (or busy), refused once closed.
import { setTimeout as sleep } from 'node:timers/promises'
import { type Clock, sleep as clockSleep, systemClock } from '../clock.ts'
import { WeftError } from '../errors.ts'

/** How a store rides out a database it cannot reach for a while (a Postgres restart, a SQLite file locked by another process). */
export interface ReconnectPolicy {
  /** How long an operation keeps trying again, in ms (0: it fails at once). */
  windowMs: number
  /** Whether an error means the operation did not reach the database (lost connection, busy file), so that it may be tried again. */
  lost(err: unknown): boolean
  /** The error an operation rejects with once the window has passed (the last error and how long it lasted). */
  unavailable(err: unknown, lostMs: number): WeftError
}

/** How long an operation keeps retrying a lost connection by default: a restart takes seconds, and 15 s stays within a 30 s lease. */
export const DEFAULT_RECONNECT_MS = 15_000

/** How long closing waits for operations under way before it ends the connection under them. */
const CLOSE_GRACE_MS = 2000

/** The innermost cause of an error (drizzle wraps the driver's error). */
export function rootCause(err: unknown): unknown {
  let cause = err
  for (let depth = 0; depth < 5 && (cause as { cause?: unknown })?.cause; depth++) cause = (cause as { cause: unknown }).cause
  return cause
}

/**
 * Runs a store's operations: each one again (with `again` true, backing off from 50 ms to 1 s) after an error the
 * policy calls lost, until the database has been out of reach for the policy's window. Every operation shares one
 * outage's window: an outage longer than that fails each operation after a single try, until one succeeds.
 * Closing refuses new operations (STORE_CLOSED) and lets those under way finish, briefly, before ending the driver.
 */
export class StoreOps {
  readonly #policy: ReconnectPolicy | undefined
  /** Since when the database has been out of reach (undefined while it answers). */
  #lostSince: number | undefined
  #closed: Promise<void> | undefined
  readonly #busy = new Set<Promise<unknown>>()

  readonly #clock: Clock

  constructor(policy?: ReconnectPolicy, clock: Clock = systemClock) {
    this.#policy = policy
    this.#clock = clock
  }

  run<T>(op: (again: boolean) => Promise<T> | T): Promise<T> {
    if (this.#closed) return Promise.reject(new WeftError('STORE_CLOSED', 'the run store is closed', { retryable: false }))
    const p = this.#attempts(op)
    this.#busy.add(p)
    const done = () => void this.#busy.delete(p)
    p.then(done, done)
    return p
  }

  async #attempts<T>(op: (again: boolean) => Promise<T> | T): Promise<T> {
    let wait = 50
    for (let again = false; ; again = true) {
      try {
        const out = await op(again)
        this.#lostSince = undefined
        return out
      } catch (err) {
        const policy = this.#policy
        if (!policy || this.#closed) throw err
        if (!policy.lost(err)) {
          // the database answered (a constraint, say): it is within reach
          this.#lostSince = undefined
          throw err
        }
        this.#lostSince ??= this.#clock.now()
        const left = this.#lostSince + policy.windowMs - this.#clock.now()
        if (left <= 0) throw policy.unavailable(err, policy.windowMs - left)
        await clockSleep(this.#clock, Math.min(wait, left))
        wait = Math.min(wait * 2, 1000)
      }
    }
  }

  /** Idempotent: refuses new operations, gives those under way a moment, then calls `end` once. */
  close(end: () => Promise<void> | void): Promise<void> {
    return (this.#closed ??= (async () => {
      if (this.#busy.size) await Promise.race([Promise.allSettled([...this.#busy]), sleep(CLOSE_GRACE_MS, undefined, { ref: false })])
      await end()
    })())
  }
}
