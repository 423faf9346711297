// Checks a run's values before anything runs: every node field computed from `inputs` and `config` alone is
// evaluated with the run's values and checked against its node type's schema, and so is a `timeout:` written as
// such an expression. `--set critic.story_threshold=500` or `parallel.max_concurrent=0` is then refused with a
// diagnostic naming the node, the field and the expression, instead of failing after paid stages have run.
import path from 'node:path'
import * as v from 'valibot'
import type { Diagnostic } from './errors.ts'
import type { ChildNodeSpec, NodeSpec, Pipeline } from './dsl/pipeline.ts'
import { issuePath, issueSentence } from './dsl/issues.ts'
import { objectFields } from './dsl/schema-info.ts'
import { parseDuration } from './duration.ts'
import { renderTemplate, templateExpressions, toCel, type Template } from './expressions.ts'
import { modelRefProblem, type ModelCatalog } from './model-ref.ts'

/** Roots a field may read and still be known before the run starts. */
const KNOWN_BEFORE = new Set(['inputs', 'config'])

export interface PreflightOptions {
  /**
   * Check fields that read `inputs` too, and report a field that cannot be computed. False for `weft validate`,
   * which has no run inputs, and whose config defaults may leave keys to `--set` (an empty mapping takes any key).
   * Default true.
   */
  withInputs?: boolean
  /** The providers `model:` refs may name here: an unknown one is a problem (MODEL_REF_INVALID). Unset: refs are not checked. */
  models?: ModelCatalog
  /** Whether a ref whose provider's key is not set is a problem (default true; `weft validate` warns instead). */
  modelKeys?: boolean
}

/** A problem of the run's values, at the field of the pipeline document it is in (`['nodes', 'story', 'threshold']`). */
export interface PreflightProblem {
  at: Array<string | number>
  message: string
  /** Default CONFIG_INVALID. */
  code?: string
  /** A problem that does not stop `weft validate` (a key this machine lacks may be set where the pipeline runs). */
  warning?: boolean
}

/** Problems of the run's values as diagnostics (CONFIG_INVALID), for `weft run` and `POST /generate`. */
export function preflightDiagnostics(pipeline: Pipeline, inputs: Record<string, unknown>, config: Record<string, unknown>, models?: ModelCatalog): Diagnostic[] {
  const file = path.relative(process.cwd(), pipeline.file) || pipeline.file
  return preflight(pipeline, inputs, config, models ? { models } : {}).map((p) => ({
    code: p.code ?? 'CONFIG_INVALID',
    message: p.message,
    file,
    line: 0,
    col: 0,
    path: p.at.join('.'),
    severity: 'error',
  }))
}

/** Problems of the run's values, one per field (none when every field computed from them fits its schema). */
export function preflight(pipeline: Pick<Pipeline, 'nodes'>, inputs: Record<string, unknown>, config: Record<string, unknown>, opts: PreflightOptions = {}): PreflightProblem[] {
  const roots = opts.withInputs === false ? new Set(['config']) : KNOWN_BEFORE
  const scope = { inputs: toCel(inputs), config: toCel(config) }
  const out: PreflightProblem[] = []
  const problem = (at: Array<string | number>, message: string): void => void out.push({ at, message })
  const keys = opts.modelKeys !== false

  /** A field's value from the run's values alone, with where it comes from; undefined when it is not known before running. */
  const computed = (owner: string, name: string, at: Array<string | number>, t: Template): { value: unknown; source: string } | undefined => {
    const source = knownSource(t, roots)
    if (source === undefined) return undefined
    try {
      return { value: renderTemplate(t, scope), source }
    } catch (err) {
      if (opts.withInputs !== false) problem(at, `node "${owner}": ${name} (${source}) cannot be computed: ${(err as Error).message}`)
      return undefined
    }
  }

  const fields = (owner: string, spec: NodeSpec | ChildNodeSpec, at: Array<string | number>, skip: readonly string[]) => {
    // a node without expressions is one literal value
    if (spec.template.kind === 'literal' && opts.models && spec.template.value && typeof spec.template.value === 'object') {
      const value = spec.template.value as Record<string, unknown>
      for (const name of spec.def.models ?? []) if (name in value) modelRef(owner, [...at, name], { kind: 'literal', value: value[name] })
    }
    if (spec.template.kind !== 'object') return
    const schemas = objectFields(spec.def.config)
    for (const [name, t] of spec.template.entries) {
      if (skip.includes(name) || (spec.def.deferred ?? []).includes(name)) continue
      if (opts.models && spec.def.models?.includes(name)) modelRef(owner, [...at, name], t)
      const got = computed(owner, name, [...at, name], t)
      const schema = schemas?.fields.get(name)?.schema
      if (!got || !schema) continue
      const res = v.safeParse(schema, got.value)
      if (res.success) continue
      for (const issue of res.issues) {
        const inner = issuePath(issue)
        problem([...at, name, ...inner], `node "${owner}": ${issueSentence(issue, [name, ...inner].join('.'))} (${got.source})`)
      }
    }
  }

  /** A model ref written as such, or computed from the run's values, must name a provider this machine has. */
  const modelRef = (owner: string, at: Array<string | number>, t: Template): void => {
    const got = t.kind === 'literal' ? { value: t.value, source: 'as written' } : computed(owner, at.at(-1) as string, at, t)
    if (!got || typeof got.value !== 'string') return
    const why = modelRefProblem(got.value, opts.models!)
    if (why) {
      const warning = !keys && modelRefProblem(got.value, opts.models!, { keys: false }) === undefined
      out.push({ at, message: `node "${owner}": ${why}${got.source === 'as written' ? '' : ` (${got.source})`}`, code: 'MODEL_REF_INVALID', ...(warning ? { warning } : {}) })
    }
  }

  for (const spec of pipeline.nodes.values()) {
    const at = ['nodes', spec.id]
    // a node this run skips (`when:` false from its values alone) gets no values to check
    if (spec.when && knownSource(spec.when, roots) !== undefined) {
      try {
        if (renderTemplate(spec.when, scope) === false) continue
      } catch {
        // its `when` fails at run time, where it is reported
      }
    }
    fields(spec.id, spec, at, spec.def.child ? [spec.def.child.field] : [])
    if (spec.child) fields(spec.id, spec.child, [...at, spec.def.child?.field ?? 'node'], [])
    const timeout = spec.timeout && computed(spec.id, 'timeout', [...at, 'timeout'], spec.timeout)
    if (timeout && parseDuration(timeout.value) === undefined)
      problem([...at, 'timeout'], `node "${spec.id}": timeout is ${show(timeout.value)} (${timeout.source}); expected a duration such as 90s, 5m or 1h30m`)
  }
  return out
}

/**
 * The expressions of a field as text (`from config.critic.story_threshold`) when each reads only `roots`, or
 * undefined when the field has no expression or reads something known only while running (`nodes`, `item`).
 */
function knownSource(t: Template, roots: ReadonlySet<string>): string | undefined {
  const exprs = templateExpressions(t)
  if (exprs.length === 0) return undefined
  if (!exprs.every((e) => e.expr.references.length > 0 && e.expr.references.every((r) => roots.has(r.root)))) return undefined
  const refs = [...new Set(exprs.flatMap((e) => e.expr.references.map((r) => [r.root, ...r.path].join('.'))))]
  return `from ${refs.join(', ')}`
}

function show(value: unknown): string {
  const text = JSON.stringify(value) ?? String(value)
  return text.length > 60 ? `${text.slice(0, 57)}…` : text
}
