// The Weft console: runs, a new generation, a run's live DAG and gates, and the pipelines with an editor.
import { render } from 'preact'
import { useEffect, useState } from 'preact/hooks'
import { apiKey, onUnauthorized } from './api.ts'
import { KeyPrompt } from './views/key-prompt.tsx'
import { NewGeneration } from './views/new-generation.tsx'
import { PipelineList } from './views/pipelines.tsx'
import { RunList } from './views/run-list.tsx'
import { RunPage } from './views/run-page.tsx'
import { PipelineEditorPage } from './views/pipeline-editor-page.tsx'
import './styles.css'

type Route = { page: 'runs' } | { page: 'new' } | { page: 'run'; id: string } | { page: 'pipelines' } | { page: 'editor'; name?: string }

function parseRoute(hash: string): Route {
  const parts = hash
    .replace(/^#\/?/, '')
    .split('/')
    .filter(Boolean)
    .map((p) => {
      try {
        return decodeURIComponent(p)
      } catch {
        return p
      }
    })
  if (parts[0] === 'new') return { page: 'new' }
  if (parts[0] === 'runs' && parts[1]) return { page: 'run', id: parts[1] }
  if (parts[0] === 'pipelines' && parts[1] === 'edit') return parts[2] ? { page: 'editor', name: parts[2] } : { page: 'editor' }
  if (parts[0] === 'pipelines') return { page: 'pipelines' }
  return { page: 'runs' }
}

function App() {
  const [route, setRoute] = useState(() => parseRoute(location.hash))
  const [askKey, setAskKey] = useState<'missing' | 'wrong' | undefined>(undefined)
  const [keyVersion, setKeyVersion] = useState(0)
  useEffect(() => {
    const onHash = () => setRoute(parseRoute(location.hash))
    addEventListener('hashchange', onHash)
    return () => removeEventListener('hashchange', onHash)
  }, [])
  useEffect(() => onUnauthorized(() => setAskKey(apiKey.get() ? 'wrong' : 'missing')), [])
  useEffect(() => {
    const title =
      route.page === 'run' ? `Run ${route.id.slice(0, 8)}` : route.page === 'new' ? 'New generation' : route.page === 'pipelines' ? 'Pipelines' : route.page === 'editor' ? 'Pipeline editor' : 'Runs'
    document.title = `${title} · Weft`
  }, [route])
  const current = (page: Route['page']) => (route.page === page || (page === 'pipelines' && route.page === 'editor') || (page === 'runs' && route.page === 'run') ? 'page' : undefined)
  return (
    <>
      <header class="top">
        <a class="brand" href="#/">
          Weft
        </a>
        <nav aria-label="Main">
          <a href="#/" aria-current={current('runs')}>
            Runs
          </a>
          <a href="#/new" aria-current={current('new')}>
            New generation
          </a>
          <a href="#/pipelines" aria-current={current('pipelines')}>
            Pipelines
          </a>
        </nav>
        {apiKey.get() ? (
          <button
            type="button"
            class="link"
            onClick={() => {
              apiKey.clear()
              setAskKey('missing')
            }}
          >
            Forget API key
          </button>
        ) : null}
      </header>
      <main key={keyVersion}>
        {route.page === 'runs' ? <RunList /> : null}
        {route.page === 'new' ? <NewGeneration /> : null}
        {route.page === 'run' ? <RunPage id={route.id} /> : null}
        {route.page === 'pipelines' ? <PipelineList /> : null}
        {route.page === 'editor' ? <PipelineEditorPage {...(route.name ? { name: route.name } : {})} /> : null}
      </main>
      {askKey ? (
        <KeyPrompt
          wrong={askKey === 'wrong'}
          onDone={(key) => {
            apiKey.set(key)
            setAskKey(undefined)
            setKeyVersion((v) => v + 1)
          }}
        />
      ) : null}
    </>
  )
}

const host = document.getElementById('app')!
host.textContent = ''
render(<App />, host)
