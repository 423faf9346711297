// The cost budget of one expression evaluation: an upper bound on the work it can do, computed before
// it runs from the expression's shape and the sizes of the data it reads. Comprehensions (`map`,
// `filter`, `all`, `exists`, `exists_one`) are the only way CEL repeats work, so nested ones over wide
// data are what can run for minutes or fill memory; a bound over the budget is refused unrun.

/** The evaluations one expression may cost: about a second of work. */
export const EXPRESSION_COST_LIMIT = 10_000_000

const COMPREHENSIONS = new Set(['map', 'filter', 'all', 'exists', 'exists_one'])

/** What of an expression's syntax tree decides its cost. */
export interface ExpressionShape {
  /** Nodes of the syntax tree. */
  nodes: number
  /** The longest list or map literal written in it. */
  literal: number
  /** Deepest nesting of comprehensions inside one another's bodies. */
  depth: number
  /** `+` nodes: concatenation can make a list or string longer than any it started from. */
  pluses: number
  /** Whether the expression splits strings into lists (then a string's length is a list's length). */
  splits: boolean
}

interface Node {
  op: string
  args: unknown
}

const isNode = (x: unknown): x is Node => !!x && typeof x === 'object' && typeof (x as Node).op === 'string'

/** Reads the shape of a parsed (unchecked) cel-js syntax tree. */
export function shapeOf(ast: unknown): ExpressionShape {
  const shape: ExpressionShape = { nodes: 0, literal: 0, depth: 0, pluses: 0, splits: false }
  const stack: Array<[unknown, number]> = [[ast, 0]]
  while (stack.length > 0) {
    const [item, depth] = stack.pop()!
    if (Array.isArray(item)) {
      for (const x of item) stack.push([x, depth])
      continue
    }
    if (!isNode(item)) continue
    shape.nodes++
    shape.depth = Math.max(shape.depth, depth)
    if (item.op === '+') shape.pluses++
    if ((item.op === 'list' || item.op === 'map') && Array.isArray(item.args)) shape.literal = Math.max(shape.literal, item.args.length)
    if (item.op === 'rcall' && Array.isArray(item.args)) {
      const [name, receiver, callArgs] = item.args as [unknown, unknown, unknown]
      if (name === 'split') shape.splits = true
      stack.push([receiver, depth])
      // the body of a comprehension runs once per element of its receiver
      stack.push([callArgs, COMPREHENSIONS.has(name as string) ? depth + 1 : depth])
      continue
    }
    if (Array.isArray(item.args) || isNode(item.args)) stack.push([item.args, depth])
    else if (item.args && typeof item.args === 'object') stack.push([Object.values(item.args), depth])
  }
  return shape
}

/**
 * The widest collection among `values` and everything inside them: a list's length, a map's entries
 * and, when `strings` is set, a string's length. Walks without recursion, so depth cannot overflow.
 */
export function widest(values: unknown[], strings: boolean): number {
  let max = 0
  const stack = [...values]
  while (stack.length > 0) {
    const v = stack.pop()
    if (typeof v === 'string') {
      if (strings) max = Math.max(max, v.length)
    } else if (Array.isArray(v)) {
      max = Math.max(max, v.length)
      for (const x of v) stack.push(x)
    } else if (v instanceof Map) {
      max = Math.max(max, v.size)
      for (const x of v.values()) stack.push(x)
    } else if (v && typeof v === 'object' && !(v instanceof Uint8Array) && !(v instanceof Date)) {
      const xs = Object.values(v)
      max = Math.max(max, xs.length)
      for (const x of xs) stack.push(x)
    }
  }
  return max
}

/**
 * An upper bound on the nodes one evaluation visits: each level of nesting runs its body once per
 * element, and no list it iterates is longer than the widest collection it reads (or a literal of
 * the expression, or that grown by its `+`s).
 */
export function costBound(shape: ExpressionShape, widestInput: number): number {
  if (shape.depth === 0) return shape.nodes
  const width = Math.max(widestInput, shape.literal, 1) * (shape.pluses + 1)
  return shape.nodes * width ** shape.depth
}
