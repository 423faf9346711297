// Serving a generation's files: a path that cannot leave the generation's folder, HTTP Range (206/416), content types.
import { createReadStream } from 'node:fs'
import { realpath, stat } from 'node:fs/promises'
import path from 'node:path'
import { Readable } from 'node:stream'

/** Content types by extension; anything else is served as `application/octet-stream` (and never sniffed). */
const CONTENT_TYPES: Readonly<Record<string, string>> = {
  '.mp4': 'video/mp4',
  '.m4v': 'video/mp4',
  '.webm': 'video/webm',
  '.mov': 'video/quicktime',
  '.png': 'image/png',
  '.jpg': 'image/jpeg',
  '.jpeg': 'image/jpeg',
  '.webp': 'image/webp',
  '.gif': 'image/gif',
  '.mp3': 'audio/mpeg',
  '.m4a': 'audio/mp4',
  '.wav': 'audio/wav',
  '.json': 'application/json',
  '.txt': 'text/plain; charset=utf-8',
  '.md': 'text/plain; charset=utf-8',
}

/** Where a requested artifact is: its real path and size, or why it cannot be served. */
export type ArtifactLookup = { ok: true; file: string; size: number; mtime: Date } | { ok: false; code: 'PATH_INVALID' | 'NOT_FOUND' }

/**
 * Decodes the raw (still percent-encoded) segments after `/artifacts/`. Each is decoded once; empty,
 * `.` and `..` segments, and segments holding `/`, `\` or NUL after decoding, make the path invalid
 * (so `%2e%2e`, `..%2f`, `%5c` and absolute paths are refused whatever their spelling).
 */
export function decodeSegments(rawSegments: readonly string[]): string[] | undefined {
  if (rawSegments.length === 0) return undefined
  const out: string[] = []
  for (const raw of rawSegments) {
    let seg: string
    try {
      seg = decodeURIComponent(raw)
    } catch {
      return undefined
    }
    if (seg === '' || seg === '.' || seg === '..' || /[/\\\0]/.test(seg)) return undefined
    out.push(seg)
  }
  return out
}

/**
 * Finds a regular file under `root` from decoded segments. The real path (symlinks resolved) must lie
 * inside the real `root`: a symlink pointing out of the folder is NOT_FOUND, as is a folder or a missing file.
 */
export async function lookupArtifact(root: string, segments: readonly string[]): Promise<ArtifactLookup> {
  let realRoot: string
  try {
    realRoot = await realpath(root)
  } catch {
    return { ok: false, code: 'NOT_FOUND' }
  }
  const candidate = path.resolve(realRoot, ...segments)
  if (!inside(realRoot, candidate)) return { ok: false, code: 'PATH_INVALID' }
  try {
    const real = await realpath(candidate)
    if (!inside(realRoot, real)) return { ok: false, code: 'NOT_FOUND' }
    const st = await stat(real)
    if (!st.isFile()) return { ok: false, code: 'NOT_FOUND' }
    return { ok: true, file: real, size: st.size, mtime: st.mtime }
  } catch {
    return { ok: false, code: 'NOT_FOUND' }
  }
}

/** A byte range to send (inclusive `end`), the whole file, or a range that cannot be satisfied. */
export type RangeResult = { kind: 'full' } | { kind: 'partial'; start: number; end: number } | { kind: 'unsatisfiable' }

/**
 * Reads a `Range` header for a file of `size` bytes (RFC 9110 §14): one `bytes=a-b`, `bytes=a-` or
 * `bytes=-n` range. No header, another unit, malformed syntax or several ranges → the whole file (a
 * server may ignore Range); a well-formed range that starts past the end → unsatisfiable (416).
 */
export function parseRange(header: string | undefined, size: number): RangeResult {
  if (!header) return { kind: 'full' }
  const m = header.trim().match(/^bytes=(\d*)-(\d*)$/i)
  if (!m || (m[1] === '' && m[2] === '')) return { kind: 'full' }
  if (m[1] === '') {
    const suffix = Number(m[2])
    if (suffix === 0 || size === 0) return { kind: 'unsatisfiable' }
    return { kind: 'partial', start: Math.max(0, size - suffix), end: size - 1 }
  }
  const start = Number(m[1])
  const end = m[2] === '' ? size - 1 : Math.min(Number(m[2]), size - 1)
  if (m[2] !== '' && Number(m[2]) < start) return { kind: 'full' }
  if (start >= size) return { kind: 'unsatisfiable' }
  return { kind: 'partial', start, end }
}

/** The response for a found artifact, honouring `Range` (200, 206 with Content-Range, or 416). */
export function artifactResponse(found: { file: string; size: number; mtime: Date }, rangeHeader: string | undefined, method: string): Response {
  const type = CONTENT_TYPES[path.extname(found.file).toLowerCase()] ?? 'application/octet-stream'
  const headers = new Headers({
    'Accept-Ranges': 'bytes',
    'Content-Type': type,
    'Last-Modified': found.mtime.toUTCString(),
    'X-Content-Type-Options': 'nosniff',
    'Cache-Control': 'private, no-cache',
  })
  const range = parseRange(rangeHeader, found.size)
  if (range.kind === 'unsatisfiable') {
    headers.set('Content-Range', `bytes */${found.size}`)
    headers.set('Content-Type', 'application/json')
    const body = JSON.stringify({ error: { code: 'RANGE_NOT_SATISFIABLE', message: `the range is outside the file (${found.size} bytes)` } })
    return new Response(body, { status: 416, headers })
  }
  const start = range.kind === 'partial' ? range.start : 0
  const end = range.kind === 'partial' ? range.end : found.size - 1
  const length = found.size === 0 ? 0 : end - start + 1
  headers.set('Content-Length', String(length))
  if (range.kind === 'partial') headers.set('Content-Range', `bytes ${start}-${end}/${found.size}`)
  const status = range.kind === 'partial' ? 206 : 200
  if (method === 'HEAD' || length === 0) return new Response(null, { status, headers })
  const stream = Readable.toWeb(createReadStream(found.file, { start, end })) as ReadableStream<Uint8Array>
  return new Response(stream, { status, headers })
}

function inside(root: string, p: string): boolean {
  const rel = path.relative(root, p)
  return rel !== '' && rel !== '..' && !rel.startsWith(`..${path.sep}`) && !path.isAbsolute(rel)
}

/** A file a node made, as the API lists it: which node (and fan-out item), its kind, its path in the folder, its URL. */
export interface ArtifactLink {
  node: string
  item?: number
  kind: string
  path: string
  url: string
}

/**
 * The files a generation's record names (render results, and the results of fan-outs over them) that sit inside
 * its folder, with their URLs; `final_video_url` is the run's `final_video` output's. Paths outside are left out.
 */
export function artifactLinks(
  generationId: string,
  artifactsDir: string,
  record: { outputs: Record<string, unknown> | null; nodes: Record<string, { output: unknown }> },
): { final_video_url: string | null; files: ArtifactLink[] } {
  const files: ArtifactLink[] = []
  const add = (node: string, x: unknown, item?: number) => {
    if (typeof x !== 'object' || x === null) return
    const r = x as { path?: unknown; kind?: unknown }
    const url = artifactUrl(generationId, artifactsDir, r.path)
    if (!url || typeof r.kind !== 'string') return
    const rel = path
      .relative(artifactsDir, path.resolve(artifactsDir, r.path as string))
      .split(path.sep)
      .join('/')
    files.push({ node, ...(item === undefined ? {} : { item }), kind: r.kind, path: rel, url })
  }
  for (const [node, n] of Object.entries(record.nodes)) {
    const results = (n.output as { results?: unknown } | null)?.results
    if (Array.isArray(results))
      results.forEach((r, i) => {
        add(node, r, i)
      })
    else add(node, n.output)
  }
  return { final_video_url: artifactUrl(generationId, artifactsDir, record.outputs?.final_video) ?? null, files }
}

/** The artifact URL of a file inside a generation's folder; undefined for a non-string or a path outside it. */
export function artifactUrl(generationId: string, artifactsDir: string, file: unknown): string | undefined {
  if (typeof file !== 'string' || file === '') return undefined
  const rel = path.relative(artifactsDir, path.resolve(artifactsDir, file))
  if (rel === '' || rel === '..' || rel.startsWith(`..${path.sep}`) || path.isAbsolute(rel)) return undefined
  return `/api/v2/generations/${encodeURIComponent(generationId)}/artifacts/${rel.split(path.sep).map(encodeURIComponent).join('/')}`
}
