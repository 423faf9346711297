// The form for a new generation: the request's fields, config overrides and brand assets (URLs or uploaded files).
import { useEffect, useState } from 'preact/hooks'
import { ApiError, call, getJson, postJson } from '../api.ts'
import { go } from '../nav.ts'
import { ErrorNote } from './error-note.tsx'
import { usePoll } from './use-poll.ts'

interface PipelineInfo {
  name: string
  description?: string
  inputs: Record<string, { default?: unknown; enum?: unknown[] }>
}

/** `key=value` lines as dotted config overrides; a value that parses as JSON is taken as JSON, else as text. */
function parseOverrides(text: string): { config: Record<string, unknown>; problems: string[] } {
  const config: Record<string, unknown> = {}
  const problems: string[] = []
  text.split('\n').forEach((raw, i) => {
    const line = raw.trim()
    if (!line || line.startsWith('#')) return
    const eq = line.indexOf('=')
    if (eq <= 0) {
      problems.push(`line ${i + 1}: expected key=value, e.g. critic.story_threshold=90`)
      return
    }
    const key = line.slice(0, eq).trim()
    const value = line.slice(eq + 1).trim()
    try {
      config[key] = JSON.parse(value)
    } catch {
      config[key] = value
    }
  })
  return { config, problems }
}

const lines = (text: string) =>
  text
    .split('\n')
    .map((s) => s.trim())
    .filter(Boolean)

const BY_EXTENSION: Record<string, string> = { png: 'image/png', jpg: 'image/jpeg', jpeg: 'image/jpeg', webp: 'image/webp' }

async function upload(file: File): Promise<string> {
  // a file the system gave no type is named by its extension; the server checks the bytes either way
  const type = file.type || BY_EXTENSION[file.name.split('.').pop()?.toLowerCase() ?? ''] || 'application/octet-stream'
  const res = await call('/api/v2/uploads', { method: 'POST', body: file, type })
  const body = (await res.json()) as { ref: string }
  return body.ref
}

export function NewGeneration() {
  const { data: pipelines } = usePoll((signal) => getJson<PipelineInfo[]>('/api/v2/pipelines', signal), 0, [])
  const [pipeline, setPipeline] = useState('default')
  const [prompt, setPrompt] = useState('')
  const [framework, setFramework] = useState('')
  const [product, setProduct] = useState('')
  const [audience, setAudience] = useState('')
  const [tone, setTone] = useState('')
  const [duration, setDuration] = useState('')
  const [interactive, setInteractive] = useState(true)
  const [overrides, setOverrides] = useState('')
  const [productUrls, setProductUrls] = useState('')
  const [characterUrls, setCharacterUrls] = useState('')
  const [logoUrl, setLogoUrl] = useState('')
  const [productFiles, setProductFiles] = useState<File[]>([])
  const [characterFiles, setCharacterFiles] = useState<File[]>([])
  const [logoFile, setLogoFile] = useState<File | undefined>(undefined)
  const [busy, setBusy] = useState<string | undefined>(undefined)
  const [error, setError] = useState<ApiError | undefined>(undefined)
  // the server's own choice when it has no pipeline called "default"
  useEffect(() => {
    if (pipelines?.length && !pipelines.some((p) => p.name === pipeline)) setPipeline(pipelines[0]!.name)
  }, [pipelines])
  const chosen = pipelines?.find((p) => p.name === pipeline)
  const frameworks = (chosen?.inputs.framework?.enum ?? []).filter((x): x is string => typeof x === 'string')

  const submit = async (e: Event) => {
    e.preventDefault()
    setError(undefined)
    const { config, problems } = parseOverrides(overrides)
    if (problems.length)
      return setError(
        new ApiError(
          400,
          'REQUEST_INVALID',
          'the config overrides are not key=value lines',
          problems.map((m) => ({ path: 'config', message: m })),
        ),
      )
    try {
      setBusy('Uploading files…')
      const productRefs = [...lines(productUrls), ...(await Promise.all(productFiles.map(upload)))]
      const characterRefs = [...lines(characterUrls), ...(await Promise.all(characterFiles.map(upload)))]
      const logo = logoFile ? await upload(logoFile) : logoUrl.trim()
      setBusy('Starting…')
      const body: Record<string, unknown> = { prompt, pipeline, interactive }
      if (framework) body.framework = framework
      if (product.trim()) body.product = product.trim()
      if (audience.trim()) body.audience = audience.trim()
      if (tone.trim()) body.tone = tone.trim()
      if (duration.trim()) body.duration_s = Number(duration)
      if (Object.keys(config).length) body.config = config
      const assets: Record<string, unknown> = {}
      if (productRefs.length) assets.product_images = productRefs
      if (characterRefs.length) assets.character_images = characterRefs
      if (logo) assets.logo = logo
      if (Object.keys(assets).length) body.brand_assets = assets
      const started = await postJson<{ generation_id: string }>('/api/v2/generate', body)
      go(`#/runs/${encodeURIComponent(started.generation_id)}`)
    } catch (err) {
      setError(err instanceof ApiError ? err : new ApiError(0, 'INTERNAL', String(err)))
    } finally {
      setBusy(undefined)
    }
  }

  return (
    <section aria-labelledby="new-title">
      <h1 id="new-title">New generation</h1>
      <form class="form" onSubmit={(e) => void submit(e)}>
        <label class="wide">
          Prompt
          <textarea rows={4} required maxLength={4000} value={prompt} onInput={(e) => setPrompt(e.currentTarget.value)} placeholder="Meet Fizz, the sparkling lemon soda. Grab one today!" />
        </label>
        <label>
          Pipeline
          <select value={pipeline} onChange={(e) => setPipeline(e.currentTarget.value)}>
            {(pipelines ?? [{ name: 'default' }]).map((p) => (
              <option key={p.name} value={p.name}>
                {p.name}
              </option>
            ))}
          </select>
        </label>
        <label>
          Framework
          <select value={framework} onChange={(e) => setFramework(e.currentTarget.value)}>
            <option value="">pipeline default</option>
            {frameworks.map((f) => (
              <option key={f} value={f}>
                {f}
              </option>
            ))}
          </select>
        </label>
        <label>
          Product <input value={product} onInput={(e) => setProduct(e.currentTarget.value)} placeholder="found in the prompt when empty" />
        </label>
        <label>
          Audience <input value={audience} onInput={(e) => setAudience(e.currentTarget.value)} />
        </label>
        <label>
          Tone <input value={tone} onInput={(e) => setTone(e.currentTarget.value)} placeholder="playful, premium…" />
        </label>
        <label>
          Duration (seconds) <input type="number" min={12} max={60} step={1} value={duration} onInput={(e) => setDuration(e.currentTarget.value)} />
        </label>
        <label class="check">
          <input type="checkbox" checked={interactive} onChange={(e) => setInteractive(e.currentTarget.checked)} /> Interactive: wait for my decision at each approval gate
        </label>
        <label class="wide">
          Config overrides
          <textarea rows={3} value={overrides} onInput={(e) => setOverrides(e.currentTarget.value)} placeholder={'critic.story_threshold=90\nstages.videos=false'} />
        </label>
        <fieldset class="wide">
          <legend>Brand assets</legend>
          <label>
            Product image URLs (one per line) <textarea rows={2} value={productUrls} onInput={(e) => setProductUrls(e.currentTarget.value)} />
          </label>
          <label>
            Product image files <input type="file" accept="image/png,image/jpeg,image/webp" multiple onChange={(e) => setProductFiles([...(e.currentTarget.files ?? [])])} />
          </label>
          <label>
            Character image URLs (one per line) <textarea rows={2} value={characterUrls} onInput={(e) => setCharacterUrls(e.currentTarget.value)} />
          </label>
          <label>
            Character image files <input type="file" accept="image/png,image/jpeg,image/webp" multiple onChange={(e) => setCharacterFiles([...(e.currentTarget.files ?? [])])} />
          </label>
          <label>
            Logo URL <input value={logoUrl} onInput={(e) => setLogoUrl(e.currentTarget.value)} />
          </label>
          <label>
            Logo file <input type="file" accept="image/png,image/jpeg,image/webp" onChange={(e) => setLogoFile(e.currentTarget.files?.[0])} />
          </label>
        </fieldset>
        {error ? <ErrorNote error={error} /> : null}
        <div class="actions wide">
          <button type="submit" disabled={busy !== undefined}>
            Generate
          </button>
          {busy ? <span role="status">{busy}</span> : null}
        </div>
      </form>
    </section>
  )
}
