// `${{ … }}` expressions: found in DSL values, parsed and evaluated by a CEL implementation (no JavaScript eval).
import { Environment } from '@marcbachmann/cel-js'
import { WeftError } from './errors.ts'
import { costBound, dataDependent, EXPRESSION_COST_LIMIT, shapeOf, widest } from './expression-cost.ts'
import { re2Matches } from './re2-matches.ts'

/** One `${{ … }}` occurrence inside a string. Offsets are into that string. */
export interface ExpressionSpan {
  /** The CEL source between the braces, untrimmed. */
  source: string
  /** Offset of `${{` in the enclosing string. */
  start: number
  /** Offset just past `}}`. */
  end: number
  /** Offset of `source` in the enclosing string. */
  sourceStart: number
}

/** A reference such as `nodes.story.output.text`: the root variable and the static member chain that follows it. */
interface Reference {
  root: string
  path: string[]
  /** Offsets of the whole chain inside the expression source. */
  start: number
  end: number
}

/** A parsed expression, ready to evaluate. */
export interface CompiledExpression {
  source: string
  references: Reference[]
  /** The patterns of its `.matches('…')` calls that are written as literals. */
  patterns: string[]
  evaluate(scope: Record<string, unknown>): unknown
}

/**
 * A DSL value with its expressions parsed: strings that are exactly one expression keep the value's
 * type, strings with expressions among text interpolate, arrays and maps are walked.
 */
export type Template =
  | { kind: 'literal'; value: unknown }
  | { kind: 'expr'; expr: CompiledExpression }
  | { kind: 'interp'; parts: Array<string | CompiledExpression> }
  | { kind: 'array'; items: Template[] }
  | { kind: 'object'; entries: Array<[string, Template]> }

/** Problem found while compiling: offsets are into the enclosing string at `path`. */
export interface ExpressionProblem {
  code: 'EXPRESSION_SYNTAX'
  message: string
  path: Array<string | number>
  /** Offset into `text`, the string that holds the expression. */
  offset: number
  text: string
}

const limits = { maxAstNodes: 10_000, maxDepth: 100, maxListElements: 10_000, maxMapEntries: 10_000, maxCallArguments: 32 }

/**
 * CEL keeps `int` and `double` apart (`1 * 0.5` has no overload). Data from YAML and JSON does not: a
 * score is `1` one day and `0.9` the next. So arithmetic between the two gives a double, as in JSON.
 */
export function allowMixedNumbers<E extends Environment>(env: E): E {
  const ops = { '+': (a: number, b: number) => a + b, '-': (a: number, b: number) => a - b, '*': (a: number, b: number) => a * b, '/': (a: number, b: number) => a / b }
  for (const [op, f] of Object.entries(ops)) {
    env.registerOperator(`int ${op} double`, (a: bigint, b: number) => f(Number(a), b))
    env.registerOperator(`double ${op} int`, (a: number, b: bigint) => f(a, Number(b)))
  }
  return env
}

/** The name `string.matches` is evaluated under at run time: the library's own uses a backtracking RegExp. */
const RE2_MATCHES = 'matches_re2'

/** The runtime environment: every variable is dynamic, aggregates may mix types. Shared, never mutated. */
export const celRuntime = allowMixedNumbers(
  new Environment({ unlistedVariablesAreDyn: true, homogeneousAggregateLiterals: false, limits }).registerFunction(`string.${RE2_MATCHES}(string): bool`, (text: string, pattern: string) => {
    try {
      return re2Matches(text, pattern)
    } catch (err) {
      throw new WeftError('EXPRESSION_FAILED', `invalid regular expression ${JSON.stringify(pattern.slice(0, 200))} (RE2 syntax): ${(err as Error).message}`, { retryable: false })
    }
  }),
)

/** Points every `.matches(…)` call of a parsed tree at the RE2 implementation; gives the literal patterns. */
function useRe2(ast: unknown): string[] {
  const patterns: string[] = []
  const stack = [ast]
  while (stack.length > 0) {
    const node = stack.pop()
    if (Array.isArray(node)) stack.push(...node)
    else if (isNode(node)) {
      if (node.op === 'rcall' && Array.isArray(node.args) && node.args[0] === 'matches') {
        node.args[0] = RE2_MATCHES
        const [pattern] = (node.args[2] ?? []) as unknown[]
        if (isNode(pattern) && pattern.op === 'value' && typeof pattern.args === 'string') patterns.push(pattern.args)
      }
      stack.push(node.args)
    }
  }
  return patterns
}

/** Finds the `${{ … }}` spans in a string; a `}}` inside a quoted CEL string does not close the span. */
export function findExpressions(text: string): ExpressionSpan[] {
  const spans: ExpressionSpan[] = []
  let i = text.indexOf('${{')
  while (i !== -1) {
    const sourceStart = i + 3
    let j = sourceStart
    let quote: string | null = null
    let close = -1
    while (j < text.length) {
      const c = text[j]
      if (quote) {
        if (c === '\\') j++
        else if (c === quote) quote = null
      } else if (c === '"' || c === "'") {
        quote = c
      } else if (c === '}' && text[j + 1] === '}') {
        close = j
        break
      }
      j++
    }
    if (close === -1) {
      spans.push({ source: text.slice(sourceStart), start: i, end: -1, sourceStart })
      break
    }
    spans.push({ source: text.slice(sourceStart, close), start: i, end: close + 2, sourceStart })
    i = text.indexOf('${{', close + 2)
  }
  return spans
}

/** True when the value holds at least one expression anywhere inside it. */
export function containsExpression(value: unknown): boolean {
  if (typeof value === 'string') return value.includes('${{')
  if (Array.isArray(value)) return value.some(containsExpression)
  if (value && typeof value === 'object') return Object.values(value).some(containsExpression)
  return false
}

/** An expression as an error message quotes it: whole when short, else its start and its length. */
function quoted(source: string): string {
  const text = source.trim()
  return text.length <= 160 ? `\`${text}\`` : `\`${text.slice(0, 120)}…\` (${text.length} characters)`
}

/** The parser's or evaluator's own words, without the copy of the expression some of them carry. */
function reason(e: { summary?: string; message?: string }): string {
  const text = (e.summary ?? e.message ?? 'unknown error').split('\n')[0]!.replaceAll(RE2_MATCHES, 'matches')
  return text.length <= 300 ? text : `${text.slice(0, 300)}…`
}

/** Parses one CEL expression. Throws WeftError EXPRESSION_SYNTAX with `details.offset` on failure. */
export function compileExpression(source: string): CompiledExpression {
  let fn: ReturnType<Environment['parse']>
  try {
    fn = celRuntime.parse(source.trim())
  } catch (err) {
    const e = err as { summary?: string; message?: string; range?: { start: number } }
    const leading = source.length - source.trimStart().length
    throw new WeftError('EXPRESSION_SYNTAX', `invalid expression ${quoted(source)}: ${reason(e)}`, {
      details: { offset: leading + (e.range?.start ?? 0) },
      retryable: false,
    })
  }
  const leading = source.length - source.trimStart().length
  const references = collectReferences(fn.ast as AstNode).map((r) => ({ ...r, start: r.start + leading, end: r.end + leading }))
  const shape = shapeOf(fn.ast)
  const patterns = useRe2(fn.ast)
  return {
    source: source.trim(),
    references,
    patterns,
    evaluate(scope) {
      if (dataDependent(shape)) {
        const bound = costBound(shape, widest(readValues(scope, references), shape.splits))
        if (bound > EXPRESSION_COST_LIMIT) {
          throw new WeftError(
            'EXPRESSION_COST',
            `expression ${quoted(source)} could take up to ${bound.toExponential(1)} steps over this data, more than the limit of ${EXPRESSION_COST_LIMIT.toExponential(0)}: nest fewer comprehensions (map, filter, all, exists), compare or search less inside them, or give them shorter lists`,
            { details: { expression: source.trim().slice(0, 2000), bound, limit: EXPRESSION_COST_LIMIT }, retryable: false },
          )
        }
      }
      try {
        return fromCel(fn(scope))
      } catch (err) {
        if (err instanceof WeftError) throw err
        const e = err as { summary?: string; message?: string }
        throw new WeftError('EXPRESSION_FAILED', `expression ${quoted(source)} failed: ${reason(e)}`, {
          details: { expression: source.trim().slice(0, 2000) },
          retryable: false,
        })
      }
    },
  }
}

/**
 * Compiles a DSL value into a Template. Problems (syntax errors, unclosed `${{`) are collected into
 * `problems` with their path and offset; the failing piece is kept as a literal.
 */
export function compileTemplate(value: unknown, problems: ExpressionProblem[] = [], path: Array<string | number> = []): Template {
  if (typeof value === 'string') {
    if (!value.includes('${{')) return { kind: 'literal', value }
    const spans = findExpressions(value)
    const parts: Array<string | CompiledExpression> = []
    let last = 0
    for (const span of spans) {
      if (span.start > last) parts.push(value.slice(last, span.start))
      if (span.end === -1) {
        problems.push({ code: 'EXPRESSION_SYNTAX', message: 'unclosed `${{`: add `}}` after the expression', path, offset: span.start, text: value })
        return { kind: 'literal', value }
      }
      try {
        parts.push(compileExpression(span.source))
      } catch (err) {
        const e = err as WeftError
        const offset = span.sourceStart + ((e.details as { offset?: number } | undefined)?.offset ?? 0)
        problems.push({ code: 'EXPRESSION_SYNTAX', message: e.message, path, offset, text: value })
        return { kind: 'literal', value }
      }
      last = span.end
    }
    if (last < value.length) parts.push(value.slice(last))
    // one expression with nothing but blanks around it keeps the value's type
    const exprs = parts.filter((p): p is CompiledExpression => typeof p !== 'string')
    if (exprs.length === 1 && parts.every((p) => typeof p !== 'string' || p.trim() === '')) return { kind: 'expr', expr: exprs[0]! }
    return { kind: 'interp', parts }
  }
  if (Array.isArray(value)) {
    const items = value.map((item, i) => compileTemplate(item, problems, [...path, i]))
    return items.every((t) => t.kind === 'literal') ? { kind: 'literal', value } : { kind: 'array', items }
  }
  if (value && typeof value === 'object') {
    const entries: Array<[string, Template]> = Object.entries(value).map(([k, v]) => [k, compileTemplate(v, problems, [...path, k])])
    return entries.every(([, t]) => t.kind === 'literal') ? { kind: 'literal', value } : { kind: 'object', entries }
  }
  return { kind: 'literal', value }
}

/** Evaluates a template against a scope (values as built by `toCel`). */
export function renderTemplate(t: Template, scope: Record<string, unknown>): unknown {
  switch (t.kind) {
    case 'literal':
      return t.value
    case 'expr':
      return t.expr.evaluate(scope)
    case 'interp':
      return t.parts.map((p) => (typeof p === 'string' ? p : interpolate(p.evaluate(scope)))).join('')
    case 'array':
      return t.items.map((item) => renderTemplate(item, scope))
    case 'object': {
      const out: Record<string, unknown> = {}
      for (const [k, v] of t.entries) out[k] = renderTemplate(v, scope)
      return out
    }
  }
}

/** Every expression in a template, with the path of the value that holds it. */
export function templateExpressions(t: Template, path: Array<string | number> = []): Array<{ expr: CompiledExpression; path: Array<string | number>; whole: boolean }> {
  switch (t.kind) {
    case 'literal':
      return []
    case 'expr':
      return [{ expr: t.expr, path, whole: true }]
    case 'interp':
      return t.parts.filter((p): p is CompiledExpression => typeof p !== 'string').map((expr) => ({ expr, path, whole: false }))
    case 'array':
      return t.items.flatMap((item, i) => templateExpressions(item, [...path, i]))
    case 'object':
      return t.entries.flatMap(([k, v]) => templateExpressions(v, [...path, k]))
  }
}

function interpolate(value: unknown): string {
  if (value === null || value === undefined) return ''
  if (typeof value === 'string') return value
  if (typeof value === 'object') return JSON.stringify(value)
  return String(value)
}

/**
 * Converts plain data to CEL values: integral numbers become CEL ints (BigInt) so that `x + 1` works on
 * a whole number; other numbers stay doubles. Done once per value (inputs, config, each node output).
 */
export function toCel(value: unknown): unknown {
  if (typeof value === 'number') return Number.isSafeInteger(value) ? BigInt(value) : value
  if (Array.isArray(value)) return value.map(toCel)
  if (value && typeof value === 'object' && !(value instanceof Uint8Array) && !(value instanceof Date)) {
    const out: Record<string, unknown> = {}
    for (const [k, v] of Object.entries(value)) if (v !== undefined) out[k] = toCel(v)
    return out
  }
  return value === undefined ? null : value
}

/** Converts a CEL result back to plain JSON-friendly data (BigInt → number, Map → object, Date → ISO string). */
function fromCel(value: unknown): unknown {
  if (typeof value === 'bigint') return Number(value)
  if (Array.isArray(value)) return value.map(fromCel)
  if (value instanceof Map) {
    const out: Record<string, unknown> = {}
    for (const [k, v] of value) out[String(k)] = fromCel(v)
    return out
  }
  if (value instanceof Date) return value.toISOString()
  if (value && typeof value === 'object' && !(value instanceof Uint8Array)) {
    const out: Record<string, unknown> = {}
    for (const [k, v] of Object.entries(value)) out[k] = fromCel(v)
    return out
  }
  return value
}

/** The values an expression's references reach in a scope: as far down each static path as it resolves. */
function readValues(scope: Record<string, unknown>, references: Reference[]): unknown[] {
  return references.map((r) => {
    let v: unknown = scope[r.root]
    for (const key of r.path) {
      const next = v instanceof Map ? v.get(key) : v && typeof v === 'object' ? (v as Record<string, unknown>)[key] : undefined
      if (next === undefined) break
      v = next
    }
    return v
  })
}

interface AstNode {
  op: string
  args: unknown
  pos?: number
  start?: number
  end?: number
}

const isNode = (x: unknown): x is AstNode => !!x && typeof x === 'object' && typeof (x as AstNode).op === 'string'

/** Collects maximal static member chains rooted at an identifier (`a.b["c"].d` → root a, path [b, c, d]). */
function collectReferences(ast: AstNode): Reference[] {
  const refs: Reference[] = []
  const visit = (node: unknown, bound: ReadonlySet<string>): void => {
    if (Array.isArray(node)) {
      for (const n of node) visit(n, bound)
      return
    }
    if (!isNode(node)) return
    const chain = memberChain(node)
    if (chain) {
      if (!bound.has(chain.root)) refs.push({ root: chain.root, path: chain.path, start: chain.start, end: chain.end })
      // the chain may stop at a dynamic index: look inside the remainder too
      visit(chain.rest, bound)
      return
    }
    if (node.op === 'rcall' && Array.isArray(node.args)) {
      // macros such as list.map(x, expr) bind `x` inside their body
      const [, receiver, callArgs] = node.args as [string, unknown, unknown[]]
      visit(receiver, bound)
      const first = Array.isArray(callArgs) ? callArgs[0] : undefined
      if (isNode(first) && first.op === 'id' && typeof first.args === 'string' && callArgs.length >= 2) {
        const inner = new Set(bound)
        inner.add(first.args)
        visit(callArgs.slice(1), inner)
      } else visit(callArgs, bound)
      return
    }
    visit(node.args, bound)
  }
  visit(ast, new Set())
  return refs
}

function memberChain(node: AstNode): (Reference & { rest: AstNode[] }) | undefined {
  const path: string[] = []
  let cur: AstNode = node
  const rest: AstNode[] = []
  const end = node.end ?? 0
  for (;;) {
    if (cur.op === 'id' && typeof cur.args === 'string') {
      return { root: cur.args, path: path.reverse(), start: cur.start ?? cur.pos ?? 0, end, rest }
    }
    if ((cur.op === '.' || cur.op === '.?') && Array.isArray(cur.args) && typeof cur.args[1] === 'string' && isNode(cur.args[0])) {
      path.push(cur.args[1])
      cur = cur.args[0]
      continue
    }
    if (cur.op === '[]' && Array.isArray(cur.args) && isNode(cur.args[0]) && isNode(cur.args[1])) {
      const idx = cur.args[1]
      if (idx.op === 'value' && (typeof idx.args === 'string' || typeof idx.args === 'bigint')) {
        path.push(String(idx.args))
      } else {
        // dynamic index: the chain's static part ends here; keep walking the index expression separately
        path.length = 0
        rest.push(idx)
      }
      cur = cur.args[0]
      continue
    }
    return undefined
  }
}
