// Reference images, clips with their quality scores, and the final video with a download link.
import { useEffect, useState } from 'preact/hooks'
import { mediaSrc } from '../api.ts'
import { artifactUrl, mediaOf, type MediaItem } from '../artifacts.ts'
import type { GenerationRecord } from '../run-state.ts'

export function MediaSection({ record }: { record: GenerationRecord }) {
  const groups = Object.values(record.nodes)
    .filter((n) => n.status === 'succeeded' && n.type !== 'approval')
    .map((n) => ({ id: n.id, items: mediaOf(record.id, n.output) }))
    .filter((g) => g.items.length > 0)
  const finalUrl = artifactUrl(record.id, record.outputs?.final_video)
  if (!groups.length && !finalUrl) return null
  return (
    <section aria-labelledby="media-title">
      <h2 id="media-title">Media</h2>
      {finalUrl ? (
        <div class="final">
          <h3>Final video</h3>
          <Media item={{ kind: 'video', url: finalUrl, label: 'Final video' }} download="final.mp4" />
        </div>
      ) : null}
      {groups
        .filter((g) => !(finalUrl && g.items.length === 1 && g.items[0]!.url === finalUrl))
        .map((g) => (
          <div key={g.id}>
            <h3>{g.id}</h3>
            <MediaGrid items={g.items} />
          </div>
        ))}
    </section>
  )
}

export function MediaGrid({ items }: { items: MediaItem[] }) {
  return (
    <ul class="media">
      {items.map((m) => (
        <li key={m.url}>
          <Media item={m} />
          <p>
            {m.label}
            {m.score !== undefined ? (
              <>
                {' '}
                · quality <strong>{m.score}</strong>
              </>
            ) : null}
          </p>
          {m.breakdown ? (
            <p class="muted">
              {Object.entries(m.breakdown)
                .map(([k, v]) => `${k} ${v}`)
                .join(' · ')}
            </p>
          ) : null}
        </li>
      ))}
    </ul>
  )
}

/** A usable `src` for an artifact URL (the URL itself, or the bytes fetched with the API key), released on unmount. */
function useMediaSrc(url: string): string | undefined {
  const [src, setSrc] = useState<string | undefined>(undefined)
  useEffect(() => {
    const ctl = new AbortController()
    let release = () => {}
    mediaSrc(url, ctl.signal).then(
      (m) => {
        if (ctl.signal.aborted) return m.release()
        release = m.release
        setSrc(m.src)
      },
      () => {},
    )
    return () => {
      ctl.abort()
      release()
    }
  }, [url])
  return src
}

/** An image or a video; `download` adds a link that saves the same bytes (with a key, the fetched ones). */
function Media({ item, download }: { item: MediaItem; download?: string }) {
  const src = useMediaSrc(item.url)
  if (!src) return <div class="media-placeholder">loading {item.label}…</div>
  return (
    <>
      {item.kind === 'video' ? <video src={src} controls preload="metadata" aria-label={item.label} /> : <img src={src} alt={item.label} loading="lazy" />}
      {download ? (
        <p>
          <a href={src} download={download}>
            Download the final video
          </a>
        </p>
      ) : null}
    </>
  )
}
