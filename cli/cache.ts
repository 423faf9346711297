// `weft cache ls | prune | clear`: the node cache of this machine (WEFT_CACHE_DIR, default <data dir>/cache).
import bytes from 'bytes'
import { weftDataDir } from '../engine/adapters/open-store.ts'
import { cacheSettingsFromEnv } from '../engine/cache/settings.ts'
import { NodeCache } from '../engine/cache/node-cache.ts'
import { parseDuration } from '../engine/duration.ts'
import { EXIT } from './exit.ts'

type Options = { json?: boolean; olderThan?: string }

export async function cacheCommand(action: 'ls' | 'prune' | 'clear', o: Options): Promise<number> {
  let cache: NodeCache
  try {
    const settings = cacheSettingsFromEnv(weftDataDir())
    cache = NodeCache.open(settings.dir, settings.maxBytes)
  } catch (err) {
    process.stderr.write(`${(err as { code?: string }).code ?? 'error'}: ${(err as Error).message}\n`)
    return EXIT.invalid
  }
  try {
    if (action === 'ls') return list(cache, o.json === true)
    if (action === 'prune') {
      const age = parseDuration(o.olderThan)
      if (age === undefined) {
        process.stderr.write(`error: --older-than must be a duration such as 30d or 12h, got "${o.olderThan}"\n`)
        return EXIT.invalid
      }
      const removed = await cache.prune(Date.now() - age)
      process.stdout.write(`removed ${removed} cached result${removed === 1 ? '' : 's'} not used for ${o.olderThan}; ${summary(cache)}\n`)
      return EXIT.completed
    }
    const removed = await cache.clear()
    process.stdout.write(`removed ${removed} cached result${removed === 1 ? '' : 's'}; ${summary(cache)}\n`)
    return EXIT.completed
  } finally {
    cache.close()
  }
}

function list(cache: NodeCache, json: boolean): number {
  const entries = cache.list()
  if (json) {
    process.stdout.write(
      JSON.stringify(
        {
          dir: cache.dir,
          max_bytes: cache.maxBytes,
          ...cache.stats(),
          results: entries.map(({ output: _, work_dir: __, ...e }) => ({ ...e, created_at: new Date(e.created_at).toISOString(), used_at: new Date(e.used_at).toISOString() })),
        },
        null,
        2,
      ) + '\n',
    )
    return EXIT.completed
  }
  if (entries.length === 0) process.stdout.write(`no cached results in ${cache.dir}\n`)
  for (const e of entries) {
    process.stdout.write(
      `${e.key.slice(0, 12)}  ${e.type.padEnd(12)} ${e.node.padEnd(20)} run ${e.run}  ${String(bytes.format(e.bytes)).padStart(8)}  used ${new Date(e.used_at).toISOString()}  hits ${e.hits}\n`,
    )
  }
  if (entries.length) process.stdout.write(`${summary(cache)}\n`)
  return EXIT.completed
}

function summary(cache: NodeCache): string {
  const s = cache.stats()
  return `${s.entries} result${s.entries === 1 ? '' : 's'}, ${bytes.format(s.bytes)} of ${bytes.format(cache.maxBytes)} in ${cache.dir}`
}
