// Where the node cache lives and how large it may grow, from the environment; and an executor wrapped with it.
import path from 'node:path'
import bytes from 'bytes'
import { WeftError } from '../errors.ts'
import type { NodeExecutor } from '../ports.ts'
import { deterministicProviders, providerIdentity, type ProviderSettings } from '../providers.ts'
import { CachingExecutor } from './caching-executor.ts'
import { NodeCache } from './node-cache.ts'
import type { RunCachePolicy } from './policy.ts'

export interface CacheSettings {
  /** `WEFT_CACHE=off` turns the cache off for every run of the process. */
  enabled: boolean
  /** `WEFT_CACHE_DIR`, default `<data dir>/cache`. */
  dir: string
  /** `WEFT_CACHE_MAX` (e.g. `2GB`, `500MB`), default 10 GB. */
  maxBytes: number
}

const DEFAULT_CACHE_MAX = 10 * 1024 ** 3

/** Reads the cache settings; throws CACHE_CONFIG_INVALID naming the variable at fault. */
export function cacheSettingsFromEnv(dataDir: string, env: Record<string, string | undefined> = process.env): CacheSettings {
  const flag = (env.WEFT_CACHE ?? 'on').toLowerCase()
  if (!['on', 'off'].includes(flag)) throw new WeftError('CACHE_CONFIG_INVALID', `WEFT_CACHE must be "on" or "off", got "${env.WEFT_CACHE}"`, { retryable: false })
  let maxBytes = DEFAULT_CACHE_MAX
  if (env.WEFT_CACHE_MAX) {
    const parsed = bytes.parse(env.WEFT_CACHE_MAX)
    if (parsed === null || !Number.isFinite(parsed) || parsed <= 0)
      throw new WeftError('CACHE_CONFIG_INVALID', `WEFT_CACHE_MAX must be a size such as 2GB or 500MB, got "${env.WEFT_CACHE_MAX}"`, { retryable: false })
    maxBytes = parsed
  }
  return { enabled: flag === 'on', dir: path.resolve(env.WEFT_CACHE_DIR || path.join(dataDir, 'cache')), maxBytes }
}

/** An executor answering from the node cache, the cache it uses, and the rule for runs with these providers. */
export interface CachedExecution {
  executor: NodeExecutor
  cache?: NodeCache
  policy: RunCachePolicy
}

/**
 * Wraps the executor `makeInner` makes with the node cache unless the cache is off (settings, or `off` for this run). The policy caches
 * every node when the providers are deterministic, else the nodes with a fixed `seed` or `cache: true`.
 */
export function withNodeCache(
  makeInner: () => NodeExecutor,
  settings: CacheSettings,
  providers: ProviderSettings,
  o: { off?: boolean; refresh?: readonly string[]; onProblem?: (message: string) => void } = {},
): CachedExecution {
  if (!settings.enabled || o.off) return { executor: makeInner(), policy: { off: true } }
  // the cache first: when it cannot be opened, no worker pool was started for nothing
  const cache = NodeCache.open(settings.dir, settings.maxBytes)
  const executor = new CachingExecutor(makeInner(), cache, { providers: providerIdentity(providers), closeCache: true, ...(o.onProblem ? { onProblem: o.onProblem } : {}) })
  return { executor, cache, policy: { deterministic: deterministicProviders(providers), ...(o.refresh ? { refresh: o.refresh } : {}) } }
}
