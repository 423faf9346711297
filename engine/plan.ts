// Pure scheduling decisions: may a node run given its dependencies, and which waiting work may start now.
import type { NodeStatus } from './ports.ts'
import type { Trigger } from './dsl/pipeline.ts'

const TERMINAL: ReadonlySet<NodeStatus> = new Set(['succeeded', 'failed', 'skipped', 'cancelled'])

export const isTerminal = (s: NodeStatus): boolean => TERMINAL.has(s)

export type Readiness = { action: 'wait' } | { action: 'run' } | { action: 'skip'; reason: string }

/**
 * Decides a node's fate from its dependencies' states, by its trigger rule:
 * `all_succeeded` (default) needs every dependency succeeded; `none_failed` tolerates skipped ones;
 * `all_done` runs once every dependency has finished, however it ended.
 */
export function readiness(trigger: Trigger, deps: ReadonlyArray<{ id: string; status: NodeStatus }>): Readiness {
  for (const d of deps) if (!TERMINAL.has(d.status)) return { action: 'wait' }
  if (trigger === 'all_done') return { action: 'run' }
  for (const d of deps) {
    if (d.status === 'failed' || d.status === 'cancelled') return { action: 'skip', reason: `dependency "${d.id}" ${d.status}` }
    if (d.status === 'skipped' && trigger === 'all_succeeded') return { action: 'skip', reason: `dependency "${d.id}" was skipped` }
  }
  return { action: 'run' }
}

/** A unit of work waiting for a slot: a node attempt or a fan-out child. */
export interface Waiting {
  pool?: string | undefined
}

export interface Capacity {
  /** Global cap (Infinity when none). */
  limit: number
  running: number
  pools: Readonly<Record<string, number>>
  poolRunning: Readonly<Record<string, number>>
}

/**
 * Which waiting entries may start now, in queue order, without exceeding the global cap or any pool's
 * cap. An entry whose pool is full does not block entries behind it that use other pools.
 */
export function admit(queue: readonly Waiting[], cap: Capacity): number[] {
  const picked: number[] = []
  let free = cap.limit - cap.running
  if (free <= 0) return picked
  const poolFree: Record<string, number> = {}
  for (let i = 0; i < queue.length && free > 0; i++) {
    const pool = queue[i]!.pool
    if (pool !== undefined) {
      const left = poolFree[pool] ?? (cap.pools[pool] ?? Infinity) - (cap.poolRunning[pool] ?? 0)
      if (left <= 0) {
        poolFree[pool] = 0
        continue
      }
      poolFree[pool] = left - 1
    }
    picked.push(i)
    free--
  }
  return picked
}

export interface RetryPolicy {
  attempts: number
  backoffMs: number
  factor: number
  maxBackoffMs: number
  jitter: boolean
}

/** Delay before attempt `next` (2 for the first retry): exponential, capped, with optional jitter in [50%, 100%]. */
export function backoffDelay(policy: RetryPolicy, next: number, random: () => number): number {
  const raw = Math.min(policy.maxBackoffMs, policy.backoffMs * policy.factor ** Math.max(0, next - 2))
  return policy.jitter ? Math.round(raw * (0.5 + random() * 0.5)) : raw
}
