// The cost budget of one expression evaluation: an upper bound on the work it can do, computed before
// it runs from the expression's shape and the sizes of the data it reads. Comprehensions (`map`,
// `filter`, `all`, `exists`, `exists_one`) are the only way CEL repeats work; inside one, a step that
// walks a whole list or string (`in`, `==` on two values, list `+`, `contains`, `matches`, `join`…)
// costs the length of what it walks; and `cel.bind` lets `+` double a list at every level. Nested
// comprehensions over wide data, or such steps inside them, are what can run for minutes or fill
// memory; a bound over the budget is refused unrun.

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
  /** `cel.bind` scopes: each can feed a concatenation back into itself, multiplying a list's length again. */
  binds: number
  /** Whether a comprehension's body has a step that walks a whole list or string (then each step costs the width). */
  linear: boolean
  /** Whether the expression reads strings by their length (split, contains, matches…): then a string's length counts as a width. */
  splits: boolean
}

/** Functions whose work grows with the length of the string or list they are given. */
const WALKS = new Set(['contains', 'matches', 'startsWith', 'endsWith', 'join', 'split', 'indexOf', 'lastIndexOf', 'replace', 'lowerAscii', 'upperAscii', 'trim', 'substring'])

/** Whether a comparison, membership or `+` may walk a whole value: not when one side is a literal scalar (or `in` a list literal). */
function walksOperands(node: Node): boolean {
  const [left, right] = (Array.isArray(node.args) ? node.args : []) as unknown[]
  const scalar = (x: unknown) => isNode(x) && x.op === 'value'
  if (node.op === 'in') return !(isNode(right) && right.op === 'list')
  return !scalar(left) && !scalar(right)
}

interface Node {
  op: string
  args: unknown
}

const isNode = (x: unknown): x is Node => !!x && typeof x === 'object' && typeof (x as Node).op === 'string'

/** Reads the shape of a parsed (unchecked) cel-js syntax tree. */
export function shapeOf(ast: unknown): ExpressionShape {
  const shape: ExpressionShape = { nodes: 0, literal: 0, depth: 0, pluses: 0, binds: 0, linear: false, splits: false }
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
    if (depth > 0 && ['+', '==', '!=', 'in'].includes(item.op) && walksOperands(item)) shape.linear = true
    if ((item.op === 'list' || item.op === 'map') && Array.isArray(item.args)) shape.literal = Math.max(shape.literal, item.args.length)
    if (item.op === 'rcall' && Array.isArray(item.args)) {
      const [name, receiver, callArgs] = item.args as [unknown, unknown, unknown]
      if (WALKS.has(name as string)) {
        shape.splits = true
        if (depth > 0) shape.linear = true
      }
      if (name === 'bind' && isNode(receiver) && receiver.op === 'id' && receiver.args === 'cel') shape.binds++
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

/** Whether an expression's cost depends on its data at all (else it is its tree's size, and is not bounded per evaluation). */
export function dataDependent(shape: ExpressionShape): boolean {
  return shape.depth > 0 || shape.linear || shape.binds > 0
}

/**
 * An upper bound on the steps one evaluation takes: each level of nesting runs its body once per element, a body
 * step that walks a value costs its length, and no list or string is longer than the widest collection it reads
 * (or a literal of the expression), grown by its `+`s once, and once more per `cel.bind` that can feed them back.
 */
export function costBound(shape: ExpressionShape, widestInput: number): number {
  if (!dataDependent(shape)) return shape.nodes
  const width = Math.max(widestInput, shape.literal, 1) * (shape.pluses + 1) ** (shape.binds + 1)
  // a bound list is built whole even outside any comprehension: at least one pass over its width
  return shape.nodes * width ** Math.max(shape.depth + (shape.linear ? 1 : 0), shape.binds > 0 ? 1 : 0)
}
