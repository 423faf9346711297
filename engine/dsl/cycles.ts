// Finds dependency cycles and names their nodes in order.
import { DirectedGraph } from 'graphology'
import { stronglyConnectedComponents } from 'graphology-components'
import type { NodeSpec } from './pipeline.ts'

/** Every cycle among the nodes (one per strongly connected component), each as node ids in dependency order. */
export function findCycles(nodes: ReadonlyMap<string, Pick<NodeSpec, 'deps'>>): string[][] {
  const g = new DirectedGraph()
  for (const id of nodes.keys()) g.addNode(id)
  for (const [id, spec] of nodes) for (const dep of spec.deps) if (g.hasNode(dep)) g.mergeEdge(dep, id)
  const cycles: string[][] = []
  const order = [...nodes.keys()]
  for (const component of stronglyConnectedComponents(g)) {
    if (component.length === 1) {
      const only = component[0]!
      if (g.hasEdge(only, only)) cycles.push([only])
      continue
    }
    // walk inside the component from its first node (in file order) until we come back to a visited node
    const members = new Set(component)
    const start = order.find((id) => members.has(id))!
    const path: string[] = [start]
    const seen = new Map([[start, 0]])
    let cur = start
    for (;;) {
      const next = g.outNeighbors(cur).filter((n) => members.has(n)).sort((a, b) => order.indexOf(a) - order.indexOf(b))[0]!
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
