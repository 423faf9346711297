// Time as a port: the real clock for runs, an injected one in tests (timeouts, backoff, timestamps).

export interface Clock {
  /** Milliseconds since the epoch. */
  now(): number
  /**
   * Calls `fn` after `ms`; returns a function that cancels it. `unref`: the timer alone does not keep the process
   * alive (a heartbeat, a grace period).
   */
  setTimer(fn: () => void, ms: number, opts?: { unref?: boolean }): () => void
  /** Random number in [0, 1) for backoff jitter. */
  random(): number
}

export const systemClock: Clock = {
  now: () => Date.now(),
  setTimer(fn, ms, opts) {
    const t = setTimeout(fn, ms)
    if (opts?.unref) t.unref()
    return () => clearTimeout(t)
  },
  random: Math.random,
}

/** Calls `fn` every `ms` on the given clock until the returned function is called. */
export function every(clock: Clock, ms: number, fn: () => void, opts?: { unref?: boolean }): () => void {
  let cancel = (): void => {}
  let stopped = false
  const arm = (): void => {
    cancel = clock.setTimer(
      () => {
        if (stopped) return
        arm()
        fn()
      },
      ms,
      opts,
    )
  }
  arm()
  return () => {
    stopped = true
    cancel()
  }
}

/** Resolves after `ms` on the given clock, or rejects with the signal's reason when it aborts first. */
export function sleep(clock: Clock, ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal?.aborted) return reject(signal.reason)
    const onAbort = () => {
      cancel()
      reject(signal!.reason)
    }
    const cancel = clock.setTimer(() => {
      signal?.removeEventListener('abort', onAbort)
      resolve()
    }, ms)
    signal?.addEventListener('abort', onAbort, { once: true })
  })
}
