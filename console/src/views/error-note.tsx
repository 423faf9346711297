// An API error as the page shows it: the message, the code, and each issue at its path.
import type { ApiError } from '../api.ts'

export function ErrorNote({ error }: { error: ApiError }) {
  return (
    <div role="alert" class="error">
      <p>
        {error.message} <span class="mono muted">({error.code})</span>
      </p>
      {error.issues.length ? (
        <ul>
          {error.issues.map((i, n) => (
            <li key={n}>
              <span class="mono">{i.path || 'body'}</span>: {i.message}
            </li>
          ))}
        </ul>
      ) : null}
    </div>
  )
}
