// Generations, newest first, read again every few seconds; filtered by status.
import { useEffect, useState } from 'preact/hooks'
import { getJson } from '../api.ts'
import { formatMs, runEnded, type GenerationRecord, type RunStatus } from '../run-state.ts'
import { ErrorNote } from './error-note.tsx'
import { usePoll } from './use-poll.ts'

const STATUSES: RunStatus[] = ['pending', 'running', 'awaiting_approval', 'completed', 'failed', 'cancelled']

export function RunList() {
  const [status, setStatus] = useState<RunStatus | ''>('')
  // the newest page is read again every 3 s; older pages are read once, when asked for
  const [older, setOlder] = useState<{ items: GenerationRecord[]; next: string | null } | undefined>(undefined)
  const [loadingOlder, setLoadingOlder] = useState(false)
  const query = status ? `&status=${status}` : ''
  const { data, error } = usePoll((signal) => getJson<{ items: GenerationRecord[]; next: string | null }>(`/api/v2/generations?limit=50${query}`, signal), 3000, [status])
  useEffect(() => setOlder(undefined), [status])
  const more = async () => {
    const cursor = older ? older.next : data?.next
    if (!cursor) return
    setLoadingOlder(true)
    try {
      const page = await getJson<{ items: GenerationRecord[]; next: string | null }>(`/api/v2/generations?limit=50${query}&cursor=${encodeURIComponent(cursor)}`)
      setOlder({ items: [...(older?.items ?? []), ...page.items], next: page.next })
    } finally {
      setLoadingOlder(false)
    }
  }
  const seen = new Set(data?.items.map((r) => r.id))
  const rows = data ? [...data.items, ...(older?.items ?? []).filter((r) => !seen.has(r.id))] : []
  const next = older ? older.next : data?.next
  const now = Date.now()
  return (
    <section aria-labelledby="runs-title">
      <div class="bar">
        <h1 id="runs-title">Runs</h1>
        <label>
          Status{' '}
          <select value={status} onChange={(e) => setStatus(e.currentTarget.value as RunStatus | '')}>
            <option value="">all</option>
            {STATUSES.map((s) => (
              <option key={s} value={s}>
                {s.replace('_', ' ')}
              </option>
            ))}
          </select>
        </label>
        <a class="button" href="#/new">
          New generation
        </a>
      </div>
      {error ? <ErrorNote error={error} /> : null}
      {!data ? (
        <p>Loading…</p>
      ) : rows.length === 0 ? (
        <p>No generations{status ? ` with status ${status.replace('_', ' ')}` : ''} yet.</p>
      ) : (
        <table class="runs">
          <thead>
            <tr>
              <th scope="col">Generation</th>
              <th scope="col">Status</th>
              <th scope="col">Stage</th>
              <th scope="col">Pipeline</th>
              <th scope="col">Age</th>
              <th scope="col">Duration</th>
            </tr>
          </thead>
          <tbody>
            {rows.map((r) => {
              const brief = typeof r.inputs.prompt === 'string' ? r.inputs.prompt : r.id
              const end = r.finished_at ? Date.parse(r.finished_at) : runEnded(r.status) ? undefined : now
              const start = r.started_at ? Date.parse(r.started_at) : undefined
              return (
                <tr key={r.id}>
                  <td>
                    <a href={`#/runs/${encodeURIComponent(r.id)}`}>{brief.length > 70 ? `${brief.slice(0, 70)}…` : brief}</a>
                    <div class="muted mono">{r.id.slice(0, 8)}</div>
                  </td>
                  <td>
                    <span class={`status s-${r.status}`}>{r.status.replace('_', ' ')}</span>
                  </td>
                  <td>{r.current_stage && !runEnded(r.status) ? r.current_stage : '—'}</td>
                  <td>{r.pipeline.name}</td>
                  <td>{age(now - Date.parse(r.created_at))}</td>
                  <td>{start !== undefined && end !== undefined ? formatMs(end - start) : '—'}</td>
                </tr>
              )
            })}
          </tbody>
        </table>
      )}
      {next ? (
        <div class="actions">
          <button type="button" disabled={loadingOlder} onClick={() => void more()}>
            Show older runs
          </button>
        </div>
      ) : null}
    </section>
  )
}

function age(ms: number): string {
  const s = Math.max(0, Math.round(ms / 1000))
  if (s < 60) return `${s} s ago`
  if (s < 3600) return `${Math.round(s / 60)} min ago`
  if (s < 86_400) return `${Math.round(s / 3600)} h ago`
  return `${Math.round(s / 86_400)} d ago`
}
