// The node cache on disk: an index in SQLite (any number of processes on this machine share it) and the files of
// cached results stored once by content hash (`blobs/<sha>`), hard-linked into every run that uses them.
import { chmod, mkdir, rename, rm, stat } from 'node:fs/promises'
import { mkdirSync } from 'node:fs'
import path from 'node:path'
import Database from 'better-sqlite3'
import { WeftError } from '../errors.ts'
import { holderGone, thisProcess } from '../adapters/lease-holder.ts'
import { CACHE_FORMAT } from './key.ts'
import { linkOrCopy } from './run-files.ts'

/** A file of a cached result: where it sits relative to the run's folder, and its content. */
interface CachedFile {
  rel: string
  sha: string
  size: number
}

/** One cached result. `output` is as the node returned it, with paths into `work_dir` (the first run's folder). */
export interface CacheEntry {
  key: string
  type: string
  /** The node (or fan-out item) and run that computed it. */
  node: string
  run: string
  work_dir: string
  output: unknown
  files: CachedFile[]
  /** Bytes of the output's JSON and of its files. */
  bytes: number
  created_at: number
  used_at: number
  hits: number
}

export interface CacheStats {
  entries: number
  /** Distinct file contents stored, and their bytes. */
  blobs: number
  blob_bytes: number
  /** Everything the cap counts: blobs plus the outputs' JSON. */
  bytes: number
}

const SCHEMA = `
create table if not exists entries (
  key text primary key, type text not null, node text not null, run text not null, work_dir text not null,
  output text not null, files text not null, bytes integer not null,
  created_at integer not null, used_at integer not null, hits integer not null default 0
);
create index if not exists entries_used on entries (used_at);
create table if not exists entry_blobs (key text not null, sha text not null, primary key (key, sha));
create index if not exists entry_blobs_sha on entry_blobs (sha);
create table if not exists blobs (sha text primary key, size integer not null);
create table if not exists computing (key text primary key, host text not null, pid integer not null, since integer not null);
`

type EntryRow = Omit<CacheEntry, 'output' | 'files'> & { output: string; files: string }
type Holder = { host: string; pid: number; since: number }

/**
 * A claim its holder has not renewed for this long has lapsed, whatever its host: the holder renews it while it
 * computes (every `CLAIM_RENEW_MS`), so a holder that is frozen (a stopped process, a paused machine) or on another
 * host and gone stops holding others up.
 */
export const CLAIM_LAPSE_MS = 60_000
/** How often a computation renews its claim. */
export const CLAIM_RENEW_MS = 15_000
/** Longest a computation renews its claim: one that hangs (a node with no `timeout`) lets the key go after this. */
export const CLAIM_MAX_MS = 6 * 3600_000

/** A claim whose process is gone from this host, or that was not renewed in time (whatever its host). */
function gone(held: Holder, now: number): boolean {
  return holderGone(held, thisProcess) || now - held.since > CLAIM_LAPSE_MS
}

export class NodeCache {
  readonly #db: Database.Database
  readonly blobDir: string

  private constructor(
    readonly dir: string,
    readonly maxBytes: number,
    db: Database.Database,
  ) {
    this.#db = db
    this.blobDir = path.join(dir, 'blobs')
  }

  /** Opens (creating) the cache in `dir`, capped at `maxBytes` (least recently used entries go first). */
  static open(dir: string, maxBytes: number): NodeCache {
    let db: Database.Database | undefined
    try {
      mkdirSync(path.join(dir, 'blobs'), { recursive: true })
      db = new Database(path.join(dir, `index-v${CACHE_FORMAT}.db`), { timeout: 5000 })
      db.pragma('journal_mode = WAL')
      db.pragma('synchronous = NORMAL')
      db.exec(SCHEMA)
    } catch (err) {
      db?.close()
      throw new WeftError('CACHE_UNAVAILABLE', `the node cache in ${dir} cannot be opened: ${(err as Error).message} (set WEFT_CACHE_DIR to another folder, or run with --no-cache)`, {
        retryable: false,
      })
    }
    return new NodeCache(dir, maxBytes, db)
  }

  blobPath(sha: string): string {
    return path.join(this.blobDir, sha.slice(0, 2), sha)
  }

  /** The entry for `key`, marked as used now; undefined when there is none or a file of it is gone. */
  async get(key: string, now = Date.now()): Promise<CacheEntry | undefined> {
    const row = this.#db.prepare('select * from entries where key = ?').get(key) as EntryRow | undefined
    if (!row) return undefined
    const entry = readRow(row)
    for (const f of entry.files) {
      // a blob gone, or changed in place (its size differs): the entry cannot be trusted
      const st = await stat(this.blobPath(f.sha)).catch(() => undefined)
      if (!st || st.size !== f.size) {
        this.#db.prepare('delete from entries where key = ?').run(key)
        this.#db.prepare('delete from entry_blobs where key = ?').run(key)
        return undefined
      }
    }
    this.#db.prepare('update entries set used_at = ?, hits = hits + 1 where key = ?').run(now, key)
    return { ...entry, used_at: now, hits: entry.hits + 1 }
  }

  /** Whether an entry for `key` exists (without marking it used). */
  has(key: string): boolean {
    return this.#db.prepare('select 1 from entries where key = ?').get(key) !== undefined
  }

  /**
   * Stores a result: each file (`abs` in the computing run's folder) becomes a blob, linked rather than copied when
   * the cache and the run share a file system. Then evicts least recently used entries past the cap.
   */
  async put(entry: Omit<CacheEntry, 'files' | 'bytes' | 'created_at' | 'used_at' | 'hits'>, files: Array<{ rel: string; abs: string; sha: string }>, now = Date.now()): Promise<void> {
    const stored: CachedFile[] = []
    for (const f of files) {
      const blob = this.blobPath(f.sha)
      const size = (await stat(f.abs)).size
      if (!(await stat(blob).catch(() => undefined))) {
        await mkdir(path.dirname(blob), { recursive: true })
        const tmp = `${blob}.${process.pid}.${Math.random().toString(36).slice(2)}.tmp`
        await linkOrCopy(f.abs, tmp)
        // read-only: the bytes are shared by every run that links them (a writer replaces a file, never edits it)
        await chmod(tmp, 0o444)
        await rename(tmp, blob)
      }
      stored.push({ rel: f.rel, sha: f.sha, size })
    }
    const output = JSON.stringify(entry.output)
    const bytes = output.length + stored.reduce((n, f) => n + f.size, 0)
    this.#db.transaction(() => {
      this.#db
        .prepare('insert or replace into entries (key, type, node, run, work_dir, output, files, bytes, created_at, used_at, hits) values (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, 0)')
        .run(entry.key, entry.type, entry.node, entry.run, entry.work_dir, output, JSON.stringify(stored), bytes, now, now)
      this.#db.prepare('delete from entry_blobs where key = ?').run(entry.key)
      for (const f of stored) {
        this.#db.prepare('insert or ignore into entry_blobs (key, sha) values (?, ?)').run(entry.key, f.sha)
        this.#db.prepare('insert or ignore into blobs (sha, size) values (?, ?)').run(f.sha, f.size)
      }
    })()
    if (this.stats().bytes > this.maxBytes) await this.evict(this.maxBytes)
  }

  /** Takes the right to compute `key` for this process; false while another live holder has it. */
  claim(key: string, now = Date.now()): boolean {
    return this.#db
      .transaction(() => {
        const held = this.#db.prepare('select host, pid, since from computing where key = ?').get(key) as Holder | undefined
        if (held && held.host === thisProcess.host && held.pid === process.pid) return true
        if (held && !gone(held, now)) return false
        this.#db.prepare('insert or replace into computing (key, host, pid, since) values (?, ?, ?, ?)').run(key, thisProcess.host, process.pid, now)
        return true
      })
      .immediate()
  }

  /** Whether another process still holds the right to compute `key` (a holder that died, or held it too long, does not). */
  claimed(key: string, now = Date.now()): boolean {
    const held = this.#db.prepare('select host, pid, since from computing where key = ?').get(key) as Holder | undefined
    return held !== undefined && !gone(held, now)
  }

  /** Renews this process's claim of `key` (its `since` moves on); false when it no longer holds it (it lapsed and was taken). */
  renew(key: string, now = Date.now()): boolean {
    return this.#db.prepare('update computing set since = ? where key = ? and host = ? and pid = ?').run(now, key, thisProcess.host, process.pid).changes > 0
  }

  release(key: string): void {
    this.#db.prepare('delete from computing where key = ? and host = ? and pid = ?').run(key, thisProcess.host, process.pid)
  }

  /** Entries, most recently used first. */
  list(): CacheEntry[] {
    return (this.#db.prepare('select * from entries order by used_at desc, key').all() as EntryRow[]).map(readRow)
  }

  stats(): CacheStats {
    const e = this.#db.prepare('select count(*) as n, coalesce(sum(length(output)), 0) as json from entries').get() as { n: number; json: number }
    const b = this.#db.prepare('select count(*) as n, coalesce(sum(size), 0) as bytes from blobs').get() as { n: number; bytes: number }
    return { entries: e.n, blobs: b.n, blob_bytes: b.bytes, bytes: b.bytes + e.json }
  }

  /** Removes the least recently used entries until the cache holds at most `maxBytes`; returns how many went. */
  async evict(maxBytes: number): Promise<number> {
    let removed = 0
    const keys = this.#db.prepare('select key from entries order by used_at, key').pluck().all() as string[]
    for (const key of keys) {
      if (this.stats().bytes <= maxBytes) break
      this.#remove([key])
      await this.#collect()
      removed++
    }
    return removed
  }

  /** Removes entries last used before `cutoff` (ms since the epoch); returns how many went. */
  async prune(cutoff: number): Promise<number> {
    const keys = this.#db.prepare('select key from entries where used_at < ?').pluck().all(cutoff) as string[]
    this.#remove(keys)
    await this.#collect()
    return keys.length
  }

  /** Removes every entry and blob; returns how many entries went. */
  async clear(): Promise<number> {
    const n = this.stats().entries
    this.#db.exec('delete from entries; delete from entry_blobs;')
    await this.#collect()
    return n
  }

  close(): void {
    this.#db.close()
  }

  #remove(keys: string[]): void {
    this.#db.transaction(() => {
      for (const key of keys) {
        this.#db.prepare('delete from entries where key = ?').run(key)
        this.#db.prepare('delete from entry_blobs where key = ?').run(key)
      }
    })()
  }

  /** Deletes blobs no entry uses (runs that linked them keep their own link to the bytes). */
  async #collect(): Promise<void> {
    const gone = this.#db
      .transaction(() => {
        const shas = this.#db.prepare('select sha from blobs where sha not in (select sha from entry_blobs)').pluck().all() as string[]
        for (const sha of shas) this.#db.prepare('delete from blobs where sha = ?').run(sha)
        return shas
      })
      .immediate()
    for (const sha of gone) await rm(this.blobPath(sha), { force: true })
  }
}

function readRow(row: EntryRow): CacheEntry {
  return { ...row, output: JSON.parse(row.output), files: JSON.parse(row.files) as CachedFile[] }
}
