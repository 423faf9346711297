// The pipeline editor page: loads a pipeline's YAML (or a starter) and the CodeMirror editor on demand.
import { useEffect, useRef, useState } from 'preact/hooks'
import { ApiError, call } from '../api.ts'
import type { EditorDiagnostic, EditorHandle } from '../editor.ts'
import { ErrorNote } from './error-note.tsx'

const STARTER = `pipeline: my_pipeline
version: 1
description: Writes a tagline for a product.

inputs:
  prompt: { type: string, required: true }

nodes:
  tagline:
    type: agent
    prompt: tagline_writer
    vars:
      brief: \${{ inputs.prompt }}
`

export function PipelineEditorPage({ name }: { name?: string }) {
  const host = useRef<HTMLDivElement>(null)
  const [error, setError] = useState<ApiError | undefined>(undefined)
  const [diagnostics, setDiagnostics] = useState<EditorDiagnostic[] | undefined>(undefined)
  const [checking, setChecking] = useState(false)
  useEffect(() => {
    let handle: EditorHandle | undefined
    let dead = false
    void (async () => {
      try {
        const text = name ? await (await call(`/api/v2/pipelines/${encodeURIComponent(name)}/source`)).text() : STARTER
        const { createEditor } = await import('../editor.ts')
        if (dead || !host.current) return
        handle = createEditor(host.current, text, { onDiagnostics: setDiagnostics, onChecking: setChecking })
      } catch (err) {
        setError(err instanceof ApiError ? err : new ApiError(0, 'INTERNAL', String(err)))
      }
    })()
    return () => {
      dead = true
      handle?.destroy()
    }
  }, [name])
  return (
    <section aria-labelledby="editor-title">
      <h1 id="editor-title">{name ? `Pipeline ${name}` : 'New pipeline'}</h1>
      <p class="muted">
        Checked by the server as you type (<span class="mono">POST /api/v2/pipelines/validate</span>). Nothing is saved: copy the text into a file in the server's pipelines folder.
      </p>
      {error ? <ErrorNote error={error} /> : null}
      <div ref={host} class="editor" />
      <h2>Diagnostics</h2>
      <p role="status" class="muted">
        {checking ? 'checking…' : diagnostics === undefined ? '' : diagnostics.length === 0 ? 'valid: no problems' : `${diagnostics.length} problem${diagnostics.length === 1 ? '' : 's'}`}
      </p>
      {diagnostics?.length ? (
        <ul class="diagnostics" aria-label="Diagnostics">
          {diagnostics.map((d, i) => (
            <li key={i} class={d.severity}>
              <span class="mono">
                line {d.line}:{d.col}
              </span>{' '}
              <span class="mono">{d.code}</span> {d.path ? <span class="mono">{d.path}: </span> : null}
              {d.message}
              {d.hint ? <div class="muted">{d.hint}</div> : null}
            </li>
          ))}
        </ul>
      ) : null}
    </section>
  )
}
