// SQLite's and the file system's errors about the embedded database, as the engine's codes: the file, and what to do.
import { statfsSync } from 'node:fs'
import path from 'node:path'
import { WeftError } from '../errors.ts'
import { rootCause } from './store-ops.ts'

const ELSEWHERE = 'or set WEFT_DATA_DIR to another folder'

/** The codes of `sqliteError` that no retry can fix: a person must act (the CLI exits 2 with them). */
export const NEEDS_A_PERSON: ReadonlySet<string> = new Set(['STORE_NOT_WRITABLE', 'STORE_NOT_SQLITE', 'STORE_CORRUPT', 'STORE_DISK_FULL', 'STORE_IO_ERROR'])

/** Below this much free space, an I/O error is taken for a full disk. */
const LOW_SPACE = 1024 * 1024

/** Free space for this user on the file system holding `file` (Infinity when it cannot be read). */
function freeBytes(file: string): number {
  try {
    const s = statfsSync(path.dirname(file))
    return s.bavail * s.bsize
  } catch {
    return Infinity
  }
}

/**
 * The error a user sees when the database file cannot be used. Never retryable: each needs a person.
 * - STORE_NOT_WRITABLE: the folder or file cannot be created or written (permissions, a read-only file system).
 * - STORE_NOT_SQLITE: the file is something else.
 * - STORE_CORRUPT: the file is a damaged SQLite database.
 * - STORE_DISK_FULL: no space left for the next write (what was committed before is intact).
 * - STORE_IO_ERROR: the operating system failed a read or write.
 * Anything else is STORE_FAILED with SQLite's message.
 */
export function sqliteError(err: unknown, file: string): WeftError {
  const cause = rootCause(err)
  const code = String((cause as { code?: unknown })?.code ?? '')
  const why = cause instanceof Error ? cause.message : String(cause)
  const make = (c: string, message: string) => new WeftError(c, message, { cause, retryable: false, details: { path: file, code: code || undefined } })
  if (['EACCES', 'EPERM', 'EROFS', 'ENOTDIR', 'EEXIST', 'EISDIR'].includes(code) || code.startsWith('SQLITE_READONLY') || code === 'SQLITE_PERM' || code.startsWith('SQLITE_CANTOPEN')) {
    return make('STORE_NOT_WRITABLE', `cannot create or write the database ${file} (${why}): make its folder writable for this user, ${ELSEWHERE}`)
  }
  if (code === 'SQLITE_NOTADB') return make('STORE_NOT_SQLITE', `${file} is not a SQLite database (${why}): move it aside (weft then creates a new one there), ${ELSEWHERE}`)
  if (code.startsWith('SQLITE_CORRUPT')) {
    return make('STORE_CORRUPT', `the database ${file} is damaged (${why}): keep a copy, then try \`sqlite3 ${file} .recover | sqlite3 recovered.db\`, or move it aside to start a new one`)
  }
  // a full disk often reaches SQLite as an I/O error (growing the WAL index fails): the free space tells
  if (code === 'SQLITE_FULL' || code === 'ENOSPC' || ((code.startsWith('SQLITE_IOERR') || code === 'EIO') && freeBytes(file) < LOW_SPACE)) {
    return make('STORE_DISK_FULL', `no space left to write ${file} (${why}): free disk space; what was recorded before is intact`)
  }
  if (code.startsWith('SQLITE_IOERR') || code === 'EIO') return make('STORE_IO_ERROR', `reading or writing ${file} failed (${why}): check the disk, ${ELSEWHERE}`)
  return make('STORE_FAILED', `the database ${file} failed: ${why}`)
}
