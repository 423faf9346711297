// Whether one node attempt reads and writes the node cache: a pure rule over the node's `cache:` field, the
// run's cache settings and the attempt's resolved config.

import type { CacheMode } from '../ports.ts'

/** A run's cache settings. */
export interface RunCachePolicy {
  /** No node of the run reads or writes the cache (`weft run --no-cache`). */
  off?: boolean
  /** The run's providers give the same result for the same request (the offline model, local ffmpeg media). */
  deterministic?: boolean
  /** Pipeline nodes executed again whatever the cache holds (`weft rerun --from`): their results are stored anew. */
  refresh?: readonly string[]
}

/**
 * The cache mode of one attempt. A node's `cache: false` turns it off; `cache: true` turns it on whatever its type
 * and the providers. Otherwise a result is cached when its type declares its results reusable (`cache: true` in
 * the definition: the built-in agent, critic_loop and render) and it is reproducible: the run's providers are
 * deterministic, or the node asks for a fixed `seed`.
 */
export function cacheMode(policy: RunCachePolicy | undefined, node: string, field: boolean | undefined, config: unknown, typeCacheable: boolean | undefined): CacheMode {
  if (!policy || policy.off || field === false) return 'off'
  if (policy.refresh?.includes(node)) return 'refresh'
  if (field === true) return 'use'
  if (!typeCacheable) return 'off'
  return policy.deterministic || hasSeed(config) ? 'use' : 'off'
}

function hasSeed(config: unknown): boolean {
  return typeof config === 'object' && config !== null && Number.isInteger((config as { seed?: unknown }).seed)
}
