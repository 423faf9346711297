// Files a node's output points at inside its run's folder, and moving such an output to another run's folder
// (hard links where the file system allows: the bytes are shared, not copied).
import { copyFile, link, mkdir, rm, stat } from 'node:fs/promises'
import path from 'node:path'
import { fileSha256 } from './file-hash.ts'

/** Every string of `value` that is a regular file inside `workDir`, once each, with its content hash. */
export async function filesIn(value: unknown, workDir: string): Promise<Array<{ rel: string; abs: string; sha: string }>> {
  const seen = new Set<string>()
  walk(value, (s) => {
    if (s.includes('\n') || !s.startsWith(workDir + path.sep)) return
    // `<run>/../x` is not in the run's folder, whatever it starts with
    const abs = path.normalize(s)
    if (abs.startsWith(workDir + path.sep)) seen.add(abs)
  })
  const out: Array<{ rel: string; abs: string; sha: string }> = []
  for (const abs of seen) {
    const sha = await fileSha256(abs)
    if (sha) out.push({ rel: path.relative(workDir, abs), abs, sha })
  }
  return out
}

/** `value` with every string that starts with the folder `from` rewritten to start with `to`. */
export function rebase<T>(value: T, from: string, to: string): T {
  if (from === to) return value
  const map = (x: unknown): unknown => {
    if (typeof x === 'string') return x === from ? to : x.startsWith(from + path.sep) ? to + x.slice(from.length) : x
    if (Array.isArray(x)) return x.map(map)
    if (x && typeof x === 'object') return Object.fromEntries(Object.entries(x).map(([k, v]) => [k, map(v)]))
    return x
  }
  return map(value) as T
}

/**
 * Puts `source` at `dest` as a hard link (a copy across file systems). A file already at `dest` is replaced unless
 * it is the same file; nothing is ever written into an existing file, so the bytes other runs share stay as they are.
 */
export async function placeFile(source: string, dest: string): Promise<void> {
  const [a, b] = await Promise.all([stat(source), stat(dest).catch(() => undefined)])
  if (b && a.ino === b.ino && a.dev === b.dev) return
  await mkdir(path.dirname(dest), { recursive: true })
  await rm(dest, { force: true })
  await linkOrCopy(source, dest)
}

/** A hard link of `source` at `dest`, or a copy where links cannot cross (another file system). */
export function linkOrCopy(source: string, dest: string): Promise<void> {
  return link(source, dest).catch((err: NodeJS.ErrnoException) => (err.code === 'EXDEV' || err.code === 'EPERM' ? copyFile(source, dest) : Promise.reject(err)))
}

/** Calls `onString` with every string inside a JSON value. */
export function walk(x: unknown, onString: (s: string) => void): void {
  if (typeof x === 'string') onString(x)
  else if (Array.isArray(x)) for (const v of x) walk(v, onString)
  else if (x && typeof x === 'object') for (const v of Object.values(x)) walk(v, onString)
}
