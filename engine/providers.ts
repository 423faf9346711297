// Which model and media providers a run uses: settings from the environment (plain data, so worker threads
// can build their own), and the providers built from them.
import { WeftError } from './errors.ts'
import type { Providers } from './node-def.ts'
import type { MediaProvider, MediaRequest, MediaResult } from './ports.ts'
import { parseDuration } from './duration.ts'
import { ffmpegPath } from './media/ffmpeg.ts'

export type ModelSettings =
  | { kind: 'offline' }
  | { kind: 'openai'; baseUrl: string; apiKey?: string; model: string; timeoutMs?: number; deadlineMs?: number; maxRetries?: number }

export type MediaSettings =
  | { kind: 'local'; ffmpeg?: string; ffprobe?: string; font?: string }
  | { kind: 'replicate'; token: string; baseUrl?: string; imageModel: string; videoModel: string; timeoutMs?: number }

/** Plain data: travels to worker threads, which build their own providers from it. */
export interface ProviderSettings {
  model: ModelSettings
  media: MediaSettings
}

/** The embedded defaults: no keys, no servers. */
export const offlineSettings: ProviderSettings = { model: { kind: 'offline' }, media: { kind: 'local' } }

type Env = Record<string, string | undefined>

/**
 * Reads provider settings from the environment:
 * - `WEFT_MODEL_PROVIDER` = `offline` (default) | `openai` (any OpenAI-compatible endpoint), with
 *   `WEFT_MODEL_BASE_URL` (default https://api.openai.com/v1), `WEFT_MODEL_API_KEY` (or `OPENAI_API_KEY`),
 *   `WEFT_MODEL` (the model name; an agent's `model:` field overrides it), `WEFT_MODEL_TIMEOUT` (one request, e.g. `90s`),
 *   `WEFT_MODEL_DEADLINE` (a whole call, retries included; default 5 min);
 * - `WEFT_MEDIA_PROVIDER` = `local` (default; ffmpeg) | `replicate`, with `REPLICATE_API_TOKEN`,
 *   `WEFT_IMAGE_MODEL`, `WEFT_VIDEO_MODEL`, `WEFT_REPLICATE_BASE_URL`, `WEFT_MEDIA_TIMEOUT`.
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

function modelSettings(env: Env): ModelSettings {
  const kind = env.WEFT_MODEL_PROVIDER || 'offline'
  if (kind === 'offline') return { kind }
  if (kind !== 'openai') throw invalid(`WEFT_MODEL_PROVIDER must be "offline" or "openai", got "${kind}"`)
  const baseUrl = env.WEFT_MODEL_BASE_URL || 'https://api.openai.com/v1'
  if (!URL.canParse(baseUrl)) throw invalid(`WEFT_MODEL_BASE_URL is not a URL: "${baseUrl}"`)
  const model = env.WEFT_MODEL
  if (!model) throw invalid('WEFT_MODEL_PROVIDER=openai needs WEFT_MODEL (the model name, e.g. gpt-4o-mini or llama3.1)')
  const out: ModelSettings = { kind, baseUrl, model }
  const apiKey = env.WEFT_MODEL_API_KEY || env.OPENAI_API_KEY
  if (apiKey) out.apiKey = apiKey
  const timeoutMs = duration(env, 'WEFT_MODEL_TIMEOUT')
  if (timeoutMs !== undefined) out.timeoutMs = timeoutMs
  const deadlineMs = duration(env, 'WEFT_MODEL_DEADLINE')
  if (deadlineMs !== undefined) out.deadlineMs = deadlineMs
  return out
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
  if (s.kind === 'offline') {
    const { OfflineModel } = await import('./adapters/offline-model.ts')
    return new OfflineModel()
  }
  const { OpenAIModel } = await import('./adapters/openai-model.ts')
  const { kind: _, ...opts } = s
  return new OpenAIModel(opts)
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
export class RoutedMedia implements MediaProvider {
  readonly name: string
  constructor(private readonly generate: MediaProvider, private readonly stitch: MediaProvider) {
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
  const model = s.model.kind === 'offline' ? 'offline' : `openai:${s.model.baseUrl}:${s.model.model}`
  // the local encoder is part of what makes a file: another ffmpeg may write other bytes
  const media = s.media.kind === 'local' ? `local:${s.media.ffmpeg ?? ffmpegPath()}` : `replicate:${s.media.baseUrl ?? ''}:${s.media.imageModel}:${s.media.videoModel}`
  return `model=${model};media=${media}`
}

/** Whether the same request always gives the same result: true for the offline model with local ffmpeg media. */
export function deterministicProviders(s: ProviderSettings): boolean {
  return s.model.kind === 'offline' && s.media.kind === 'local'
}
