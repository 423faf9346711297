// A node's output shown for people: text as text, a story as its beats, scenes as cards, media as media, else JSON.
import { mediaOf } from '../artifacts.ts'
import { MediaGrid } from './media.tsx'

type Rec = Record<string, unknown>
const isRec = (x: unknown): x is Rec => typeof x === 'object' && x !== null && !Array.isArray(x)

export function OutputView({ generationId, output }: { generationId: string; output: unknown }) {
  if (typeof output === 'string') return <pre class="text">{output}</pre>
  const media = mediaOf(generationId, output)
  if (media.length) return <MediaGrid items={media} />
  if (isRec(output)) {
    const value = 'draft' in output ? output.draft : 'value' in output ? output.value : output
    const score = typeof output.score === 'number' ? output.score : undefined
    const parsed = typeof output.text === 'string' && !('draft' in output) ? tryJson(output.text) : undefined
    const shown = parsed ?? value
    return (
      <div>
        {score !== undefined ? (
          <p>
            Score: <strong>{score}</strong>
            {typeof output.iterations === 'number' ? ` after ${output.iterations} drafts` : ''}
          </p>
        ) : null}
        {Array.isArray((shown as Rec | undefined)?.scenes) ? (
          <SceneCards scenes={(shown as { scenes: unknown[] }).scenes} />
        ) : isRec(shown) && Array.isArray(shown.beats) ? (
          <Story story={shown} />
        ) : typeof shown === 'string' ? (
          <pre class="text">{shown}</pre>
        ) : (
          <pre class="json">{JSON.stringify(shown, null, 2)}</pre>
        )}
      </div>
    )
  }
  return <pre class="json">{JSON.stringify(output, null, 2)}</pre>
}

function tryJson(text: string): unknown {
  try {
    return JSON.parse(text)
  } catch {
    return undefined
  }
}

function Story({ story }: { story: Rec }) {
  return (
    <article class="story">
      {typeof story.title === 'string' ? <h4>{story.title}</h4> : null}
      {typeof story.logline === 'string' ? (
        <p>
          <em>{story.logline}</em>
        </p>
      ) : null}
      <ol>
        {(story.beats as unknown[]).map((b, i) =>
          isRec(b) ? (
            <li key={i}>
              <strong>{String(b.name ?? `Beat ${i + 1}`)}</strong>: {String(b.summary ?? b.description ?? '')}
            </li>
          ) : (
            <li key={i}>{String(b)}</li>
          ),
        )}
      </ol>
    </article>
  )
}

function SceneCards({ scenes }: { scenes: unknown[] }) {
  return (
    <div class="cards">
      {scenes.map((s, i) =>
        isRec(s) ? (
          <article class="card" key={i}>
            <h4>{typeof s.title === 'string' ? s.title : `Scene ${i + 1}`}</h4>
            <dl>
              {Object.entries(s)
                .filter(([k, v]) => k !== 'title' && (typeof v === 'string' || typeof v === 'number'))
                .map(([k, v]) => (
                  <>
                    <dt key={`${k}-t`}>{k.replace(/_/g, ' ')}</dt>
                    <dd key={`${k}-d`}>{String(v)}</dd>
                  </>
                ))}
            </dl>
          </article>
        ) : (
          <pre key={i}>{JSON.stringify(s, null, 2)}</pre>
        ),
      )}
    </div>
  )
}
