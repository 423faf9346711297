// Edits a JSON value in place: text as text areas, lists of records as cards (scenes, beats), anything else as JSON.
import { useState } from 'preact/hooks'

type Json = null | boolean | number | string | Json[] | { [k: string]: Json }

const MAX_DEPTH = 4
const human = (key: string) => key.replace(/_/g, ' ')

export function ValueEditor({ value, onChange, label }: { value: unknown; onChange: (v: unknown) => void; label: string }) {
  return <Field value={value as Json} onChange={onChange} label={label} depth={0} />
}

function Field({ value, onChange, label, depth }: { value: Json; onChange: (v: Json) => void; label: string; depth: number }) {
  if (typeof value === 'string') {
    const rows = Math.min(12, Math.max(1, Math.ceil(value.length / 80) + (value.match(/\n/g)?.length ?? 0)))
    return (
      <label class="field">
        {human(lastPart(label))}
        <textarea aria-label={label} rows={rows} value={value} onInput={(e) => onChange(e.currentTarget.value)} />
      </label>
    )
  }
  if (typeof value === 'number') {
    return (
      <label class="field">
        {human(lastPart(label))}
        <input
          aria-label={label}
          type="number"
          value={value}
          onInput={(e) => {
            const n = Number(e.currentTarget.value)
            if (Number.isFinite(n)) onChange(n)
          }}
        />
      </label>
    )
  }
  if (typeof value === 'boolean') {
    return (
      <label class="field check">
        <input aria-label={label} type="checkbox" checked={value} onChange={(e) => onChange(e.currentTarget.checked)} /> {human(lastPart(label))}
      </label>
    )
  }
  if (depth < MAX_DEPTH && Array.isArray(value) && value.length > 0 && value.every((x) => typeof x === 'object' && x !== null && !Array.isArray(x))) {
    return (
      <div class="cards" role="group" aria-label={label}>
        {value.map((item, i) => {
          const rec = item as Record<string, Json>
          const title = typeof rec.title === 'string' ? rec.title : typeof rec.name === 'string' ? rec.name : `${human(lastPart(label))} ${i + 1}`
          return (
            <fieldset class="card" key={i}>
              <legend>{`${i + 1}. ${title}`}</legend>
              <Record value={rec} label={`${label} ${i + 1}`} depth={depth + 1} onChange={(r) => onChange(value.map((x, j) => (j === i ? r : x)))} />
            </fieldset>
          )
        })}
      </div>
    )
  }
  if (depth < MAX_DEPTH && Array.isArray(value) && value.every((x) => typeof x === 'string')) {
    return (
      <label class="field">
        {human(lastPart(label))} (one per line)
        <textarea aria-label={label} rows={Math.min(8, value.length + 1)} value={(value as string[]).join('\n')} onInput={(e) => onChange(e.currentTarget.value.split('\n'))} />
      </label>
    )
  }
  if (depth < MAX_DEPTH && typeof value === 'object' && value !== null && !Array.isArray(value)) {
    return <Record value={value} label={label} depth={depth + 1} onChange={onChange} />
  }
  return <JsonField value={value} onChange={onChange} label={label} />
}

function Record({ value, onChange, label, depth }: { value: Record<string, Json>; onChange: (v: Record<string, Json>) => void; label: string; depth: number }) {
  return (
    <div class="record">
      {Object.entries(value).map(([k, v]) => (
        <Field key={k} value={v} label={`${label} ${k}`.trim()} depth={depth} onChange={(nv) => onChange({ ...value, [k]: nv })} />
      ))}
    </div>
  )
}

function JsonField({ value, onChange, label }: { value: Json; onChange: (v: Json) => void; label: string }) {
  const [text, setText] = useState(() => JSON.stringify(value, null, 2))
  const [bad, setBad] = useState(false)
  return (
    <label class="field">
      {human(lastPart(label))} (JSON)
      <textarea
        aria-label={label}
        aria-invalid={bad}
        class="mono"
        rows={Math.min(12, text.split('\n').length)}
        value={text}
        onInput={(e) => {
          setText(e.currentTarget.value)
          try {
            onChange(JSON.parse(e.currentTarget.value) as Json)
            setBad(false)
          } catch {
            setBad(true)
          }
        }}
      />
      {bad ? <span class="error">not valid JSON; the last valid value is kept</span> : null}
    </label>
  )
}

const lastPart = (label: string) => label.split(' ').at(-1) ?? label
