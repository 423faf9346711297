// Asks for an API key once (the server answered 401); the key is kept for this browser session only.
import { useEffect, useRef, useState } from 'preact/hooks'

export function KeyPrompt({ wrong, onDone }: { wrong: boolean; onDone: (key: string) => void }) {
  const [key, setKey] = useState('')
  const dialog = useRef<HTMLDialogElement>(null)
  useEffect(() => {
    const d = dialog.current
    if (d && !d.open) d.showModal()
  }, [])
  return (
    <dialog ref={dialog} class="key-prompt" aria-labelledby="key-title" onCancel={(e) => e.preventDefault()}>
      <form
        method="dialog"
        onSubmit={(e) => {
          e.preventDefault()
          if (key.trim()) onDone(key.trim())
        }}
      >
        <h2 id="key-title">API key</h2>
        <p>This server needs an API key. It is kept in this browser tab only, until the tab closes.</p>
        {wrong ? (
          <p role="alert" class="error">
            The server refused that key. Check it and try again.
          </p>
        ) : null}
        <label>
          API key <input type="password" autocomplete="off" value={key} onInput={(e) => setKey(e.currentTarget.value)} required />
        </label>
        <div class="actions">
          <button type="submit">Use key</button>
        </div>
      </form>
    </dialog>
  )
}
