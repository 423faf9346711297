// Which model and media providers a run uses: settings from the environment (plain data, so worker threads
// can build their own), and the providers built from them.
import { WeftError } from './errors.ts'
import type { Providers } from './node-def.ts'
import type { MediaProvider, MediaRequest, MediaResult } from './ports.ts'
import type { ModelProtocol } from './adapters/ai-sdk-model.ts'
import { modelRefProblem, type ModelCatalog } from './model-ref.ts'
import { parseDuration } from './duration.ts'
import { ffmpegPath } from './media/ffmpeg.ts'

/** A model provider a `model:` ref may name: its wire protocol, where it is, and its key. */
interface ModelEndpoint {
  protocol: ModelProtocol
  /** API root; the SDK's default for the big three when unset. */
  baseUrl?: string
  apiKey?: string
  /** The variable the key comes from, when the provider needs one (named when it is missing). */
  keyVar?: string
}

export interface ModelSettings {
  /** The ref of nodes that name no model: `offline` (default) or `<provider>/<model id>`. */
  default: string
  /** The providers refs may name, besides `offline`. */
  endpoints: Record<string, ModelEndpoint>
  /** One HTTP attempt's limit (`WEFT_MODEL_TIMEOUT`). */
  timeoutMs?: number
  /** A whole call's limit, retries included (`WEFT_MODEL_DEADLINE`). */
  deadlineMs?: number
  maxRetries?: number
}

type MediaSettings =
  | { kind: 'local'; ffmpeg?: string; ffprobe?: string; font?: string }
  | { kind: 'replicate'; token: string; baseUrl?: string; imageModel: string; videoModel: string; timeoutMs?: number }

/** Plain data: travels to worker threads, which build their own providers from it. */
export interface ProviderSettings {
  model: ModelSettings
  media: MediaSettings
}

/** The embedded defaults: no keys, no servers. */
export const offlineSettings: ProviderSettings = { model: { default: 'offline', endpoints: {} }, media: { kind: 'local' } }

type Env = Record<string, string | undefined>

/**
 * Reads provider settings from the environment (README "Providers" has the table):
 * - `WEFT_MODEL`: the ref of nodes that name no model, `offline` (default) or `<provider>/<model id>`;
 * - keys and API roots: `OPENAI_API_KEY` / `OPENAI_BASE_URL`, `ANTHROPIC_API_KEY` / `ANTHROPIC_BASE_URL`,
 *   `GOOGLE_GENERATIVE_AI_API_KEY` (or `GEMINI_API_KEY`) / `GOOGLE_GENERATIVE_AI_BASE_URL`;
 * - OpenAI-compatible servers: `ollama`, `lmstudio` and `vllm` on their usual local ports, and any named in
 *   `WEFT_MODEL_ENDPOINTS` (`name=url,…`, which may also move those three), each with an optional `<NAME>_API_KEY`;
 * - `WEFT_MODEL_TIMEOUT` (one request, e.g. `90s`), `WEFT_MODEL_DEADLINE` (a whole call, retries included; default 5 min);
 * - `WEFT_MEDIA_PROVIDER` = `local` (default; ffmpeg) | `replicate`, with `REPLICATE_API_TOKEN`,
 *   `WEFT_IMAGE_MODEL`, `WEFT_VIDEO_MODEL`, `WEFT_REPLICATE_BASE_URL`, `WEFT_MEDIA_TIMEOUT`.
 * Earlier names still work: `WEFT_MODEL_PROVIDER=openai` with a bare `WEFT_MODEL`, `WEFT_MODEL_BASE_URL`, `WEFT_MODEL_API_KEY`.
 * Throws PROVIDER_CONFIG_INVALID naming the variable at fault.
 */
export function providerSettingsFromEnv(env: Env = process.env): ProviderSettings {
  return { model: modelSettings(env), media: mediaSettings(env) }
}

function invalid(message: string): WeftError {
  return new WeftError('PROVIDER_CONFIG_INVALID', message, { retryable: false })
}

function duration(env: Env, name: string): number | undefined {
  const raw = env[name]
  if (raw === undefined || raw === '') return undefined
  const ms = parseDuration(raw)
  if (ms === undefined || ms <= 0) throw invalid(`${name} must be a duration such as 90s or 2m, got "${raw}"`)
  return ms
}

/** OpenAI-compatible servers known by name, at the ports they listen on out of the box. */
const LOCAL_SERVERS: Record<string, string> = { ollama: 'http://localhost:11434/v1', lmstudio: 'http://localhost:1234/v1', vllm: 'http://localhost:8000/v1' }

function url(name: string, raw: string): string {
  if (!URL.canParse(raw) || !/^https?:$/.test(new URL(raw).protocol)) throw invalid(`${name} is not an http(s) URL: "${raw}"`)
  return raw
}

function modelSettings(env: Env): ModelSettings {
  const endpoints: Record<string, ModelEndpoint> = {}
  const hosted = (name: string, protocol: ModelProtocol, keyVars: string[], baseVars: string[]) => {
    const keyVar = keyVars.find((k) => env[k])
    const baseVar = baseVars.find((k) => env[k])
    const e: ModelEndpoint = { protocol, keyVar: keyVars[0]! }
    if (keyVar) e.apiKey = env[keyVar]!
    if (baseVar) {
      e.baseUrl = url(baseVar, env[baseVar]!)
      // a server of one's own at that address may need no key: OpenAI's protocol without one is the compatible one
      if (!e.apiKey && protocol === 'openai') Object.assign(e, { protocol: 'openai-compatible', keyVar: undefined })
    }
    if (e.keyVar === undefined) delete e.keyVar
    endpoints[name] = e
  }
  hosted('openai', 'openai', ['OPENAI_API_KEY', 'WEFT_MODEL_API_KEY'], ['OPENAI_BASE_URL', 'WEFT_MODEL_BASE_URL'])
  hosted('anthropic', 'anthropic', ['ANTHROPIC_API_KEY'], ['ANTHROPIC_BASE_URL'])
  hosted('google', 'google', ['GOOGLE_GENERATIVE_AI_API_KEY', 'GEMINI_API_KEY'], ['GOOGLE_GENERATIVE_AI_BASE_URL'])
  const servers: Record<string, string> = { ...LOCAL_SERVERS }
  for (const entry of (env.WEFT_MODEL_ENDPOINTS ?? '')
    .split(',')
    .map((x) => x.trim())
    .filter(Boolean)) {
    const eq = entry.indexOf('=')
    const name = eq === -1 ? '' : entry.slice(0, eq).trim()
    if (!/^[a-z][a-z0-9_-]*$/.test(name)) throw invalid(`WEFT_MODEL_ENDPOINTS entries are name=url with a lower-case name, got "${entry}"`)
    if (name === 'offline' || name in endpoints) throw invalid(`WEFT_MODEL_ENDPOINTS cannot redefine "${name}"`)
    servers[name] = url(`WEFT_MODEL_ENDPOINTS (${name})`, entry.slice(eq + 1).trim())
  }
  for (const [name, baseUrl] of Object.entries(servers)) {
    const key = env[`${name.toUpperCase().replaceAll('-', '_')}_API_KEY`]
    endpoints[name] = { protocol: 'openai-compatible', baseUrl, ...(key ? { apiKey: key } : {}) }
  }

  let ref = env.WEFT_MODEL || 'offline'
  const legacy = env.WEFT_MODEL_PROVIDER
  if (legacy !== undefined && legacy !== '' && legacy !== 'offline' && legacy !== 'openai')
    throw invalid(`WEFT_MODEL_PROVIDER must be "offline" or "openai", got "${legacy}"; WEFT_MODEL=<provider>/<model id> chooses any provider`)
  if (legacy === 'openai') {
    if (!env.WEFT_MODEL) throw invalid('WEFT_MODEL_PROVIDER=openai needs WEFT_MODEL (the model name, e.g. gpt-4o-mini or llama3.1)')
    if (!ref.startsWith('openai/')) ref = `openai/${ref}`
  }
  const out: ModelSettings = { default: ref, endpoints }
  const problem = modelRefProblem(ref, catalogOf(out), { keys: false })
  if (problem) throw invalid(`WEFT_MODEL: ${problem}`)
  if (!ref.includes('/') && ref !== 'offline') throw invalid(`WEFT_MODEL must be offline or <provider>/<model id> (e.g. openai/gpt-4o-mini, ollama/llama3.1), got "${ref}"`)
  const timeoutMs = duration(env, 'WEFT_MODEL_TIMEOUT')
  if (timeoutMs !== undefined) out.timeoutMs = timeoutMs
  const deadlineMs = duration(env, 'WEFT_MODEL_DEADLINE')
  if (deadlineMs !== undefined) out.deadlineMs = deadlineMs
  return out
}

/** What `model:` refs can name with these settings, for checking refs before a run. */
export function catalogOf(s: ModelSettings): ModelCatalog {
  const providers: ModelCatalog['providers'] = {}
  for (const [name, e] of Object.entries(s.endpoints)) (providers as Record<string, unknown>)[name] = { ...(e.keyVar ? { keyVar: e.keyVar } : {}), hasKey: !!e.apiKey }
  return { default: s.default, providers }
}

/** The model providers the environment configures; none when its settings are invalid (a run reports those). */
export function modelCatalogFromEnv(env: Env = process.env): ModelCatalog | undefined {
  try {
    return catalogOf(modelSettings(env))
  } catch {
    return undefined
  }
}

function mediaSettings(env: Env): MediaSettings {
  const kind = env.WEFT_MEDIA_PROVIDER || 'local'
  if (kind === 'local') return { kind }
  if (kind !== 'replicate') throw invalid(`WEFT_MEDIA_PROVIDER must be "local" or "replicate", got "${kind}"`)
  const token = env.REPLICATE_API_TOKEN
  if (!token) throw invalid('WEFT_MEDIA_PROVIDER=replicate needs REPLICATE_API_TOKEN')
  const out: MediaSettings = {
    kind,
    token,
    imageModel: env.WEFT_IMAGE_MODEL || 'black-forest-labs/flux-schnell',
    videoModel: env.WEFT_VIDEO_MODEL || 'google/veo-3.1',
  }
  if (env.WEFT_REPLICATE_BASE_URL) out.baseUrl = env.WEFT_REPLICATE_BASE_URL
  const timeoutMs = duration(env, 'WEFT_MEDIA_TIMEOUT')
  if (timeoutMs !== undefined) out.timeoutMs = timeoutMs
  return out
}

/** Builds the providers. Adapters load on demand, so an offline run never loads an HTTP client. */
export async function createProviders(settings: ProviderSettings): Promise<Providers> {
  return { model: await createModel(settings.model), media: await createMedia(settings.media) }
}

async function createModel(s: ModelSettings): Promise<Providers['model']> {
  const { OfflineModel } = await import('./adapters/offline-model.ts')
  const { ModelRouter } = await import('./adapters/model-router.ts')
  return new ModelRouter(s, new OfflineModel())
}

async function createMedia(s: MediaSettings): Promise<MediaProvider> {
  const { LocalMedia } = await import('./adapters/local-media.ts')
  if (s.kind === 'local') {
    const { kind: _, ...opts } = s
    return new LocalMedia(opts)
  }
  const { ReplicateMedia } = await import('./adapters/replicate-media.ts')
  const { kind: _, ...opts } = s
  // a generation API makes images and clips; stitching the final cut stays local
  return new RoutedMedia(new ReplicateMedia(opts), new LocalMedia())
}

/** Sends image and video jobs to one provider and stitching to another. */
class RoutedMedia implements MediaProvider {
  readonly name: string
  constructor(
    private readonly generate: MediaProvider,
    private readonly stitch: MediaProvider,
  ) {
    this.name = `${generate.name}+${stitch.name}`
  }
  render(req: MediaRequest, opts: { signal: AbortSignal; idempotencyKey: string }): Promise<MediaResult> {
    return (req.kind === 'stitch' ? this.stitch : this.generate).render(req, opts)
  }

  sourceOf(req: MediaRequest): string {
    const to = req.kind === 'stitch' ? this.stitch : this.generate
    return to.sourceOf?.(req) ?? to.name
  }
}

/** The providers as the node cache's key sees them: kinds, endpoints and models, never a secret. */
export function providerIdentity(s: ProviderSettings): string {
  const endpoints = Object.entries(s.model.endpoints)
    .sort(([a], [b]) => a.localeCompare(b))
    .map(([name, e]) => `${name}:${e.protocol}:${e.baseUrl ?? ''}`)
  const model = `${s.model.default}[${endpoints.join(',')}]`
  // the local encoder is part of what makes a file: another ffmpeg may write other bytes
  const media = s.media.kind === 'local' ? `local:${s.media.ffmpeg ?? ffmpegPath()}` : `replicate:${s.media.baseUrl ?? ''}:${s.media.imageModel}:${s.media.videoModel}`
  return `model=${model};media=${media}`
}

/** Whether the same request always gives the same result: the offline model by default, with local ffmpeg media. */
export function deterministicProviders(s: ProviderSettings): boolean {
  return s.model.default === 'offline' && s.media.kind === 'local'
}
