// The server's pipelines: inputs and config defaults, each with a link to the editor.
import { getJson } from '../api.ts'
import { ErrorNote } from './error-note.tsx'
import { usePoll } from './use-poll.ts'

interface PipelineInfo {
  name: string
  version: string | number
  description?: string
  inputs: Record<string, { type?: string; default?: unknown; required?: boolean; description?: string; enum?: unknown[] }>
  config: Record<string, unknown>
  nodes?: Array<{ id: string; type: string }>
}

export function PipelineList() {
  const { data, error } = usePoll((signal) => getJson<PipelineInfo[]>('/api/v2/pipelines', signal), 0, [])
  return (
    <section aria-labelledby="pipelines-title">
      <div class="bar">
        <h1 id="pipelines-title">Pipelines</h1>
        <a class="button" href="#/pipelines/edit">
          Open the editor
        </a>
      </div>
      {error ? <ErrorNote error={error} /> : null}
      {!data ? (
        <p>Loading…</p>
      ) : data.length === 0 ? (
        <p>This server has no pipelines.</p>
      ) : (
        data.map((p) => (
          <article class="panel" key={p.name} aria-labelledby={`p-${p.name}`}>
            <div class="bar">
              <h2 id={`p-${p.name}`}>
                {p.name} <span class="muted">v{String(p.version)}</span>
              </h2>
              <a href={`#/pipelines/edit/${encodeURIComponent(p.name)}`} aria-label={`Edit ${p.name}`}>
                Edit
              </a>
            </div>
            {p.description ? <p>{p.description}</p> : null}
            {p.nodes?.length ? (
              <p class="muted">
                {p.nodes.length} nodes: {p.nodes.map((n) => `${n.id} (${n.type})`).join(', ')}
              </p>
            ) : null}
            <h3>Inputs</h3>
            <table>
              <thead>
                <tr>
                  <th scope="col">Input</th>
                  <th scope="col">Type</th>
                  <th scope="col">Default</th>
                  <th scope="col">Description</th>
                </tr>
              </thead>
              <tbody>
                {Object.entries(p.inputs).map(([k, i]) => (
                  <tr key={k}>
                    <td class="mono">
                      {k}
                      {i.required ? ' *' : ''}
                    </td>
                    <td>
                      {i.type ?? ''}
                      {i.enum ? ` (${i.enum.join(', ')})` : ''}
                    </td>
                    <td class="mono">{i.default === undefined ? '' : JSON.stringify(i.default)}</td>
                    <td>{i.description ?? ''}</td>
                  </tr>
                ))}
              </tbody>
            </table>
            <details>
              <summary>Config defaults</summary>
              <pre class="json">{JSON.stringify(p.config, null, 2)}</pre>
            </details>
          </article>
        ))
      )}
    </section>
  )
}
