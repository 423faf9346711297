// Checks and compiles one node of a pipeline: common fields, its type's own fields, and a control node's child.
import * as v from 'valibot'
import { MAX_DURATION_MS, parseDuration } from '../duration.ts'
import { compileTemplate, containsExpression, findExpressions, type ExpressionProblem, type Template } from '../expressions.ts'
import type { CheckEnv, CheckProblem, NodeDefinition } from '../node-def.ts'
import type { NodeRegistry } from '../registry.ts'
import { defaultRetry, type ChildGraphSpec, type ChildNodeSpec, type ChildStepSpec, type NodeSpec, type RetrySpec, type Trigger } from './pipeline.ts'
import { didYouMean, pathString, type DocPath, type Reporter } from './reporter.ts'
import { objectFields, schemaKind, type Kind } from './schema-info.ts'
import { describe, isMap } from './load.ts'
import { reportIssues } from './issues.ts'

/** An expression-bearing template whose references and types are checked once all nodes are known. */
export interface PendingCheck {
  /** The node the template belongs to (undefined for `outputs`). */
  owner: string | undefined
  template: Template
  path: DocPath
  /** Extra variables in scope (a fan-out child's `item`, `index`). */
  scope?: Record<string, string>
  /** Kinds expected where a field is exactly one expression, keyed by the field's path string. */
  expect?: Map<string, Kind>
  /** Inside a child graph (`fan_out.steps`): its steps, and the step this template belongs to (none for `result`). */
  graph?: { steps: ChildGraphSpec['steps']; ids: readonly string[]; self?: ChildStepSpec }
}

/** Fields every node may have, whatever its type. */
const COMMON_KEYS = ['type', 'needs', 'when', 'timeout', 'retry', 'cache', 'continue_on_error', 'trigger', 'pool', 'stage', 'description'] as const
const CHILD_KEYS = ['type', 'timeout', 'retry', 'cache', 'description'] as const

const RetrySchema = v.strictObject({
  attempts: v.pipe(v.number(), v.integer(), v.minValue(1), v.maxValue(100)),
  backoff: v.optional(v.union([v.number(), v.string()])),
  factor: v.optional(v.pipe(v.number(), v.minValue(1))),
  max_backoff: v.optional(v.union([v.number(), v.string()])),
  jitter: v.optional(v.boolean()),
})
const TriggerSchema = v.picklist(['all_succeeded', 'none_failed', 'all_done'])

/** Checks one node; returns its compiled spec, or undefined when it is too broken to compile. */
export function compileNode(
  r: Reporter,
  registry: NodeRegistry,
  id: string,
  raw: unknown,
  checks: PendingCheck[],
  pools: Record<string, number>,
  nodeIds: readonly string[],
  env: CheckEnv,
): NodeSpec | undefined {
  const at: DocPath = ['nodes', id]
  if (!isMap(raw)) {
    r.report('SCHEMA_INVALID', at, `expected a mapping with at least \`type:\`, got ${describe(raw)}`)
    return undefined
  }
  const typed = resolveType(r, registry, at, raw)
  if (!typed) return undefined
  const { def, module } = typed

  const needs = checkNeeds(r, at, raw.needs, nodeIds)
  let timeout: Template | undefined
  let timeoutMs: number | undefined
  if (typeof raw.timeout === 'string' && isExactExpression(raw.timeout)) {
    timeout = compileChecked(r, raw.timeout, [...at, 'timeout'])
    checks.push({ owner: id, template: timeout, path: [...at, 'timeout'] })
  } else timeoutMs = durationField(r, [...at, 'timeout'], raw.timeout)
  const retry = retryField(r, [...at, 'retry'], raw.retry)
  if (def.runs === 'control' && raw.retry !== undefined) {
    r.report('SCHEMA_INVALID', [...at, 'retry'], `"${def.type}" nodes are not retried as a whole; put \`retry\` on the work inside them${def.child ? ` (\`${def.child.field}.retry\`)` : ''}`)
  }
  const cache = simple(r, [...at, 'cache'], raw.cache, v.boolean())
  if (def.runs === 'control' && raw.cache !== undefined) {
    r.report(
      'SCHEMA_INVALID',
      [...at, 'cache'],
      def.type === 'approval'
        ? 'an approval gate is never cached: a decision is made each time'
        : `"${def.type}" nodes are not cached as a whole; put \`cache\` on the work inside them${def.child ? ` (\`${def.child.field}.cache\`)` : ''}`,
    )
  }
  const continueOnError = simple(r, [...at, 'continue_on_error'], raw.continue_on_error, v.boolean()) ?? false
  const trigger: Trigger = simple(r, [...at, 'trigger'], raw.trigger, TriggerSchema) ?? 'all_succeeded'
  const pool = simple(r, [...at, 'pool'], raw.pool, v.string())
  if (pool !== undefined && !Object.hasOwn(pools, pool)) r.report('UNKNOWN_POOL', [...at, 'pool'], `pool "${pool}" is not declared under \`pools:\`${didYouMean(pool, Object.keys(pools))}`)
  const stage = simple(r, [...at, 'stage'], raw.stage, v.string())
  const description = simple(r, [...at, 'description'], raw.description, v.string())

  let when: Template | undefined
  if (raw.when !== undefined) {
    if (typeof raw.when === 'boolean') when = { kind: 'literal', value: raw.when }
    else if (typeof raw.when === 'string' && findExpressions(raw.when).length === 1 && raw.when.trim().startsWith('${{') && raw.when.trim().endsWith('}}')) {
      when = compileChecked(r, raw.when, [...at, 'when'])
      checks.push({ owner: id, template: when, path: [...at, 'when'], expect: new Map([[key([...at, 'when']), 'boolean']]) })
    } else r.report('SCHEMA_INVALID', [...at, 'when'], 'expected a boolean or a single `${{ expression }}`')
  }

  const fields = typeFields(raw, COMMON_KEYS)
  const expect = checkTypeFields(r, def, at, fields, COMMON_KEYS)
  typeChecks(r, def, at, fields, env)
  const graph = def.child?.graph
  const deferred = new Set([...(def.deferred ?? []), ...(def.child ? [def.child.field] : []), ...(graph ? [graph.field, graph.result] : [])])
  // deferred fields stay literal: the node resolves them itself (per fan-out item, say)
  const entries = Object.entries(fields).map(([k, val]): [string, Template] => [k, deferred.has(k) ? { kind: 'literal', value: val } : compileChecked(r, val, [...at, k])])
  const template: Template = entries.every(([, t]) => t.kind === 'literal') ? { kind: 'literal', value: fields } : { kind: 'object', entries }
  checks.push({ owner: id, template: { kind: 'object', entries: entries.filter(([k]) => !deferred.has(k)) }, path: at, expect })

  const spec: NodeSpec = { id, type: def.type, def, module, deps: [...new Set([...needs, ...nodeRefs(r, def, at, fields, nodeIds, id)])], needs, retry, continueOnError, trigger, template }
  if (when) spec.when = when
  if (cache !== undefined && def.runs !== 'control') spec.cache = cache
  if (timeoutMs !== undefined) spec.timeoutMs = timeoutMs
  if (timeout) spec.timeout = timeout
  if (pool !== undefined) spec.pool = pool
  if (stage !== undefined) spec.stage = stage
  if (description !== undefined) spec.description = description

  if (def.child) {
    const hasNode = fields[def.child.field] !== undefined
    const hasSteps = graph !== undefined && fields[graph.field] !== undefined
    if (graph && hasNode && hasSteps)
      r.report('SCHEMA_INVALID', [...at, graph.field], `give either \`${def.child.field}\` (one node per item) or \`${graph.field}\` (several), not both`, { which: 'key' })
    else if (graph && !hasNode && !hasSteps) r.report('SCHEMA_MISSING_KEY', at, `missing required key "${def.child.field}" (or "${graph.field}" for several steps per item)`, { which: 'key' })
    if (graph && !hasSteps && fields[graph.result] !== undefined)
      r.report('SCHEMA_INVALID', [...at, graph.result], `\`${graph.result}\` goes with \`${graph.field}\`; a single \`${def.child.field}\` gives its own output`, { which: 'key' })
    if (hasNode && !hasSteps) {
      const child = compileChild(r, registry, [...at, def.child.field], fields[def.child.field], checks, id, def.child.scope, env)
      if (child) spec.child = child
    } else if (graph && hasSteps && !hasNode) {
      const steps = compileSteps(r, registry, at, graph, fields, checks, id, def.child.scope, env)
      if (steps) spec.steps = steps
    }
  }
  return spec
}

const StepIdPattern = /^[A-Za-z_][A-Za-z0-9_]*$/

/** A small graph per item (`fan_out.steps`): worker nodes that may need each other, and an optional `result`. */
function compileSteps(
  r: Reporter,
  registry: NodeRegistry,
  at: DocPath,
  graph: { field: string; result: string },
  fields: Record<string, unknown>,
  checks: PendingCheck[],
  owner: string,
  scope: Record<string, string>,
  env: CheckEnv,
): ChildGraphSpec | undefined {
  const where = [...at, graph.field]
  const raw = fields[graph.field]
  if (!isMap(raw) || Object.keys(raw).length === 0) {
    r.report('SCHEMA_INVALID', where, `expected a mapping of step ids to nodes (at least one), got ${describe(raw)}`)
    return undefined
  }
  const ids = Object.keys(raw)
  const steps: ChildGraphSpec['steps'] = new Map()
  const inGraph = { ...scope, steps: 'dyn' }
  for (const [id, rawStep] of Object.entries(raw)) {
    const stepAt = [...where, id]
    if (!StepIdPattern.test(id)) r.report('INVALID_NAME', stepAt, `step id "${id}" must be an identifier (letters, digits, _), so expressions can name it`, { which: 'key' })
    const pending: PendingCheck[] = []
    const child = compileChild(r, registry, stepAt, rawStep, pending, owner, inGraph, env, true)
    if (!child || !isMap(rawStep)) continue
    const step: ChildStepSpec = { ...child, id, deps: checkNeeds(r, stepAt, rawStep.needs, ids, id) }
    // a gate step names the step it reviews: it must be a worker step of this graph, and the gate waits for it
    for (const k of child.def.runs === 'control' ? (child.def.nodeRefs ?? []) : []) {
      const ref = rawStep[k]
      if (typeof ref !== 'string') continue
      if (ref === id) r.report('CYCLE', [...stepAt, k], `step "${id}" cannot review itself`)
      else if (!ids.includes(ref)) r.report('UNKNOWN_STEP', [...stepAt, k], `step "${ref}" is not a step of this graph${didYouMean(ref, ids)}`)
      else if (isMap(raw[ref]) && registry.get(String((raw[ref] as Record<string, unknown>).type))?.def.runs === 'control')
        r.report('SCHEMA_INVALID', [...stepAt, k], `step "${ref}" is not a worker step; a gate reviews a worker step's output`)
      else if (!step.deps.includes(ref)) step.deps.push(ref)
    }
    if (rawStep.when !== undefined) {
      if (typeof rawStep.when === 'boolean') step.when = { kind: 'literal', value: rawStep.when }
      else if (typeof rawStep.when === 'string' && isExactExpression(rawStep.when)) {
        step.when = compileChecked(r, rawStep.when, [...stepAt, 'when'])
        pending.push({ owner, template: step.when, path: [...stepAt, 'when'], scope: inGraph, expect: new Map([[key([...stepAt, 'when']), 'boolean']]) })
      } else r.report('SCHEMA_INVALID', [...stepAt, 'when'], 'expected a boolean or a single `${{ expression }}`')
    }
    for (const c of pending) checks.push({ ...c, graph: { steps, ids, self: step } })
    steps.set(id, step)
  }
  const out: ChildGraphSpec = { steps }
  if (fields[graph.result] !== undefined) {
    out.result = compileChecked(r, fields[graph.result], [...at, graph.result])
    checks.push({ owner, template: out.result, path: [...at, graph.result], scope: inGraph, graph: { steps, ids } })
  }
  return out
}

function compileChild(
  r: Reporter,
  registry: NodeRegistry,
  at: DocPath,
  raw: unknown,
  checks: PendingCheck[],
  owner: string,
  scope: Record<string, string>,
  env: CheckEnv,
  step = false,
): ChildNodeSpec | undefined {
  if (!isMap(raw)) {
    r.report('SCHEMA_INVALID', at, `expected a node (a mapping with \`type:\`), got ${describe(raw)}`)
    return undefined
  }
  const typed = resolveType(r, registry, at, raw)
  if (!typed) return undefined
  // an approval gate may be a step of a fan-out's graph (a gate per item); no other control node runs inside one
  const itemGate = step && typed.def.runs === 'control' && typed.def.nodeRefs !== undefined && typed.def.child === undefined
  if (typed.def.runs === 'control' && !itemGate) {
    r.report(
      'SCHEMA_INVALID',
      [...at, 'type'],
      step
        ? `"${typed.def.type}" cannot be a step; use a worker node type here (an \`approval\` step may gate another step)`
        : `"${typed.def.type}" cannot run inside another node; use a worker node type here (an approval gate per item goes in \`steps:\`)`,
    )
    return undefined
  }
  if (itemGate)
    for (const k of ['retry', 'timeout', 'cache'] as const) {
      if (raw[k] !== undefined) r.report('SCHEMA_INVALID', [...at, k], `an \`${typed.def.type}\` step takes no \`${k}\`: it waits for a decision, it does no work`)
    }
  const timeoutMs = durationField(r, [...at, 'timeout'], raw.timeout)
  const retry = retryField(r, [...at, 'retry'], raw.retry)
  for (const k of ['needs', 'when', 'continue_on_error', 'trigger', 'pool', 'stage']) {
    if (step && (k === 'needs' || k === 'when')) continue
    if (raw[k] !== undefined) r.report('SCHEMA_UNKNOWN_KEY', [...at, k], `"${k}" is not allowed on a ${step ? 'step' : 'child node'}; put it on the enclosing node`, { which: 'key' })
  }
  const fields = typeFields(raw, [...CHILD_KEYS, 'needs', 'when', 'continue_on_error', 'trigger', 'pool', 'stage'])
  const expect = checkTypeFields(r, typed.def, at, fields, CHILD_KEYS)
  typeChecks(r, typed.def, at, fields, env)
  const template = compileChecked(r, fields, at)
  checks.push({ owner, template, path: at, scope, expect })
  const child: ChildNodeSpec = { type: typed.def.type, def: typed.def, module: typed.module, template, retry }
  const cache = simple(r, [...at, 'cache'], raw.cache, v.boolean())
  if (cache !== undefined) child.cache = cache
  if (timeoutMs !== undefined) child.timeoutMs = timeoutMs
  return child
}

/** Fields of a node type that name another node (an approval's `gate`): each must exist; each is a dependency. */
function nodeRefs(r: Reporter, def: NodeDefinition, at: DocPath, fields: Record<string, unknown>, nodeIds: readonly string[], self: string): string[] {
  const out: string[] = []
  for (const k of def.nodeRefs ?? []) {
    const ref = fields[k]
    if (typeof ref !== 'string') continue
    if (ref === self) r.report('CYCLE', [...at, k], `node "${self}" cannot refer to itself in \`${k}\``)
    else if (!nodeIds.includes(ref)) r.report('UNKNOWN_NODE', [...at, k], `node "${ref}" is not defined${didYouMean(ref, nodeIds)}`)
    else out.push(ref)
  }
  return out
}

/** A node type's own static checks (an agent's prompt exists and gets its variables), reported in place. */
function typeChecks(r: Reporter, def: NodeDefinition, at: DocPath, fields: Record<string, unknown>, env: CheckEnv): void {
  if (!def.check) return
  let problems: CheckProblem[]
  try {
    problems = def.check(fields, env)
  } catch (err) {
    problems = [{ path: [], code: 'NODE_CHECK_FAILED', message: `the checks of node type "${def.type}" failed: ${(err as Error).message}` }]
  }
  for (const p of problems) {
    if (p.at) r.reportElsewhere(p.code, p.at, `${p.message.replace(/^prompt file \S+?:\d+:\d+: /, '')} (used by ${pathString([...at, ...p.path])})`)
    else r.report(p.code, [...at, ...p.path], p.message)
  }
}

function resolveType(r: Reporter, registry: NodeRegistry, at: DocPath, raw: Record<string, unknown>): { def: NodeDefinition; module: string } | undefined {
  if (raw.type === undefined) {
    r.report('SCHEMA_MISSING_KEY', at, 'missing required key "type"', { which: 'key' })
    return undefined
  }
  if (typeof raw.type !== 'string') {
    r.report('SCHEMA_INVALID', [...at, 'type'], `expected a node type name, got ${describe(raw.type)}`)
    return undefined
  }
  const found = registry.get(raw.type)
  if (!found) {
    const known = [...registry.types.keys()]
    r.report('UNKNOWN_NODE_TYPE', [...at, 'type'], `unknown node type "${raw.type}"${didYouMean(raw.type, known)}; known types: ${known.join(', ')} (add others with \`plugins:\`)`)
    return undefined
  }
  return found
}

function typeFields(raw: Record<string, unknown>, common: readonly string[]): Record<string, unknown> {
  const out: Record<string, unknown> = {}
  for (const [k, val] of Object.entries(raw)) if (!common.includes(k)) out[k] = val
  return out
}

/**
 * Checks a node's type-specific fields against its config schema where it can: literal values are
 * validated now; a field that is exactly one expression is type-checked later (returned as expectations).
 */
function checkTypeFields(r: Reporter, def: NodeDefinition, at: DocPath, fields: Record<string, unknown>, common: readonly string[]): Map<string, Kind> {
  const expect = new Map<string, Kind>()
  const info = objectFields(def.config)
  if (!info) {
    if (def.config && !containsExpression(fields)) {
      // a non-valibot schema: validate the whole literal config when it has no expressions
      const res = def.config['~standard'].validate(fields)
      if (!(res instanceof Promise) && res.issues) {
        for (const issue of res.issues) {
          const p = (issue.path ?? []).map((seg) => (typeof seg === 'object' ? seg.key : seg)).map((k) => (typeof k === 'number' ? k : String(k)))
          r.report('SCHEMA_INVALID', [...at, ...p], issue.message)
        }
      }
    }
    return expect
  }
  const childField = def.child?.field
  for (const [k, val] of Object.entries(fields)) {
    const f = info.fields.get(k)
    if (!f) {
      if (!info.open) r.report('SCHEMA_UNKNOWN_KEY', [...at, k], `unknown key "${k}" for node type "${def.type}"${didYouMean(k, [...info.fields.keys(), ...common])}`, { which: 'key' })
      continue
    }
    if (k === childField || (def.deferred ?? []).includes(k)) continue
    const exact = typeof val === 'string' && isExactExpression(val)
    if (exact) {
      expect.set(key([...at, k]), schemaKind(f.schema))
      continue
    }
    if (typeof val === 'string' && val.includes('${{')) {
      const want = schemaKind(f.schema)
      if (want !== 'string' && want !== 'unknown') r.report('EXPRESSION_TYPE', [...at, k], `expected ${want} but text with \`\${{ }}\` always gives a string; make the field exactly one expression`)
      continue
    }
    if (containsExpression(val)) continue
    const res = v.safeParse(f.schema, val)
    if (!res.success) reportIssues(r, [...at, k], res.issues)
  }
  for (const [k, f] of info.fields) {
    if (!f.optional && fields[k] === undefined) r.report('SCHEMA_MISSING_KEY', at, `missing required key "${k}" for node type "${def.type}"`, { which: 'key' })
  }
  return expect
}

function isExactExpression(s: string): boolean {
  const t = s.trim()
  const spans = findExpressions(t)
  return spans.length === 1 && spans[0]!.start === 0 && spans[0]!.end === t.length
}

/** Dotted path key used to match expectations to expression paths. */
export function key(p: DocPath): string {
  return p.map(String).join('\u0000')
}

function compileChecked(r: Reporter, value: unknown, at: DocPath): Template {
  const problems: ExpressionProblem[] = []
  const t = compileTemplate(value, problems, [...at])
  for (const p of problems) r.report(p.code, p.path, p.message, { offset: { text: p.text, at: p.offset } })
  return t
}

/** A node's `needs` (node ids), or with `step` a step's (ids of its graph's steps, which may not name itself). */
function checkNeeds(r: Reporter, at: DocPath, raw: unknown, ids: readonly string[], step?: string): string[] {
  if (raw === undefined) return []
  const what = step === undefined ? 'node' : 'step'
  const list = typeof raw === 'string' ? [raw] : raw
  if (!Array.isArray(list)) {
    r.report('SCHEMA_INVALID', [...at, 'needs'], `expected a ${what} id or a list of ${what} ids, got ${describe(raw)}`)
    return []
  }
  const out: string[] = []
  list.forEach((item, i) => {
    const where = typeof raw === 'string' ? [...at, 'needs'] : [...at, 'needs', i]
    if (typeof item !== 'string') r.report('SCHEMA_INVALID', where, `expected a ${what} id, got ${describe(item)}`)
    else if (step !== undefined && item === step) r.report('CYCLE', where, `step "${step}" cannot need itself`)
    else if (!ids.includes(item)) {
      if (step === undefined) r.report('UNKNOWN_NODE', where, `node "${at[1]}" needs "${item}", which is not defined${didYouMean(item, ids)}`)
      else r.report('UNKNOWN_STEP', where, `step "${step}" needs "${item}", which is not a step of this graph${didYouMean(item, ids)}`)
    } else if (!out.includes(item)) out.push(item)
  })
  return out
}

function durationField(r: Reporter, at: DocPath, raw: unknown, opts: { allowZero?: boolean } = {}): number | undefined {
  if (raw === undefined) return undefined
  const ms = parseDuration(raw)
  if (ms === undefined) {
    r.report('INVALID_DURATION', at, `expected a duration such as 500ms, 30s or 2m (or a number of milliseconds), got ${describe(raw)}`)
    return undefined
  }
  if ((ms === 0 && !opts.allowZero) || ms > MAX_DURATION_MS) {
    r.report('INVALID_DURATION', at, ms === 0 ? 'must be more than 0' : `must be at most ${MAX_DURATION_MS} ms (about 24.8 days), got ${describe(raw)}`)
    return undefined
  }
  return ms
}

function retryField(r: Reporter, at: DocPath, raw: unknown): RetrySpec {
  if (raw === undefined) return defaultRetry
  if (typeof raw === 'number') raw = { attempts: raw }
  const res = v.safeParse(RetrySchema, raw)
  if (!res.success) {
    reportIssues(r, at, res.issues, Object.keys(RetrySchema.entries))
    return defaultRetry
  }
  const o = res.output
  const backoffMs = o.backoff === undefined ? defaultRetry.backoffMs : durationField(r, [...at, 'backoff'], o.backoff, { allowZero: true })
  const maxBackoffMs = o.max_backoff === undefined ? defaultRetry.maxBackoffMs : durationField(r, [...at, 'max_backoff'], o.max_backoff, { allowZero: true })
  return {
    attempts: o.attempts,
    backoffMs: backoffMs ?? defaultRetry.backoffMs,
    factor: o.factor ?? defaultRetry.factor,
    maxBackoffMs: maxBackoffMs ?? defaultRetry.maxBackoffMs,
    jitter: o.jitter ?? defaultRetry.jitter,
  }
}

function simple<S extends v.GenericSchema>(r: Reporter, at: DocPath, raw: unknown, schema: S): v.InferOutput<S> | undefined {
  if (raw === undefined) return undefined
  const res = v.safeParse(schema, raw)
  if (res.success) return res.output
  reportIssues(r, at, res.issues)
  return undefined
}
