// Checks what expressions refer to (inputs, config, nodes and their output fields) and their static types.
import { Environment } from '@marcbachmann/cel-js'
import { allowMixedNumbers, templateExpressions, type CompiledExpression } from '../expressions.ts'
import type { NodeRegistry } from '../registry.ts'
import type { InputSpec, NodeSpec } from './pipeline.ts'
import { didYouMean, type DocPath, type Reporter } from './reporter.ts'
import { celKind, celSchema, celSchemaOfValue, objectFields, type Kind } from './schema-info.ts'
import { key, type PendingCheck } from './nodes.ts'

export interface ReferenceContext {
  inputs: Record<string, InputSpec>
  config: Record<string, unknown>
  nodes: Map<string, NodeSpec>
  /** Every node id in the file, including nodes too broken to compile (they exist, so no UNKNOWN_NODE). */
  nodeIds: string[]
  registry: NodeRegistry
}

const ROOTS = ['inputs', 'config', 'nodes', 'run']
const NODE_FIELDS = ['output', 'status', 'error', 'attempts']
const RUN_FIELDS = ['id', 'interactive']
const STEP_FIELDS = ['output', 'status', 'error']

/** Checks every pending template; adds each referenced node to its owner's dependencies. */
export function checkReferences(r: Reporter, ctx: ReferenceContext, checks: PendingCheck[]): void {
  const envs = new Map<string, Environment | undefined>()
  for (const check of checks) {
    const owner = check.owner === undefined ? undefined : ctx.nodes.get(check.owner)
    for (const { expr, path: rel } of templateExpressions(check.template)) {
      const at = [...check.path, ...rel]
      const before = r.errorCount
      for (const ref of expr.references) checkReference(r, ctx, check, owner, at, ref.root, ref.path, expr)
      if (r.errorCount !== before) continue
      // references are sound: now ask the type checker
      // a child graph's steps are typed from their own output schemas: one environment per graph
      const scopeKey = Object.keys(check.scope ?? {}).join(',') + (check.graph ? `/${check.owner}` : '')
      if (!envs.has(scopeKey)) envs.set(scopeKey, typedEnvironment(ctx, check.scope, check.graph?.steps))
      const env = envs.get(scopeKey)
      if (!env) continue
      typeCheck(r, env, expr, at, check.expect?.get(key(at)))
    }
  }
}

function checkReference(r: Reporter, ctx: ReferenceContext, check: PendingCheck, owner: NodeSpec | undefined, at: DocPath, root: string, path: string[], expr: CompiledExpression): void {
  const text = [root, ...path].join('.')
  const extra = Object.keys(check.scope ?? {})
  if (!ROOTS.includes(root) && !extra.includes(root)) {
    const where = extra.length ? `${[...ROOTS, ...extra].join(', ')}` : `${ROOTS.join(', ')} (item and index only inside a fan-out's node or steps, steps only inside its steps)`
    r.report('UNKNOWN_VARIABLE', at, `unknown variable "${root}" in \`${expr.source}\`${didYouMean(root, [...ROOTS, ...extra])}; expressions can use ${where}`, { needle: root })
    return
  }
  const [first, second, third] = path
  if (root === 'inputs' && first !== undefined && !Object.hasOwn(ctx.inputs, first)) {
    r.report('UNKNOWN_INPUT', at, `unknown input "${first}"${didYouMean(first, Object.keys(ctx.inputs))}; declare it under \`inputs:\``, { needle: text })
  } else if (root === 'config' && path.length) {
    let cur: unknown = ctx.config
    for (const [i, seg] of path.entries()) {
      // an empty mapping declared under config is open: `--set` may add any key under it
      if (!cur || typeof cur !== 'object' || Array.isArray(cur) || (i > 0 && Object.keys(cur).length === 0)) break
      if (!Object.hasOwn(cur, seg)) {
        const prefix = ['config', ...path.slice(0, i)].join('.')
        r.report('UNKNOWN_CONFIG', at, `unknown config key "${prefix}.${seg}"${didYouMean(seg, Object.keys(cur as object))}; declare it under \`config:\``, { needle: text })
        break
      }
      cur = (cur as Record<string, unknown>)[seg]
    }
  } else if (root === 'run' && first !== undefined && !RUN_FIELDS.includes(first)) {
    r.report('UNKNOWN_VARIABLE', at, `unknown field "run.${first}"; run has ${RUN_FIELDS.join(', ')}`, { needle: text })
  } else if (root === 'steps' && check.graph) {
    const { ids, steps, self } = check.graph
    if (first === undefined) {
      r.report('EXPRESSION_DYNAMIC_REF', at, `refer to a step by its id (\`steps.<id>\`), not a computed index, so the order is known in \`${expr.source}\``, { needle: 'steps' })
      return
    }
    if (!ids.includes(first)) {
      r.report('UNKNOWN_STEP', at, `step "${first}" is not a step of this graph${didYouMean(first, ids)}`, { needle: text })
      return
    }
    if (self && first === self.id) {
      r.report('CYCLE', at, `step "${first}" refers to its own result`, { needle: text })
      return
    }
    if (self && !self.deps.includes(first)) self.deps.push(first)
    if (second !== undefined && !STEP_FIELDS.includes(second)) {
      r.report('UNKNOWN_NODE_FIELD', at, `"steps.${first}.${second}" does not exist; a step has ${STEP_FIELDS.join(', ')}`, { needle: text })
      return
    }
    if (second === 'output') checkOutputField(r, steps.get(first), third, at, text)
  } else if (root === 'nodes') {
    if (first === undefined) {
      r.report('EXPRESSION_DYNAMIC_REF', at, `refer to a node by its id (\`nodes.<id>\`), not a computed index, so its dependency is known in \`${expr.source}\``, { needle: 'nodes' })
      return
    }
    if (!ctx.nodeIds.includes(first)) {
      r.report('UNKNOWN_NODE', at, `node "${first}" is not defined${didYouMean(first, ctx.nodeIds)}`, { needle: text })
      return
    }
    if (owner && first === owner.id && check.path[0] === 'nodes') {
      r.report('CYCLE', at, `node "${first}" refers to its own result`, { needle: text })
      return
    }
    if (owner && !owner.deps.includes(first)) owner.deps.push(first)
    if (second !== undefined && !NODE_FIELDS.includes(second)) {
      r.report('UNKNOWN_NODE_FIELD', at, `"nodes.${first}.${second}" does not exist; a node has ${NODE_FIELDS.join(', ')}`, { needle: text })
      return
    }
    if (second === 'output') checkOutputField(r, ctx.nodes.get(first), third, at, text)
  }
}

/** `…output.<field>` of a node (or step) whose type declares a closed output schema must name one of its fields. */
function checkOutputField(r: Reporter, target: { type: string; def: { output?: unknown } } | undefined, field: string | undefined, at: DocPath, text: string): void {
  if (field === undefined || !target) return
  const info = objectFields(target.def.output as never)
  if (info && !info.open && !info.fields.has(field)) {
    r.report('UNKNOWN_OUTPUT_FIELD', at, `node type "${target.type}" has no output field "${field}"${didYouMean(field, info.fields.keys())}; it has ${[...info.fields.keys()].join(', ')}`, { needle: text })
  }
}

function typeCheck(r: Reporter, env: Environment, expr: CompiledExpression, at: DocPath, expected: Kind | undefined): void {
  let res: { valid: boolean; type?: string; error?: { summary?: string; message: string } }
  try {
    res = env.check(expr.source) as typeof res
  } catch {
    return // a checker limitation is not the author's problem
  }
  if (!res.valid) {
    r.report('EXPRESSION_TYPE', at, `\`${expr.source}\`: ${res.error?.summary ?? res.error?.message.split('\n')[0]}`, { needle: expr.source })
    return
  }
  if (!expected || expected === 'unknown' || !res.type) return
  const got = celKind(res.type)
  if (got !== 'unknown' && got !== expected) {
    r.report('EXPRESSION_TYPE', at, `expected ${article(expected)} but \`${expr.source}\` is ${article(got)} (${res.type})`, { needle: expr.source })
  }
}

function article(k: Kind): string {
  return k === 'array' ? 'a list' : k === 'object' ? 'a mapping' : `a ${k}`
}

/** A CEL environment typed from the pipeline: inputs, config defaults, node output schemas. */
function typedEnvironment(ctx: ReferenceContext, scope: Record<string, string> | undefined, steps?: ReadonlyMap<string, { def: { output?: unknown } }>): Environment | undefined {
  try {
    const env = allowMixedNumbers(new Environment({ unlistedVariablesAreDyn: false, homogeneousAggregateLiterals: false }))
    env.registerVariable(schemaVar('inputs', Object.fromEntries(Object.entries(ctx.inputs).map(([k, s]) => [k, inputType(s)]))))
    env.registerVariable(schemaVar('config', celSchemaOfValue(ctx.config)))
    const nodes: Record<string, unknown> = {}
    for (const id of ctx.nodeIds) {
      const spec = ctx.nodes.get(id)
      nodes[id] = { output: spec ? celSchema(spec.def.output) : 'dyn', status: 'string', error: 'dyn', attempts: 'dyn' }
    }
    env.registerVariable(schemaVar('nodes', nodes))
    env.registerVariable(schemaVar('run', { id: 'string', interactive: 'bool' }))
    for (const [name, type] of Object.entries(scope ?? {})) {
      if (name === 'steps' && steps) {
        const typed: Record<string, unknown> = {}
        for (const [id, step] of steps) typed[id] = { output: celSchema(step.def.output as never), status: 'string', error: 'dyn' }
        env.registerVariable(schemaVar('steps', typed))
      } else env.registerVariable(name, type)
    }
    return env
  } catch {
    return undefined
  }
}

type VariableDeclaration = Parameters<Environment['registerVariable']>[0]

function schemaVar(name: string, schema: unknown): VariableDeclaration {
  if (schema && typeof schema === 'object' && Object.keys(schema).length > 0) return { name, schema: schema as never }
  return { name, type: typeof schema === 'string' && schema !== 'dyn' ? schema : 'map' }
}

function inputType(s: InputSpec): string {
  if (!s.required && s.default === undefined) return 'dyn'
  switch (s.type) {
    case 'string': return 'string'
    case 'boolean': return 'bool'
    case 'list': return 'list'
    case 'object': return 'map'
    case 'integer': return 'int'
    case 'number': return 'double'
  }
}
