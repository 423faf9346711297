// Why `weft cancel` interrupted a `weft run` on this machine: a signal carries no text, so the reason goes in a small
// file the interrupted process reads when its SIGINT comes (named by its pid and the run; read once, then removed).
// The notes live in a folder of the user's own in the temporary folder (mode 0700), so nobody else can leave one,
// replace one or point one elsewhere; a cancel by another user (root) leaves none, and the run records the interrupt.
import { lstatSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir, userInfo } from 'node:os'
import path from 'node:path'

/** A note older than this is not the reason of this SIGINT (a cancel that gave up long ago). */
const FRESH_MS = 60_000

/** This user's folder of notes, made if missing; undefined when it is not a private folder of this user's. */
function notesDir(): string | undefined {
  const uid = userInfo().uid
  const dir = path.join(tmpdir(), `weft-notes-${uid}`)
  try {
    mkdirSync(dir, { mode: 0o700, recursive: true })
    const st = lstatSync(dir)
    return st.isDirectory() && (uid < 0 || st.uid === uid) && (st.mode & 0o077) === 0 ? dir : undefined
  } catch {
    return undefined
  }
}

const noteName = (pid: number, runId: string): string => `cancel-${pid}-${runId.replace(/[^A-Za-z0-9_-]/g, '_')}.txt`

/** Leaves the reason for process `pid`, which drives run `runId`, before it is sent SIGINT; false when it cannot. */
export function leaveCancelNote(pid: number, runId: string, reason: string): boolean {
  const dir = notesDir()
  if (!dir) return false
  try {
    writeFileSync(path.join(dir, noteName(pid, runId)), reason, { mode: 0o600 })
    return true
  } catch {
    return false
  }
}

/** The reason `weft cancel` left for this process's run, if it left one just now; the note is removed. Never throws. */
export function takeCancelNote(runId: string): string | undefined {
  const dir = notesDir()
  if (!dir) return undefined
  const file = path.join(dir, noteName(process.pid, runId))
  try {
    const st = lstatSync(file)
    if (!st.isFile() || Date.now() - st.mtimeMs >= FRESH_MS) return undefined
    const text = readFileSync(file, 'utf8').slice(0, 1000)
    return text.trim() ? text : undefined
  } catch {
    return undefined
  } finally {
    try {
      rmSync(file, { force: true })
    } catch {
      // left for the temporary folder's own clean-up
    }
  }
}
