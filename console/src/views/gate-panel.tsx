// A gate waiting for a decision: the value under review, editable, and Approve / Revise / Reject with feedback.
import { useState } from 'preact/hooks'
import { ApiError, postJson } from '../api.ts'
import type { GateView } from '../run-state.ts'
import { ErrorNote } from './error-note.tsx'
import { ValueEditor } from './value-editor.tsx'

export function GatePanel({ generationId, gate }: { generationId: string; gate: GateView }) {
  const [value, setValue] = useState<unknown>(gate.value)
  const [edited, setEdited] = useState(false)
  const [feedback, setFeedback] = useState('')
  const [busy, setBusy] = useState(false)
  const [sent, setSent] = useState<string | undefined>(undefined)
  const [error, setError] = useState<ApiError | undefined>(undefined)
  const decide = async (decision: 'approve' | 'revise' | 'reject') => {
    setError(undefined)
    if (decision === 'revise' && !feedback.trim()) return setError(new ApiError(400, 'DECISION_INVALID', 'say what to change in Feedback before asking for a revision'))
    setBusy(true)
    try {
      const body: Record<string, unknown> = { decision, revision: gate.revision }
      if (decision !== 'approve' && feedback.trim()) body.feedback = feedback.trim()
      if (decision === 'approve' && edited) body.edits = value
      const res = await postJson<{ applied: boolean; decision: { decision: string } }>(`/api/v2/generations/${encodeURIComponent(generationId)}/approvals/${encodeURIComponent(gate.gate)}`, body)
      setSent(res.applied ? `${decision} sent` : `already decided: ${res.decision.decision}`)
    } catch (err) {
      setError(err instanceof ApiError ? err : new ApiError(0, 'INTERNAL', String(err)))
    } finally {
      setBusy(false)
    }
  }
  const title = `Gate ${gate.gate}${gate.revision ? ` (revision ${gate.revision})` : ''}`
  return (
    <section class="gate" aria-label={title}>
      <h2>{title}</h2>
      {gate.message ? <p>{gate.message}</p> : null}
      <ValueEditor
        value={value}
        label={gate.gate}
        onChange={(v) => {
          setValue(v)
          setEdited(true)
        }}
      />
      <label class="field">
        Feedback
        <textarea rows={2} value={feedback} onInput={(e) => setFeedback(e.currentTarget.value)} placeholder="What to change (needed for Revise; optional for Reject)" />
      </label>
      {error ? <ErrorNote error={error} /> : null}
      <div class="actions">
        {gate.allowed.includes('approve') ? (
          <button type="button" disabled={busy} onClick={() => void decide('approve')}>
            Approve
          </button>
        ) : null}
        {gate.allowed.includes('revise') ? (
          <button type="button" disabled={busy} onClick={() => void decide('revise')}>
            Revise
          </button>
        ) : null}
        {gate.allowed.includes('reject') ? (
          <button type="button" class="danger" disabled={busy} onClick={() => void decide('reject')}>
            Reject
          </button>
        ) : null}
        {edited ? <span class="muted">Approve sends your edits.</span> : null}
        {sent ? <span role="status">{sent}</span> : null}
      </div>
    </section>
  )
}
