// Content hashes of files (sha256, hex), remembered per file version so a file read by many nodes is read once.
import { createHash } from 'node:crypto'
import { createReadStream } from 'node:fs'
import { stat } from 'node:fs/promises'
import { pipeline } from 'node:stream/promises'

const known = new Map<string, { version: string; sha: Promise<string> }>()
const MAX_KNOWN = 10_000

/** The sha256 of a regular file's bytes, or undefined when `file` is not a regular file. */
export async function fileSha256(file: string): Promise<string | undefined> {
  const st = await stat(file).catch(() => undefined)
  if (!st?.isFile()) return undefined
  // a file rewritten in place changes its size or mtime; a new file at the path has a new inode
  const version = `${st.dev}:${st.ino}:${st.size}:${st.mtimeMs}`
  const seen = known.get(file)
  if (seen?.version === version) return seen.sha
  const sha = (async () => {
    const hash = createHash('sha256')
    await pipeline(createReadStream(file), hash)
    return hash.digest('hex')
  })()
  if (known.size >= MAX_KNOWN) known.delete(known.keys().next().value!)
  known.set(file, { version, sha })
  sha.catch(() => known.delete(file))
  return sha
}
