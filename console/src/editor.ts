// The pipeline editor (CodeMirror 6, loaded only on the editor page): YAML highlighting, and the server's
// diagnostics as the person types, each marked at its line and column with its message and hint.
import { yaml } from '@codemirror/lang-yaml'
import { linter, lintGutter, type Diagnostic } from '@codemirror/lint'
import type { Text } from '@codemirror/state'
import { basicSetup, EditorView } from 'codemirror'
import { call } from './api.ts'

export interface EditorDiagnostic {
  code: string
  message: string
  line: number
  col: number
  path: string
  severity: 'error' | 'warning'
  hint?: string
}

export interface EditorHandle {
  destroy(): void
  text(): string
}

/** Where a diagnostic (1-based line and column) falls in the document: from its column to the end of the word. */
export function diagnosticRange(doc: Text, line: number, col: number): { from: number; to: number } {
  const l = doc.line(Math.min(Math.max(1, line), doc.lines))
  const from = Math.min(l.from + Math.max(0, col - 1), l.to)
  const rest = l.text.slice(from - l.from)
  const word = /^[^\s:,{}[\]]+/.exec(rest)?.[0].length ?? 0
  return { from, to: Math.max(from + word, Math.min(from + 1, l.to)) }
}

export function createEditor(parent: HTMLElement, text: string, o: { onDiagnostics: (d: EditorDiagnostic[]) => void; onChecking: (busy: boolean) => void }): EditorHandle {
  const check = linter(
    async (view) => {
      o.onChecking(true)
      try {
        const res = await call('/api/v2/pipelines/validate', { method: 'POST', body: view.state.doc.toString(), type: 'text/yaml' })
        const body = (await res.json()) as { diagnostics: EditorDiagnostic[] }
        o.onDiagnostics(body.diagnostics)
        return body.diagnostics.map((d): Diagnostic => {
          const { from, to } = diagnosticRange(view.state.doc, d.line, d.col)
          return { from, to, severity: d.severity, source: d.code, message: d.hint ? `${d.message}\n${d.hint}` : d.message }
        })
      } catch (err) {
        return [{ from: 0, to: 0, severity: 'warning', message: `not checked: ${(err as Error).message}` }]
      } finally {
        o.onChecking(false)
      }
    },
    { delay: 400 },
  )
  const view = new EditorView({
    doc: text,
    parent,
    extensions: [basicSetup, yaml(), lintGutter(), check, EditorView.contentAttributes.of({ 'aria-label': 'Pipeline YAML' })],
  })
  return { destroy: () => view.destroy(), text: () => view.state.doc.toString() }
}
