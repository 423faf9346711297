// Helpers of the provider adapter tests: a sleep that records the waits asked for, and a rejection read as a WeftError.
import assert from 'node:assert/strict'
import type { Sleep } from '../../engine/adapters/http-retry.ts'
import type { WeftError } from '../../engine/errors.ts'

/** A sleep that records each requested delay and returns at once (rejecting if already aborted). */
export function recordingSleep(): { delays: number[]; sleep: Sleep } {
  const delays: number[] = []
  return {
    delays,
    sleep: async (ms, signal) => {
      delays.push(ms)
      if (signal.aborted) throw signal.reason
    },
  }
}

/** Awaits a rejection and returns it as a WeftError for field checks. */
export async function rejection(p: Promise<unknown>): Promise<WeftError> {
  try {
    await p
  } catch (err) {
    return err as WeftError
  }
  assert.fail('expected a rejection')
}
