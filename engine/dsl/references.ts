// Checks what expressions refer to (inputs, config, nodes and their output fields) and their static types.
import { Environment } from '@marcbachmann/cel-js'
import { re2Problem } from '../re2-matches.ts'
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
      for (const pattern of expr.patterns) {
        const problem = re2Problem(pattern)
        if (problem)
          r.report(
            'EXPRESSION_REGEX',
            at,
            `the pattern ${JSON.stringify(pattern.slice(0, 200))} is not RE2 syntax (${problem}); expressions match with RE2, which has no backreferences or lookaround`,
            { needle: pattern },
          )
      }
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
  const [first] = path
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
    checkTargetRef(r, at, text, expr, {
      root,
      what: 'step',
      path,
      ids,
      fields: STEP_FIELDS,
      target: first === undefined ? undefined : steps.get(first),
      dynamic: 'so the order is known',
      unknown: (id) => [`UNKNOWN_STEP`, `step "${id}" is not a step of this graph${didYouMean(id, ids)}`],
      ...(self ? { self: self.id, deps: self.deps } : {}),
    })
  } else if (root === 'nodes') {
    checkTargetRef(r, at, text, expr, {
      root,
      what: 'node',
      path,
      ids: ctx.nodeIds,
      fields: NODE_FIELDS,
      target: first === undefined ? undefined : ctx.nodes.get(first),
      dynamic: 'so its dependency is known',
      unknown: (id) => ['UNKNOWN_NODE', `node "${id}" is not defined${didYouMean(id, ctx.nodeIds)}`],
      // a node's own fields may not read its own result (`outputs:` has no owner)
      ...(owner ? { deps: owner.deps, ...(check.path[0] === 'nodes' ? { self: owner.id } : {}) } : {}),
    })
  }
}

/** `nodes.<id>…` or `steps.<id>…`: a literal id that exists and is not the referrer; the reference becomes a dependency. */
function checkTargetRef(
  r: Reporter,
  at: DocPath,
  text: string,
  expr: CompiledExpression,
  o: {
    root: 'nodes' | 'steps'
    what: 'node' | 'step'
    path: string[]
    ids: readonly string[]
    fields: readonly string[]
    target: { type: string; def: { output?: unknown } } | undefined
    dynamic: string
    unknown: (id: string) => [string, string]
    self?: string
    deps?: string[]
  },
): void {
  const [first, second, third] = o.path
  if (first === undefined) {
    r.report('EXPRESSION_DYNAMIC_REF', at, `refer to a ${o.what} by its id (\`${o.root}.<id>\`), not a computed index, ${o.dynamic} in \`${expr.source}\``, { needle: o.root })
    return
  }
  if (!o.ids.includes(first)) {
    const [code, message] = o.unknown(first)
    r.report(code, at, message, { needle: text })
    return
  }
  if (first === o.self) {
    r.report('CYCLE', at, `${o.what} "${first}" refers to its own result`, { needle: text })
    return
  }
  if (o.deps && !o.deps.includes(first)) o.deps.push(first)
  if (second !== undefined && !o.fields.includes(second)) {
    r.report('UNKNOWN_NODE_FIELD', at, `"${o.root}.${first}.${second}" does not exist; a ${o.what} has ${o.fields.join(', ')}`, { needle: text })
    return
  }
  if (second === 'output') checkOutputField(r, o.target, third, at, text)
}

/** `…output.<field>` of a node (or step) whose type declares a closed output schema must name one of its fields. */
function checkOutputField(r: Reporter, target: { type: string; def: { output?: unknown } } | undefined, field: string | undefined, at: DocPath, text: string): void {
  if (field === undefined || !target) return
  const info = objectFields(target.def.output as never)
  if (info && !info.open && !info.fields.has(field)) {
    r.report('UNKNOWN_OUTPUT_FIELD', at, `node type "${target.type}" has no output field "${field}"${didYouMean(field, info.fields.keys())}; it has ${[...info.fields.keys()].join(', ')}`, {
      needle: text,
    })
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
    case 'string':
      return 'string'
    case 'boolean':
      return 'bool'
    case 'list':
      return 'list'
    case 'object':
      return 'map'
    case 'integer':
      return 'int'
    case 'number':
      return 'double'
  }
}
