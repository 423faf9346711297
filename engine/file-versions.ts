// A file's version (its mtime), read from disk at most once per `freshMs` per file. Callers that ask on every request or
// every step (a server's pipeline catalog, the fleet's pipeline loader) then see an edit within that window without a
// `stat` each time; reads of one file in flight at once share one `stat`. A file found missing is not remembered (the
// next read looks again), and a caller that finds what it read inconsistent asks again with `recheck`.
import { stat } from 'node:fs/promises'
import { LRUCache } from 'lru-cache'
import type { Clock } from './clock.ts'

/** A file's mtime in ms, or undefined when it is missing or not a regular file; `recheck` reads it from disk now. */
export type FileVersion = (file: string, opts?: { recheck?: boolean }) => Promise<number | undefined>

export interface FileVersionOptions {
  /** How long a read stays current (ms, default 1000, at least 1): an edit shows within this long. */
  freshMs?: number
  /** Files remembered at most (default 1000; the least recently asked go first). */
  max?: number
  /** Virtual time for tests; by default lru-cache's monotonic clock, which a change of the system time does not move. */
  clock?: Clock
}

export function fileVersions(opts: FileVersionOptions = {}): FileVersion {
  const clock = opts.clock
  const cache = new LRUCache<string, { mtimeMs: number }>({
    max: opts.max ?? 1000,
    ttl: Math.max(1, Math.round(opts.freshMs ?? 1000)),
    ttlResolution: 0,
    ...(clock ? { perf: { now: () => clock.now() } } : {}),
    // undefined (missing) is not cached
    fetchMethod: async (file) => {
      const info = await stat(file).catch(() => undefined)
      return info?.isFile() ? { mtimeMs: info.mtimeMs } : undefined
    },
  })
  return async (file, o) => (await cache.fetch(file, o?.recheck ? { forceRefresh: true } : {}))?.mtimeMs
}
