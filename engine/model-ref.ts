// Model refs as pipelines write them (`anthropic/claude-sonnet-4-5`, `ollama/llama3.1`, `offline`): which provider a
// call goes to and with which model id, and what stops a ref from working on this machine (an unknown provider, a
// missing key). Pure: the providers this machine has come in as data.

/** A provider a ref may name, as the model settings describe it. */
interface ProviderEntry {
  /** The environment variable its key comes from, when it needs one. */
  keyVar?: string
  /** Whether that key is set. */
  hasKey: boolean
}

/** The providers a ref may name: `offline` always, then the configured ones, by name. */
export interface ModelCatalog {
  /** The ref a node that names no model uses. */
  default: string
  providers: Readonly<Record<string, ProviderEntry>>
}

export interface ModelRef {
  provider: string
  /** The model id; absent for `offline` and for a provider's own default. */
  model?: string
}

/**
 * Splits a ref: `<provider>/<model id>` (the id may hold more slashes: `vllm/meta-llama/Llama-3.1-8B`), `offline`,
 * `default` (the default ref itself), or a bare model id, which goes to the default ref's provider.
 */
export function parseModelRef(ref: string, defaultRef: string): ModelRef {
  if (ref === 'default') return parseModelRef(defaultRef === 'default' ? 'offline' : defaultRef, 'offline')
  const slash = ref.indexOf('/')
  if (slash === -1) {
    if (ref === 'offline') return { provider: 'offline' }
    const fallback = parseModelRef(defaultRef, 'offline')
    return { provider: fallback.provider, model: ref }
  }
  const model = ref.slice(slash + 1)
  return { provider: ref.slice(0, slash), ...(model ? { model } : {}) }
}

/** The ref as reported and priced: `<provider>/<model id>`, or `offline`. */
export function refText(ref: ModelRef): string {
  return ref.provider === 'offline' ? 'offline' : `${ref.provider}/${ref.model ?? ''}`
}

/**
 * Why a ref cannot be used here, or undefined. `keys: false` checks only that the provider exists (what
 * `weft validate` must refuse); by default a missing key is a problem too (what must stop a run before it starts).
 */
export function modelRefProblem(ref: string, catalog: ModelCatalog, opts: { keys?: boolean } = {}): string | undefined {
  if (ref === 'default') return catalog.default === 'default' ? undefined : modelRefProblem(catalog.default, catalog, opts)
  if (ref.trim() === '') return 'a model ref cannot be empty: write <provider>/<model id>, e.g. anthropic/claude-sonnet-4-5, or offline'
  const { provider, model } = parseModelRef(ref, catalog.default)
  // a bare model id goes to the default provider; when that is the offline model, it would be ignored unseen
  if (provider === 'offline' && model !== undefined && !ref.includes('/')) {
    return `"${ref}" names no provider, and the default (WEFT_MODEL) is the offline model: write <provider>/${ref}, e.g. openai/${ref}`
  }
  if (provider === 'offline') return undefined
  const entry = catalog.providers[provider]
  if (!entry) {
    const known = ['offline', ...Object.keys(catalog.providers)].join(', ')
    return `unknown model provider "${provider}" in "${ref}"; this machine knows ${known} (more OpenAI-compatible servers are added with WEFT_MODEL_ENDPOINTS)`
  }
  if (!model) return `"${ref}" names no model: write ${provider}/<model id>`
  if (opts.keys !== false && entry.keyVar && !entry.hasKey) return `"${ref}" needs ${entry.keyVar}, which is not set`
  return undefined
}
