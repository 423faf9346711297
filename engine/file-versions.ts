// A file's version (its mtime), read from disk at most once per `freshMs` per file. Callers that ask on every request or
// every step (a server's pipeline catalog, the fleet's pipeline loader) then see an edit within that window without a
// `stat` each time; reads of one file in flight at once share one `stat`.
import { stat } from 'node:fs/promises'
import { LRUCache } from 'lru-cache'
import { systemClock, type Clock } from './clock.ts'

/** A file's mtime in ms, or undefined when it is missing or not a regular file. */
export type FileVersion = (file: string) => Promise<number | undefined>

export interface FileVersionOptions {
  /** How long a read stays current (ms, default 1000): an edit shows within this long. */
  freshMs?: number
  /** Files remembered at most (default 1000; the least recently asked go first). */
  max?: number
  clock?: Clock
}

export function fileVersions(opts: FileVersionOptions = {}): FileVersion {
  const clock = opts.clock ?? systemClock
  const cache = new LRUCache<string, { mtimeMs: number | undefined }>({
    max: opts.max ?? 1000,
    ttl: opts.freshMs ?? 1000,
    ttlResolution: 0,
    perf: { now: () => clock.now() },
    fetchMethod: async (file) => {
      const info = await stat(file).catch(() => undefined)
      return { mtimeMs: info?.isFile() ? info.mtimeMs : undefined }
    },
  })
  return async (file) => (await cache.fetch(file))?.mtimeMs
}
