// Finds dependency cycles and names their nodes in order.
import { DirectedGraph } from 'graphology'
import { hasCycle } from 'graphology-dag'
import type { NodeSpec } from './pipeline.ts'

/**
 * The strongly connected components of `g` (Gabow's path-based algorithm, as graphology-components has it) with an
 * explicit stack instead of recursion: graphology-components recurses once per node of a path, and a pipeline of a
 * few thousand chained nodes overflows the call stack.
 */
function components(g: DirectedGraph): string[][] {
  const preorder = new Map<string, number>()
  const assigned = new Set<string>()
  const open: string[] = [] // P: the roots of components not yet closed
  const members: string[] = [] // S: nodes not yet assigned, in visit order
  const out: string[][] = []
  let count = 0
  const enter = (node: string) => {
    preorder.set(node, count++)
    open.push(node)
    members.push(node)
  }
  for (const root of g.nodes()) {
    if (preorder.has(root)) continue
    enter(root)
    // each frame: a node and how far through its out-neighbours it is
    const frames: Array<{ node: string; next: string[]; at: number }> = [{ node: root, next: g.outNeighbors(root), at: 0 }]
    while (frames.length) {
      const frame = frames.at(-1)!
      if (frame.at < frame.next.length) {
        const neighbor = frame.next[frame.at++]!
        const seen = preorder.get(neighbor)
        if (seen === undefined) {
          enter(neighbor)
          frames.push({ node: neighbor, next: g.outNeighbors(neighbor), at: 0 })
        } else if (!assigned.has(neighbor)) {
          while (preorder.get(open.at(-1)!)! > seen) open.pop()
        }
        continue
      }
      frames.pop()
      if (open.at(-1) === frame.node) {
        const component: string[] = []
        let popped: string
        do {
          popped = members.pop()!
          component.push(popped)
          assigned.add(popped)
        } while (popped !== frame.node)
        out.push(component)
        open.pop()
      }
    }
  }
  return out
}

/** Every cycle among the nodes (one per strongly connected component), each as node ids in dependency order. */
export function findCycles(nodes: ReadonlyMap<string, Pick<NodeSpec, 'deps'>>): string[][] {
  const g = new DirectedGraph()
  for (const id of nodes.keys()) g.addNode(id)
  for (const [id, spec] of nodes) for (const dep of spec.deps) if (g.hasNode(dep)) g.mergeEdge(dep, id)
  const cycles: string[][] = []
  // the usual case, checked without recursion and without listing components
  if (!hasCycle(g)) return cycles
  const order = [...nodes.keys()]
  const place = new Map(order.map((id, i) => [id, i]))
  for (const component of components(g)) {
    if (component.length === 1) {
      const only = component[0]!
      if (g.hasEdge(only, only)) cycles.push([only])
      continue
    }
    // walk inside the component from its first node (in file order) until we come back to a visited node
    const members = new Set(component)
    const start = component.reduce((a, b) => (place.get(a)! < place.get(b)! ? a : b))
    const path: string[] = [start]
    const seen = new Map([[start, 0]])
    let cur = start
    for (;;) {
      const next = g
        .outNeighbors(cur)
        .filter((n) => members.has(n))
        .sort((a, b) => place.get(a)! - place.get(b)!)[0]!
      const at = seen.get(next)
      if (at !== undefined) {
        cycles.push(path.slice(at))
        break
      }
      seen.set(next, path.length)
      path.push(next)
      cur = next
    }
  }
  return cycles
}
