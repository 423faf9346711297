// Whether one node attempt reads and writes the node cache: a pure rule over the node's `cache:` field, the
// run's cache settings and the attempt's resolved config.

import { parseModelRef } from '../model-ref.ts'
import type { CacheMode } from '../ports.ts'

/** What a node type says about reuse: its results may be cached, and which of its fields name a model. */
export interface CacheTraits {
  cacheable?: boolean
  models?: readonly string[]
}

/** A node definition's cache traits, as task specs carry them (only what is set). */
export function cacheTraits(def: { cache?: boolean | undefined; models?: readonly string[] | undefined }): { cacheable?: true; models?: string[] } {
  return { ...(def.cache ? { cacheable: true as const } : {}), ...(def.models?.length ? { models: [...def.models] } : {}) }
}

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
 * deterministic and the models the node names are the offline one, or the node asks for a fixed `seed`.
 */
export function cacheMode(policy: RunCachePolicy | undefined, node: string, field: boolean | undefined, config: unknown, traits: CacheTraits = {}): CacheMode {
  if (!policy || policy.off || field === false) return 'off'
  if (policy.refresh?.includes(node)) return 'refresh'
  if (field === true) return 'use'
  if (!traits.cacheable) return 'off'
  return (policy.deterministic && offlineModels(config, traits.models ?? [])) || hasSeed(config) ? 'use' : 'off'
}

/** Whether every model the config names (in the fields that name one) is the offline model; unnamed is the default. */
function offlineModels(config: unknown, fields: readonly string[]): boolean {
  if (typeof config !== 'object' || config === null) return true
  return fields.every((f) => {
    const ref = (config as Record<string, unknown>)[f]
    // the run's default is offline whenever its providers are deterministic
    return typeof ref !== 'string' || parseModelRef(ref, 'offline').provider === 'offline'
  })
}

function hasSeed(config: unknown): boolean {
  return typeof config === 'object' && config !== null && Number.isInteger((config as { seed?: unknown }).seed)
}
