// Where a generation's files are served: records hold the server's own paths; the API serves them under the
// generation's artifacts route, by their path inside its folder.

/** The URL of a file the record names by its server path, or undefined when the path is not in the generation's folder. */
export function artifactUrl(generationId: string, serverPath: unknown): string | undefined {
  if (typeof serverPath !== 'string' || serverPath === '') return undefined
  const normal = serverPath.replaceAll('\\', '/')
  const marker = `/${generationId}/`
  const at = normal.lastIndexOf(marker)
  if (at < 0) return undefined
  const inside = normal
    .slice(at + marker.length)
    .split('/')
    .filter((s) => s !== '')
  if (inside.length === 0 || inside.some((s) => s === '.' || s === '..')) return undefined
  return `/api/v2/generations/${encodeURIComponent(generationId)}/artifacts/${inside.map(encodeURIComponent).join('/')}`
}

export interface MediaItem {
  kind: 'image' | 'video'
  url: string
  label: string
  /** Render quality score and its breakdown, when the render node measured it. */
  score?: number
  breakdown?: Record<string, number>
}

/** The media a node output holds: a render result, or a fan-out's `results` of them. */
export function mediaOf(generationId: string, output: unknown): MediaItem[] {
  const one = (x: unknown, fallback: string): MediaItem | undefined => {
    if (typeof x !== 'object' || x === null) return undefined
    const r = x as Record<string, unknown>
    const kind = r.kind === 'image' || r.kind === 'video' ? r.kind : undefined
    const url = artifactUrl(generationId, r.path)
    if (!kind || !url) return undefined
    const label = typeof r.role === 'string' ? r.role : r.label !== undefined ? `scene ${String(r.label)}` : fallback
    const q = r.quality as { score?: unknown; breakdown?: unknown } | undefined
    const item: MediaItem = { kind, url, label }
    if (typeof q?.score === 'number') item.score = q.score
    if (typeof q?.breakdown === 'object' && q.breakdown !== null) {
      item.breakdown = Object.fromEntries(Object.entries(q.breakdown).filter((e): e is [string, number] => typeof e[1] === 'number'))
    }
    return item
  }
  if (typeof output !== 'object' || output === null) return []
  const results = (output as { results?: unknown }).results
  if (Array.isArray(results)) return results.flatMap((r, i) => one(r, `item ${i}`) ?? [])
  const single = one(output, 'file')
  return single ? [single] : []
}
