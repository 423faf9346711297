// The run's event log, newest last; the latest entries only (the API has them all).
export function EventLog({ log }: { log: Array<{ seq: number | null; type: string; node?: string; timestamp: string; text: string }> }) {
  const shown = log.slice(-200)
  return (
    <section aria-labelledby="log-title">
      <h2 id="log-title">Events</h2>
      {log.length > shown.length ? (
        <p class="muted">
          The last {shown.length} of {log.length} events.
        </p>
      ) : null}
      <ol class="log" aria-label="Event log">
        {shown.map((e) => (
          <li key={e.seq}>
            <span class="mono muted">#{e.seq}</span> <time>{new Date(e.timestamp).toLocaleTimeString()}</time> {e.node ? <strong>{e.node}</strong> : null} {e.text}
          </li>
        ))}
      </ol>
    </section>
  )
}
