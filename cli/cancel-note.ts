// Why `weft cancel` interrupted a `weft run` on this machine: a signal carries no text, so the reason goes in a small
// file the interrupted process reads when its SIGINT comes (named by its pid and the run; read once, then removed).
import { readFileSync, rmSync, statSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import path from 'node:path'

/** A note older than this is not the reason of this SIGINT (a cancel that gave up long ago). */
const FRESH_MS = 60_000

const noteFile = (pid: number, runId: string): string => path.join(tmpdir(), `weft-cancel-${pid}-${runId.replace(/[^A-Za-z0-9_-]/g, '_')}.txt`)

/** Leaves the reason for process `pid`, which drives run `runId`, before it is sent SIGINT. */
export function leaveCancelNote(pid: number, runId: string, reason: string): void {
  writeFileSync(noteFile(pid, runId), reason, { mode: 0o600 })
}

/** The reason `weft cancel` left for this process's run, if it left one just now; the note is removed. */
export function takeCancelNote(runId: string): string | undefined {
  const file = noteFile(process.pid, runId)
  try {
    const fresh = Date.now() - statSync(file).mtimeMs < FRESH_MS
    const text = readFileSync(file, 'utf8').slice(0, 1000)
    return fresh && text.trim() ? text : undefined
  } catch {
    return undefined
  } finally {
    rmSync(file, { force: true })
  }
}
