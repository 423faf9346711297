// The run's ModelProvider: each call goes to the provider its ref names (`anthropic/claude-sonnet-4-5`), or to the
// default ref when the node names none. The AI SDK adapters load on first use, so an offline run never loads them.
import { WeftError } from '../errors.ts'
import { type ModelCatalog, modelRefProblem, parseModelRef, refText } from '../model-ref.ts'
import type { ModelProvider, ModelRequest, ModelResponse } from '../ports.ts'
import { catalogOf, type ModelSettings } from '../providers.ts'

export class ModelRouter implements ModelProvider {
  readonly name = 'models'
  readonly #providers = new Map<string, Promise<ModelProvider>>()
  /** What refs may name, read once: the settings do not change for the provider's life. */
  readonly #catalog: ModelCatalog

  constructor(
    private readonly settings: ModelSettings,
    private readonly offline: ModelProvider,
  ) {
    this.#catalog = catalogOf(settings)
  }

  modelFor(req: ModelRequest): string {
    return refText(parseModelRef(req.model ?? this.settings.default, this.settings.default))
  }

  async complete(req: ModelRequest, opts: { signal: AbortSignal; idempotencyKey: string }): Promise<ModelResponse> {
    const ref = req.model ?? this.settings.default
    const problem = modelRefProblem(ref, this.#catalog)
    if (problem) throw new WeftError('MODEL_REF_INVALID', problem, { retryable: false })
    const { provider, model } = parseModelRef(ref, this.settings.default)
    if (provider === 'offline') {
      const { model: _, ...rest } = req
      return this.offline.complete(rest, opts)
    }
    return (await this.#provider(provider)).complete({ ...req, ...(model ? { model } : {}) }, opts)
  }

  #provider(name: string): Promise<ModelProvider> {
    let p = this.#providers.get(name)
    if (!p) {
      const e = this.settings.endpoints[name]!
      const s = this.settings
      p = import('./ai-sdk-model.ts').then(
        ({ AiSdkModel }) =>
          new AiSdkModel({
            name,
            protocol: e.protocol,
            ...(e.baseUrl ? { baseUrl: e.baseUrl } : {}),
            ...(e.apiKey ? { apiKey: e.apiKey } : {}),
            ...(s.timeoutMs !== undefined ? { timeoutMs: s.timeoutMs } : {}),
            ...(s.deadlineMs !== undefined ? { deadlineMs: s.deadlineMs } : {}),
            ...(s.maxRetries !== undefined ? { maxRetries: s.maxRetries } : {}),
          }),
      )
      this.#providers.set(name, p)
    }
    return p
  }
}
