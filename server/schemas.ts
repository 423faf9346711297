// Request schemas of the HTTP (and WebSocket) API, and the mapping of a generation request onto the service's StartGeneration.
import { EDITS_ONLY_WITH_APPROVE, editsOnlyWithApprove, REVISE_NEEDS_FEEDBACK, reviseNeedsFeedback } from '../engine/decision-rule.ts'
import * as v from 'valibot'
import type { StartGeneration } from './service.ts'

/** A pipeline's name as the API accepts it: `pipelines/<name>.yaml` on the server, nothing path-like. */
export const PipelineNameSchema = v.pipe(
  v.string(),
  v.regex(/^[A-Za-z0-9][A-Za-z0-9_-]{0,63}$/, 'expected a pipeline name: letters, digits, _ and -, at most 64'),
  v.description('Pipeline name: `pipelines/<name>.yaml` on the server.'),
)

/** A session id (`Started.sessionId`). */
export const SessionIdSchema = v.pipe(v.string(), v.regex(/^[A-Za-z0-9_-]{1,128}$/, 'expected a session id: letters, digits, _ and -'))

// an `upload:` ref is checked by the service, which says which field names no upload (ASSET_UNREADABLE)
const AssetUrlSchema = v.pipe(
  v.string(),
  v.trim(),
  v.maxLength(2048),
  v.url('expected a URL'),
  v.regex(/^([Hh][Tt][Tt][Pp][Ss]?:\/\/|upload:)/, 'expected an http(s) URL or an upload ref (upload:<sha256>)'),
)

/**
 * Brand assets: http(s) URLs the server fetches (SSRF-safe), or `upload:<sha256>` refs from `POST /api/v2/uploads`,
 * put into the generation's folder before it starts.
 */
const BrandAssetsSchema = v.strictObject({
  /** Product images; the first is the product reference. */
  product_images: v.optional(v.pipe(v.array(AssetUrlSchema), v.maxLength(10), v.description('Product image URLs or upload refs (at most 10); the first is the product reference.'))),
  /** Character images; the first is the character reference. */
  character_images: v.optional(v.pipe(v.array(AssetUrlSchema), v.maxLength(10), v.description('Character image URLs or upload refs (at most 10); the first is the character reference.'))),
  /** The logo, shown in every clip. */
  logo: v.optional(v.pipe(AssetUrlSchema, v.description('Logo image URL or upload ref.'))),
})

const ConfigKeySchema = v.pipe(v.string(), v.regex(/^[A-Za-z_][A-Za-z0-9_-]*(\.[A-Za-z_][A-Za-z0-9_-]*)*$/, 'expected a config key: letters, digits, _ and -, dotted for a path'))

/** Config overrides as a tree of the pipeline's `config:` keys (a key may also be a dotted path). */
export interface ConfigTree {
  [key: string]: string | number | boolean | unknown[] | ConfigTree
}

const ConfigTreeRecordSchema: v.GenericSchema<ConfigTree> = v.pipe(
  // a list would pass as a record (of its indexes): config is a mapping of keys
  v.custom<ConfigTree>((x) => typeof x === 'object' && x !== null && !Array.isArray(x), 'expected a mapping of config keys (`{ "parallel.max_concurrent": 3 }`)'),
  v.record(ConfigKeySchema, v.union([v.string(), v.number(), v.boolean(), v.array(v.unknown()), v.lazy(() => ConfigTreeRecordSchema)])),
  v.maxEntries(100),
)

/** Nested config overrides: `{ quality: { threshold_acceptable: 70 } }` or `{ "quality.threshold_acceptable": 70 }`. */
export const ConfigTreeSchema = ConfigTreeRecordSchema

/** The body of `POST /api/v2/generate`. Unknown keys are refused. */
export const GenerationRequestSchema = v.pipe(
  v.strictObject({
    /** The brief: product, audience, tone, what the ad must say. */
    prompt: v.pipe(v.string(), v.trim(), v.nonEmpty('the prompt must not be blank'), v.maxLength(4000), v.description('The brief (1–4000 characters after trimming).')),
    /** Ad framework. */
    framework: v.optional(v.pipe(v.picklist(['AIDA', 'PAS', 'FAB', 'custom']), v.description('Ad framework.'))),
    brand_assets: v.optional(BrandAssetsSchema),
    /** Target length in seconds (the pipeline bounds it further). */
    duration_s: v.optional(v.pipe(v.number(), v.integer(), v.minValue(1), v.maxValue(3600), v.description('Target length in seconds (input `duration_s`).'))),
    product: v.optional(v.pipe(v.string(), v.trim(), v.maxLength(200), v.description('Product name (input `product`).'))),
    audience: v.optional(v.pipe(v.string(), v.trim(), v.maxLength(500), v.description('Who the ad speaks to (input `audience`).'))),
    tone: v.optional(v.pipe(v.string(), v.trim(), v.maxLength(200), v.description('Tone of voice (input `tone`).'))),
    /** → config `quality.threshold_acceptable`. */
    quality_threshold: v.optional(v.pipe(v.number(), v.minValue(0), v.maxValue(100), v.description('Sets config `quality.threshold_acceptable`.'))),
    /** → config `parallel.max_concurrent`. */
    parallel_variants: v.optional(v.pipe(v.number(), v.integer(), v.minValue(1), v.maxValue(32), v.description('Sets config `parallel.max_concurrent`.'))),
    /** → config `quality.vbench_enabled`. */
    enable_vbench: v.optional(v.pipe(v.boolean(), v.description('Sets config `quality.vbench_enabled`.'))),
    /** Any keys of the pipeline's `config:`; unknown ones are refused (CONFIG_UNKNOWN). */
    config: v.optional(v.pipe(ConfigTreeSchema, v.description("Overrides of the pipeline's `config:`, nested or as dotted keys; unknown keys → CONFIG_UNKNOWN."))),
    /** Approval gates wait for a decision (WebSocket or REST) instead of deciding by their `auto` policy. */
    interactive: v.optional(v.pipe(v.boolean(), v.description('Approval gates wait for a decision instead of deciding by their `auto` policy.')), false),
    /** Attach to an earlier session: its WebSocket sees this generation too. */
    session_id: v.optional(v.pipe(SessionIdSchema, v.description('Attach to an earlier session (its WebSocket sees this generation too).'))),
    pipeline: v.optional(PipelineNameSchema, 'default'),
  }),
  v.forward(
    v.partialCheck(
      [['quality_threshold'], ['config']],
      (r) => r.quality_threshold === undefined || !flatConfig(r.config).has('quality.threshold_acceptable'),
      'quality_threshold and config quality.threshold_acceptable are both given',
    ),
    ['quality_threshold'],
  ),
  v.forward(
    v.partialCheck(
      [['parallel_variants'], ['config']],
      (r) => r.parallel_variants === undefined || !flatConfig(r.config).has('parallel.max_concurrent'),
      'parallel_variants and config parallel.max_concurrent are both given',
    ),
    ['parallel_variants'],
  ),
  v.forward(
    v.partialCheck(
      [['enable_vbench'], ['config']],
      (r) => r.enable_vbench === undefined || !flatConfig(r.config).has('quality.vbench_enabled'),
      'enable_vbench and config quality.vbench_enabled are both given',
    ),
    ['enable_vbench'],
  ),
  v.forward(
    v.partialCheck([['config']], (r) => duplicatePaths(r.config).length === 0, 'a config path is given twice (nested and dotted)'),
    ['config'],
  ),
)
export type GenerationRequest = v.InferOutput<typeof GenerationRequestSchema>

/** The body of `POST /api/v2/generations/:id/rerun`. Unknown keys are refused. */
/** Body of `POST /generations/{id}/cancel`, which may also come without one. */
export const CancelRequestSchema = v.strictObject({
  reason: v.optional(
    v.pipe(
      v.string(),
      v.trim(),
      v.minLength(1, 'a reason must say something'),
      v.maxLength(500),
      v.description("Why it is cancelled: recorded as the generation's error, `cancelled: <reason>` (without it, `cancelled by request`)."),
    ),
  ),
})

export const RerunRequestSchema = v.strictObject({
  /** Execute this node and everything downstream again (bypassing the node cache); upstream outputs are kept. */
  from: v.optional(
    v.pipe(
      v.string(),
      v.regex(/^[A-Za-z_][A-Za-z0-9_]{0,127}$/, 'expected a node id of the pipeline'),
      v.description('Execute this node and everything downstream of it again, bypassing the node cache; the outputs upstream of it are kept. Without it, every node runs and the cache decides.'),
    ),
  ),
  config: v.optional(v.pipe(ConfigTreeSchema, v.description("Overrides of the re-run generation's config, nested or as dotted keys; unknown keys → CONFIG_UNKNOWN."))),
  interactive: v.optional(v.pipe(v.boolean(), v.description('Approval gates wait for a decision (default: as the re-run generation).'))),
})

/**
 * A decision at an approval gate (REST `POST …/approvals/:gate` and the WebSocket's `decision` message).
 * `revise` needs feedback; `edits` go with `approve` only.
 */
/** Largest `edits` accepted in a decision (JSON text). */
const MAX_EDITS_BYTES = 64 * 1024

export const DecisionSchema = v.pipe(
  v.strictObject({
    decision: v.pipe(v.picklist(['approve', 'reject', 'revise']), v.description('approve (optionally with edits), reject (feedback says why), revise (feedback says what to change).')),
    feedback: v.optional(v.pipe(v.string(), v.maxLength(4000), v.description('With revise (required) or reject: what to change, or why.'))),
    edits: v.optional(
      v.pipe(
        v.unknown(),
        v.check((e) => JSON.stringify(e ?? null).length <= MAX_EDITS_BYTES, `edits are limited to ${MAX_EDITS_BYTES / 1024} KiB of JSON`),
        v.description(
          'With approve: a value that replaces the reviewed value downstream, in its shape (the same kind of value at every place, the same keys in every object, each list item shaped like one of the items of the reviewed list; a place the reviewed value holds null takes anything), at most 64 KiB of JSON.',
        ),
      ),
    ),
    revision: v.optional(
      v.pipe(v.number(), v.integer(), v.minValue(0), v.description('The revision this decision answers (from approval.requested); a decision for an earlier revision is answered as a repeat.')),
    ),
  }),
  v.forward(v.partialCheck([['decision'], ['feedback']], reviseNeedsFeedback, REVISE_NEEDS_FEEDBACK), ['feedback']),
  v.forward(v.partialCheck([['decision'], ['edits']], editsOnlyWithApprove, EDITS_ONLY_WITH_APPROVE), ['edits']),
)

/** Query of `GET /api/v2/generations`. */
export const ListQuerySchema = v.object({
  limit: v.optional(v.pipe(v.string(), v.description('Page size, 1–100 (default 20).'), v.regex(/^\d{1,4}$/, 'expected a whole number'), v.toNumber(), v.minValue(1), v.maxValue(100)), '20'),
  status: v.optional(v.pipe(v.picklist(['pending', 'running', 'awaiting_approval', 'completed', 'failed', 'cancelled']), v.description('Only generations with this status.'))),
  cursor: v.optional(v.pipe(v.string(), v.nonEmpty(), v.maxLength(512), v.description('`next` of the previous page.'))),
})

/** `POST /api/v2/pipelines/validate` as JSON: `{ text }` (the YAML). */
export const ValidateBodySchema = v.strictObject({
  text: v.pipe(v.string(), v.description('The pipeline YAML.')),
})

/** Config paths set by the request's shortcut fields. */
const CONFIG_SHORTCUTS = {
  quality_threshold: 'quality.threshold_acceptable',
  parallel_variants: 'parallel.max_concurrent',
  enable_vbench: 'quality.vbench_enabled',
} as const

/** Maps a validated request onto the service's StartGeneration (inputs by name, config as dotted paths). */
export function toStartGeneration(req: GenerationRequest, principal?: string): StartGeneration {
  const inputs: Record<string, unknown> = { prompt: req.prompt }
  for (const key of ['framework', 'duration_s', 'product', 'audience', 'tone'] as const) {
    if (req[key] !== undefined) inputs[key] = req[key]
  }
  const config: Record<string, unknown> = Object.fromEntries(flatConfig(req.config))
  for (const [field, path] of Object.entries(CONFIG_SHORTCUTS) as Array<[keyof typeof CONFIG_SHORTCUTS, string]>) {
    if (req[field] !== undefined) config[path] = req[field]
  }
  const start: StartGeneration = { pipeline: req.pipeline, inputs, config, interactive: req.interactive }
  if (req.session_id !== undefined) start.sessionId = req.session_id
  if (principal !== undefined) start.principal = principal
  if (req.brand_assets && Object.keys(req.brand_assets).length > 0) start.brandAssets = { ...req.brand_assets }
  return start
}

/** Flattens a config tree to dotted paths; arrays and scalars are leaves. */
export function flatConfig(tree: ConfigTree | undefined): Map<string, unknown> {
  const out = new Map<string, unknown>()
  walk(tree, '', (path, value) => {
    if (!out.has(path)) out.set(path, value)
  })
  return out
}

function duplicatePaths(tree: ConfigTree | undefined): string[] {
  const seen = new Set<string>()
  const dup: string[] = []
  walk(tree, '', (path) => {
    if (seen.has(path)) dup.push(path)
    else seen.add(path)
  })
  return dup
}

function walk(tree: ConfigTree | undefined, prefix: string, leaf: (path: string, value: unknown) => void): void {
  if (!tree) return
  for (const [key, value] of Object.entries(tree)) {
    const path = prefix ? `${prefix}.${key}` : key
    if (typeof value === 'object' && value !== null && !Array.isArray(value)) walk(value, path, leaf)
    else leaf(path, value)
  }
}
