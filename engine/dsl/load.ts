// Reads a pipeline file and checks all of it before anything runs: every problem is collected, with its position.
import { existsSync } from 'node:fs'
import { readFile } from 'node:fs/promises'
import { decodeUtf8 } from '../utf8.ts'
import path from 'node:path'
import * as v from 'valibot'
import type { Diagnostic } from '../errors.ts'
import { compileTemplate, templateExpressions, type ExpressionProblem, type Template } from '../expressions.ts'
import { loadPlugin, NodeRegistry } from '../registry.ts'
import type { InputSpec, NodeSpec, Pipeline } from './pipeline.ts'
import { parseYamlSource } from './yaml-source.ts'
import { didYouMean, Reporter, type DocPath } from './reporter.ts'
import { compileNode, type PendingCheck } from './nodes.ts'
import { preflight } from '../preflight.ts'
import { checkReferences } from './references.ts'
import { findCycles } from './cycles.ts'
import { reportIssues } from './issues.ts'
import { promptDirsFor } from '../prompts.ts'
import type { ModelCatalog } from '../model-ref.ts'
import { modelCatalogFromEnv } from '../providers.ts'
import { checkPluginFile, pluginDirsFromEnv } from './plugin-file.ts'

export interface LoadOptions {
  /** Registry to start from (default: the built-in node types). Plugins are added to a copy. */
  registry?: NodeRegistry
  /** The file's text, when already read (the path is still used for messages and plugin paths). */
  text?: string
  /** false: a `plugins:` entry is refused (PLUGIN_NOT_ALLOWED) instead of loaded — for pipelines sent by clients. */
  plugins?: boolean
  /** Folders plugins may come from besides the pipeline's own (default: `WEFT_PLUGIN_DIRS`). */
  pluginDirs?: readonly string[]
  /** false: a `prompts:` folder is refused (PROMPTS_NOT_ALLOWED); names resolve from the file's folder upwards. */
  promptsKey?: boolean
  /**
   * The model providers `model:` refs may name (an unknown one is an error; one whose key is not set, a warning).
   * Default: this process's environment. null: refs are not checked.
   */
  models?: ModelCatalog | null
}

export interface LoadResult {
  /** Present only when there are no errors. */
  pipeline?: Pipeline
  diagnostics: Diagnostic[]
  registry: NodeRegistry
}

const TOP_KEYS = ['pipeline', 'version', 'description', 'inputs', 'config', 'plugins', 'prompts', 'concurrency', 'pools', 'nodes', 'outputs'] as const

const NameSchema = v.pipe(v.string(), v.regex(/^[A-Za-z0-9][\w.-]*$/, 'a name of letters, digits, `_`, `-` and `.`'))
const VersionSchema = v.union([v.number(), v.string()])
const PositiveInt = v.pipe(v.number(), v.integer(), v.minValue(1))
const InputSchema = v.strictObject({
  type: v.optional(v.picklist(['string', 'number', 'integer', 'boolean', 'list', 'object']), 'string'),
  required: v.optional(v.boolean(), false),
  default: v.optional(v.unknown()),
  enum: v.optional(v.pipe(v.array(v.unknown()), v.minLength(1))),
  description: v.optional(v.string()),
  /** number, integer: bounds (inclusive). */
  minimum: v.optional(v.number()),
  maximum: v.optional(v.number()),
  /** string: longest accepted length, in characters. */
  max_length: v.optional(v.pipe(v.number(), v.integer(), v.minValue(1))),
})
const IdPattern = /^[A-Za-z_][A-Za-z0-9_]*$/
/** A pool: its cap, or the cap and the queue its tasks go to in a fleet (`weft worker --queues <queue>`). */
const PoolSchema = v.union([
  PositiveInt,
  v.strictObject({
    max: PositiveInt,
    queue: v.optional(
      v.pipe(
        v.string(),
        v.regex(/^[a-z][a-z0-9_-]{0,39}$/, 'a queue name of lower-case letters, digits, _ and -'),
        v.check((q) => q !== 'default', '"default" is the queue of tasks in no routed pool'),
      ),
    ),
  }),
])

/** Loads, validates and compiles a pipeline. Never throws for problems in the file; they are diagnostics. */
export async function loadPipeline(file: string, opts: LoadOptions = {}): Promise<LoadResult> {
  const registry = (opts.registry ?? NodeRegistry.builtin()).clone()
  const display = path.relative(process.cwd(), file) || file
  let text = opts.text
  if (text === undefined) {
    let bytes: Buffer
    try {
      bytes = await readFile(file)
    } catch (err) {
      const e = err as NodeJS.ErrnoException
      const message = e.code === 'ENOENT' ? 'file not found' : `cannot read file: ${e.message}`
      return { diagnostics: [{ code: 'FILE_UNREADABLE', message, file: display, line: 1, col: 1, path: '', severity: 'error' }], registry }
    }
    const decoded = decodeUtf8(bytes)
    if (!decoded.ok)
      return {
        diagnostics: [
          {
            code: 'FILE_ENCODING',
            message: `the file is not UTF-8 text: byte 0x${decoded.byte.toString(16).padStart(2, '0')} cannot start or continue a character here`,
            file: display,
            line: decoded.line,
            col: decoded.col,
            path: '',
            severity: 'error',
            hint: 'save the file as UTF-8 (most editors have it under "encoding")',
          },
        ],
        registry,
      }
    text = decoded.text
  }
  const source = parseYamlSource(text, display)
  const r = new Reporter(source)
  r.diagnostics.push(...source.diagnostics)
  if (source.value === undefined || source.diagnostics.some((d) => d.code === 'YAML_TOO_LARGE' || d.code === 'YAML_TOO_DEEP')) {
    if (source.value == null && source.diagnostics.length === 0) r.report('SCHEMA_INVALID', [], 'the file is empty: expected a mapping with `pipeline:` and `nodes:`')
    return { diagnostics: r.diagnostics, registry }
  }
  const doc = source.value
  if (!isMap(doc)) {
    r.report('SCHEMA_INVALID', [], `expected a mapping with \`pipeline:\` and \`nodes:\`, got ${describe(doc)}`)
    return { diagnostics: r.diagnostics, registry }
  }

  for (const key of Object.keys(doc)) {
    if (!(TOP_KEYS as readonly string[]).includes(key)) r.report('SCHEMA_UNKNOWN_KEY', [key], `unknown key "${key}"${didYouMean(key, TOP_KEYS)}`, { which: 'key' })
  }
  const name = field(r, doc, ['pipeline'], NameSchema, true) ?? 'unnamed'
  const version = field(r, doc, ['version'], VersionSchema, false) ?? 1
  const description = field(r, doc, ['description'], v.string(), false)
  const concurrency = field(r, doc, ['concurrency'], PositiveInt, false)
  const poolSpecs = mapField(r, doc, 'pools', (p, value) => field(r, { x: value }, ['x'], PoolSchema, true, p))
  const pools = Object.fromEntries(Object.entries(poolSpecs).map(([k, s]) => [k, typeof s === 'number' ? s : s.max]))
  const queues = Object.fromEntries(Object.entries(poolSpecs).flatMap(([k, s]) => (typeof s === 'object' && s.queue ? [[k, s.queue]] : [])))
  const inputs = mapField(r, doc, 'inputs', (p, value) => checkInput(r, p, value))
  for (const id of Object.keys(inputs)) if (!IdPattern.test(id)) r.report('INVALID_NAME', ['inputs', id], `input name "${id}" must be an identifier (letters, digits, _)`, { which: 'key' })
  const config = doc.config === undefined ? {} : isMap(doc.config) ? doc.config : (r.report('SCHEMA_INVALID', ['config'], `expected a mapping, got ${describe(doc.config)}`), {})

  // plugins join the registry before nodes are checked
  const plugins: string[] = []
  const pluginList =
    doc.plugins === undefined ? [] : Array.isArray(doc.plugins) ? doc.plugins : (r.report('SCHEMA_INVALID', ['plugins'], `expected a list of file paths, got ${describe(doc.plugins)}`), [])
  const baseDir = path.dirname(path.resolve(file))
  for (const [i, entry] of pluginList.entries()) {
    if (typeof entry !== 'string' || entry === '') {
      r.report('SCHEMA_INVALID', ['plugins', i], `expected a file path, got ${describe(entry)}`)
      continue
    }
    const abs = path.resolve(baseDir, entry)
    if (opts.plugins === false) {
      r.report('PLUGIN_NOT_ALLOWED', ['plugins', i], 'plugins are not loaded from pipelines sent to the server; install the pipeline on the server instead')
      continue
    }
    // a plugin is code, and importing it runs it: only files the operator placed are loaded
    const allowed = checkPluginFile(abs, baseDir, opts.pluginDirs ?? pluginDirsFromEnv())
    if (!allowed.ok) {
      r.report(allowed.code, ['plugins', i], allowed.message)
      continue
    }
    const loaded = await loadPlugin(abs)
    if (!loaded.ok) {
      r.report(loaded.code, ['plugins', i], loaded.message)
      continue
    }
    plugins.push(abs)
    for (const def of loaded.defs) {
      const existing = registry.get(def.type)
      if (existing && existing.module !== loaded.module) {
        r.report('DUPLICATE_NODE_TYPE', ['plugins', i], `node type "${def.type}" is already defined by ${existing.source === 'builtin' ? 'the built-in types' : existing.source}`)
        continue
      }
      registry.types.set(def.type, { def, module: loaded.module, source: entry })
    }
  }

  let promptsDecl = field(r, doc, ['prompts'], v.pipe(v.string(), v.minLength(1)), false)
  if (promptsDecl !== undefined && opts.promptsKey === false) {
    r.report('PROMPTS_NOT_ALLOWED', ['prompts'], "a pipeline sent to the server uses the server's prompts; remove `prompts:`")
    promptsDecl = undefined
  }
  const promptDirs = promptDirsFor(file, promptsDecl)
  if (promptsDecl !== undefined && !existsSync(promptDirs[0]!)) r.report('FILE_UNREADABLE', ['prompts'], `prompt folder ${promptsDecl} does not exist (relative to this file)`)

  const nodes = new Map<string, NodeSpec>()
  const checks: PendingCheck[] = []
  if (doc.nodes === undefined) r.report('SCHEMA_MISSING_KEY', [], 'missing required key "nodes"', { which: 'key' })
  else if (!isMap(doc.nodes)) r.report('SCHEMA_INVALID', ['nodes'], `expected a mapping of node ids to nodes, got ${describe(doc.nodes)}`)
  else if (Object.keys(doc.nodes).length === 0) r.report('SCHEMA_INVALID', ['nodes'], 'a pipeline needs at least one node')
  else {
    const ids = Object.keys(doc.nodes)
    for (const [id, raw] of Object.entries(doc.nodes)) {
      if (!IdPattern.test(id)) r.report('INVALID_NAME', ['nodes', id], `node id "${id}" must be an identifier (letters, digits, _), so expressions can name it`, { which: 'key' })
      const spec = compileNode(r, registry, id, raw, checks, pools, ids, { promptDirs })
      if (spec) nodes.set(id, spec)
    }
  }

  const outputProblems: ExpressionProblem[] = []
  const outputsRaw =
    doc.outputs === undefined ? {} : isMap(doc.outputs) ? doc.outputs : (r.report('SCHEMA_INVALID', ['outputs'], `expected a mapping of output names to values, got ${describe(doc.outputs)}`), {})
  const outputs = compileTemplate(outputsRaw, outputProblems, ['outputs'])
  for (const p of outputProblems) r.report(p.code, p.path, p.message, { offset: { text: p.text, at: p.offset } })
  checks.push({ owner: undefined, template: outputs, path: ['outputs'] })

  const nodeIds = isMap(doc.nodes) ? Object.keys(doc.nodes) : []
  checkReferences(r, { inputs, config, nodes, nodeIds, registry }, checks)
  for (const cycle of findCycles(nodes)) {
    // the ring closes where its first node waits for its last: point at that `needs:` entry or expression
    const closing = closingReference(nodes.get(cycle[0]!)!, cycle.at(-1)!)
    const closes = cycle.length > 1 ? `; it closes where "${cycle[0]}" waits for "${cycle.at(-1)}"` : ''
    if (closing) r.report('CYCLE', ['nodes', cycle[0]!, ...closing], `dependency cycle: ${cyclePath(cycle)}${closes}`)
    else r.report('CYCLE', ['nodes', cycle[0]!], `dependency cycle: ${cyclePath(cycle)}${closes}`, { which: 'key' })
  }
  for (const [id, spec] of nodes) {
    if (!spec.steps) continue
    const field = spec.def.child?.graph?.field ?? 'steps'
    for (const cycle of findCycles(spec.steps.steps)) {
      r.report('CYCLE', ['nodes', id, field, cycle[0]!], `step cycle in "${id}": ${[...cycle, cycle[0]].join(' → ')}`, { which: 'key' })
    }
  }

  // the config's own defaults in the fields computed from them (`threshold: ${{ config.critic.story_threshold }}`)
  if (r.errorCount === 0) {
    const models = opts.models === undefined ? modelCatalogFromEnv() : opts.models
    for (const p of preflight({ nodes }, {}, config, { withInputs: false, modelKeys: false, ...(models ? { models } : {}) })) {
      r.report(p.code ?? 'CONFIG_INVALID', p.at, p.message, p.warning ? { severity: 'warning' } : {})
    }
  }

  // in file order, as an author reads them
  const diagnostics = r.diagnostics.sort((a, b) => a.line - b.line || a.col - b.col)
  if (r.errorCount > 0) return { diagnostics, registry }
  const pipeline: Pipeline = { file: path.resolve(file), name, version, inputs, config, pools, plugins, promptDirs, nodes, outputs }
  if (Object.keys(queues).length) pipeline.queues = queues
  if (description !== undefined) pipeline.description = description
  if (concurrency !== undefined) pipeline.concurrency = concurrency
  return { pipeline, diagnostics, registry }
}

export function isMap(x: unknown): x is Record<string, unknown> {
  return !!x && typeof x === 'object' && !Array.isArray(x)
}

export function describe(x: unknown): string {
  if (x === null || x === undefined) return 'nothing'
  if (Array.isArray(x)) return 'a list'
  if (typeof x === 'object') return 'a mapping'
  if (typeof x === 'string') return JSON.stringify(x.length > 40 ? x.slice(0, 40) + '…' : x)
  return `${typeof x} ${String(x)}`
}

/** Validates one value with a valibot schema, reporting each issue at its own path. */
function field<S extends v.GenericSchema>(r: Reporter, parent: Record<string, unknown>, p: DocPath, schema: S, required: boolean, reportPath?: DocPath): v.InferOutput<S> | undefined {
  const key = p[p.length - 1] as string
  const at = reportPath ?? p
  const value = parent[key]
  if (value === undefined) {
    if (required) r.report('SCHEMA_MISSING_KEY', at.slice(0, -1), `missing required key "${key}"`, { which: 'key' })
    return undefined
  }
  const res = v.safeParse(schema, value)
  if (res.success) return res.output
  reportIssues(r, at, res.issues)
  return undefined
}

function mapField<T>(r: Reporter, doc: Record<string, unknown>, key: string, each: (p: DocPath, value: unknown) => T | undefined): Record<string, T> {
  const value = doc[key]
  const out: Record<string, T> = {}
  if (value === undefined) return out
  if (!isMap(value)) {
    r.report('SCHEMA_INVALID', [key], `expected a mapping, got ${describe(value)}`)
    return out
  }
  for (const [k, item] of Object.entries(value)) {
    const checked = each([key, k], item)
    if (checked !== undefined) out[k] = checked
  }
  return out
}

function checkInput(r: Reporter, p: DocPath, raw: unknown): InputSpec | undefined {
  const res = v.safeParse(InputSchema, raw)
  if (!res.success) {
    reportIssues(r, p, res.issues, Object.keys(InputSchema.entries))
    return undefined
  }
  const spec: InputSpec = { type: res.output.type, required: res.output.required }
  if (res.output.description !== undefined) spec.description = res.output.description
  if (res.output.enum !== undefined) spec.enum = res.output.enum
  for (const k of ['minimum', 'maximum', 'max_length'] as const) if (res.output[k] !== undefined) spec[k] = res.output[k]
  if (res.output.default !== undefined) {
    const why = checkInputValue(spec, res.output.default)
    if (why) r.report('SCHEMA_INVALID', [...p, 'default'], `default ${why}`)
    else spec.default = res.output.default
  }
  return spec
}

/** Returns why `value` does not fit the input's declared type and enum, or undefined when it does. */
export function checkInputValue(spec: InputSpec, value: unknown): string | undefined {
  const ok =
    spec.type === 'string'
      ? typeof value === 'string'
      : spec.type === 'number'
        ? typeof value === 'number' && Number.isFinite(value)
        : spec.type === 'integer'
          ? Number.isSafeInteger(value)
          : spec.type === 'boolean'
            ? typeof value === 'boolean'
            : spec.type === 'list'
              ? Array.isArray(value)
              : isMap(value)
  if (!ok) return `expected ${spec.type === 'list' ? 'a list' : spec.type === 'object' ? 'a mapping' : `a ${spec.type}`}, got ${describe(value)}`
  if (spec.enum && !spec.enum.some((e) => JSON.stringify(e) === JSON.stringify(value))) {
    return `must be one of ${spec.enum.map((e) => JSON.stringify(e)).join(', ')}, got ${describe(value)}`
  }
  if (typeof value === 'number') {
    if (spec.minimum !== undefined && value < spec.minimum) return `must be at least ${spec.minimum}, got ${value}`
    if (spec.maximum !== undefined && value > spec.maximum) return `must be at most ${spec.maximum}, got ${value}`
  }
  if (typeof value === 'string' && spec.max_length !== undefined && value.length > spec.max_length) return `must be at most ${spec.max_length} characters, got ${value.length}`
  return undefined
}

/** A cycle as `a → b → c → a`; a long one shows its first and last nodes and how many there are. */
/** Where in `spec` it refers to node `dep`: its `needs:` entry, else `when:` or the first field whose expression reads it. */
function closingReference(spec: NodeSpec, dep: string): Array<string | number> | undefined {
  const i = spec.needs.indexOf(dep)
  if (i >= 0) return ['needs', i]
  const readsDep = (t: Template) => templateExpressions(t).find((e) => e.expr.references.some((ref) => ref.root === 'nodes' && ref.path[0] === dep))
  if (spec.when && readsDep(spec.when)) return ['when']
  const field = readsDep(spec.template)
  return field?.path.length ? field.path : undefined
}

function cyclePath(cycle: string[]): string {
  const ring = [...cycle, cycle[0]!]
  if (ring.length <= 12) return ring.join(' → ')
  return `${ring.slice(0, 8).join(' → ')} → … → ${ring.slice(-3).join(' → ')} (${cycle.length} nodes)`
}
