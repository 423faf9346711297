// What a fan-out item reports when it ends, in both drivers: one `node.progress` event per item (or step) with
// `item_status` (or `step_status`), so a client can show each item's state without reading the run's tasks.
import type { CacheNote } from './ports.ts'

/** The progress a fan-out item (or one of its steps) reports when it ends: clients show each item's state from it. */
export function itemEnded(key: string, step: string | undefined, outcome: { ok: true; cache?: CacheNote } | { ok: false; error: { code: string; message: string } }): Record<string, unknown> {
  const name = `item ${key}${step ? ` step ${step}` : ''}`
  // a step's end is not its item's: the item goes on to its next step (a failed step fails the item, though)
  const status = (s: 'succeeded' | 'failed') => (step ? { step, step_status: s } : { item_status: s })
  return outcome.ok
    ? { message: `${name} ${outcome.cache?.hit ? 'taken from the cache' : 'succeeded'}`, item: key, ...status('succeeded'), ...(outcome.cache ? { cache: outcome.cache } : {}) }
    : { message: `${name} failed: ${outcome.error.code}`, item: key, ...status('failed'), error: { code: outcome.error.code, message: outcome.error.message } }
}
