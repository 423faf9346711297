// The shape of a node type (built-in or plugin): `{ type, config?, output?, execute(ctx) }`, and what `ctx` offers.
import type { ErrorInfo } from './errors.ts'
import type { Decision, ApprovalRequest, MediaProvider, ModelProvider, Revision } from './ports.ts'

/**
 * A schema for a node's config or output. Any Standard Schema (valibot, zod, arktype…) validates; valibot
 * object schemas are also introspected so `weft validate` can check field names and types statically.
 */
export interface SchemaLike {
  readonly '~standard': {
    readonly version: 1
    readonly vendor: string
    readonly validate: (value: unknown) => StandardResult | Promise<StandardResult>
  }
}
type StandardResult =
  | { readonly value: unknown; readonly issues?: undefined }
  | { readonly issues: ReadonlyArray<{ readonly message: string; readonly path?: ReadonlyArray<PropertyKey | { readonly key: PropertyKey }> }> }

type InferSchema<S, Fallback> = S extends { readonly '~standard': { readonly types?: infer T } } ? (T extends { readonly output: infer O } ? O : Fallback) : Fallback

/** Progress a node reports while it runs; shown live by the CLI and streamed by the server. */
export interface Progress {
  message?: string
  /** 0–1 when the node knows how far along it is. */
  fraction?: number
  [key: string]: unknown
}

/** What every node's `execute` receives. It never hands out the database or a socket. */
export interface NodeContext<C = Record<string, unknown>> {
  /** The node's fields with every `${{ }}` resolved (and validated when the type declares a config schema). */
  config: C
  /** Aborted when the node times out, the run is cancelled, or a fail-fast run stops. */
  signal: AbortSignal
  /** Reports progress (cheap; safe to call often). */
  emit(progress: Progress): void
  run: { id: string; interactive: boolean }
  node: { id: string; type: string; attempt: number }
  /** `<run>:<node>:<attempt>` (with `:r<round>` in a gate's revision round), for providers that deduplicate retried calls. */
  idempotencyKey: string
  /** Directory for this run's files (media); created on first use by the node. */
  workDir: string
  /** Model and media providers, when the composition root configured them. */
  providers: Providers
  /** Folders where prompt names are looked up (see engine/prompts.ts `loadPrompt`). */
  prompts: readonly string[]
  /** Present when a reviewer sent this node back: fold `feedback` into the work (an agent adds it to its prompt). */
  revision?: Revision
}

export interface Providers {
  model?: ModelProvider
  media?: MediaProvider
}

/** Extra powers of a control node (fan-out, approval), which the run's driver replays from its recorded answers instead of a worker running it. */
export interface ControlContext<C = Record<string, unknown>> extends NodeContext<C> {
  /** Fields listed in `deferred`, still unresolved (templates evaluated per child). */
  raw: Record<string, unknown>
  /**
   * Runs the child once (a fan-out's `node:`, or its `steps:` graph, which the engine runs step by step),
   * with extra variables in scope (`item`, `index`).
   */
  runChild(scope: Record<string, unknown>, opts: { signal: AbortSignal; key: string }): Promise<ChildOutcome>
  /**
   * Asks the run's decision source; resolves when a decision arrives (waiting is a state, not an error).
   * In an automated run (`run.interactive` false) an `auto` decision, when given, is taken at once and recorded as such.
   */
  requestDecision(request: ApprovalRequest, auto?: Decision): Promise<Decision>
  /** The recorded output of a finished node of this run (null when it has none). */
  outputOf(nodeId: string): unknown
  /** Runs another node of the pipeline again (an approval's gated node) with a reviewer's revision. */
  rerun(nodeId: string, revision: Revision): Promise<ChildOutcome>
}

export type ChildOutcome = { ok: true; output: unknown } | { ok: false; error: ErrorInfo }

/** A node type. Importing a module that defines one has no side effects. */
// biome-ignore lint/suspicious/noExplicitAny: a registry holds node types of every config and output shape
// biome-ignore lint/correctness/noUnusedVariables: C is the config type `defineNode` infers, kept for code that names it
export interface NodeDefinition<C = any, O = any> {
  /** The DSL `type` value; snake_case, matching the file name in kebab-case. */
  type: string
  description?: string
  /** Schema of the node's own fields (after expressions are resolved). Optional for plugins. */
  config?: SchemaLike
  /** Schema of the output; enables static checks of `nodes.<id>.output.<field>` references. */
  output?: SchemaLike
  /** Config fields whose expressions are resolved later by the node itself (templates such as `fan_out.node`). */
  deferred?: readonly string[]
  /** A field holding a child node spec (validated like a node, with extra variables such as `item` in scope). */
  child?: ChildTemplate
  /** `worker` (default): runs on a worker thread. `control`: replayed by the run's driver with a ControlContext. */
  runs?: 'worker' | 'control'
  /**
   * Results may be reused from the node cache: the output depends only on the config, the prompt files and files it
   * names, and the providers (no clock, no randomness without a seed, no other outside state). Default false.
   */
  cache?: boolean
  /** Static checks beyond the schema, run by `weft validate` on the raw fields (expressions unevaluated). */
  check?(fields: Record<string, unknown>, env: CheckEnv): CheckProblem[]
  /** Fields whose literal value names another node (an approval's `gate`): checked to exist, and made dependencies. */
  nodeRefs?: readonly string[]
  /**
   * Fields holding a model ref (`anthropic/claude-sonnet-4-5`): checked before a run (an unknown provider by
   * `weft validate`, a missing key before `weft run` starts), and a node naming a model that is not the offline
   * one is not reproducible, so its results are cached only with a `seed` or `cache: true`.
   */
  models?: readonly string[]
  // biome-ignore lint/suspicious/noExplicitAny: worker and control nodes take different contexts; defineNode types each
  execute(ctx: any): O | Promise<O>
}

/** What a node type's static `check` may consult. */
export interface CheckEnv {
  /** Where the pipeline's prompt names are looked up. */
  promptDirs: readonly string[]
}
/** A problem found by a node type's `check`, at a path below the node. */
export interface CheckProblem {
  path: Array<string | number>
  code: string
  message: string
  /** When the problem is in another file (a prompt file): where in it; the diagnostic is reported there. */
  at?: { file: string; line: number; col: number; path: string }
}

/** Declares that `field` holds a child node spec whose expressions see `scope` variables (e.g. `item`, `index`). */
export interface ChildTemplate {
  field: string
  scope: Record<string, 'dyn' | 'int' | 'string'>
  /**
   * Fields that may hold a small graph instead of one node: `field` maps step ids to nodes (each seeing the
   * earlier steps as `steps.<id>`), `result` says what one run of the graph gives. Exactly one of the two forms.
   */
  graph?: { field: string; result: string }
}

/** Identity helper that gives `execute` its inferred types. */
export function defineNode<CS extends SchemaLike | undefined = undefined, OS extends SchemaLike | undefined = undefined>(def: {
  type: string
  description?: string
  config?: CS
  output?: OS
  deferred?: readonly string[]
  child?: ChildTemplate
  runs?: 'worker'
  cache?: boolean
  models?: readonly string[]
  check?(fields: Record<string, unknown>, env: CheckEnv): CheckProblem[]
  execute(ctx: NodeContext<InferSchema<CS, Record<string, unknown>>>): InferSchema<OS, unknown> | Promise<InferSchema<OS, unknown>>
}): NodeDefinition
export function defineNode<CS extends SchemaLike | undefined = undefined, OS extends SchemaLike | undefined = undefined>(def: {
  type: string
  description?: string
  config?: CS
  output?: OS
  deferred?: readonly string[]
  child?: ChildTemplate
  runs: 'control'
  check?(fields: Record<string, unknown>, env: CheckEnv): CheckProblem[]
  nodeRefs?: readonly string[]
  execute(ctx: ControlContext<InferSchema<CS, Record<string, unknown>>>): InferSchema<OS, unknown> | Promise<InferSchema<OS, unknown>>
}): NodeDefinition
export function defineNode(def: NodeDefinition): NodeDefinition {
  return def
}

/** Checks that a plugin module's default export looks like a node definition; returns a reason when not. */
export function checkDefinition(def: unknown): string | undefined {
  if (!def || typeof def !== 'object') return 'the default export is not an object'
  const d = def as Record<string, unknown>
  if (typeof d.type !== 'string' || !/^[a-z][a-z0-9_]*$/.test(d.type)) return '`type` must be a snake_case string'
  if (typeof d.execute !== 'function') return '`execute` must be a function'
  for (const k of ['config', 'output'] as const) {
    const s = d[k]
    if (s !== undefined && !(s && typeof s === 'object' && '~standard' in s)) return `\`${k}\` must be a Standard Schema (e.g. a valibot schema) when given`
  }
  if (d.cache !== undefined && typeof d.cache !== 'boolean') return '`cache` must be true or false when given'
  if (d.runs !== undefined && d.runs !== 'worker') return 'plugin node types run on workers (`runs` must be omitted)'
  return undefined
}
