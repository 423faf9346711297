// The pipeline's DAG placed for drawing: dagre ranks and orders the nodes, this turns its answer into boxes and
// edge paths. Pure (no DOM), so it is tested on its own.
import dagre from '@dagrejs/dagre'
import type { GraphNode } from '../../server/pipeline-graph.ts'

/** A pipeline node as `GET /api/v2/generations/:id/graph` gives it. */
export type { GraphNode }

export interface PlacedNode {
  id: string
  /** Top-left corner. */
  x: number
  y: number
  width: number
  height: number
}

interface PlacedEdge {
  from: string
  to: string
  /** Polyline points, from `from`'s box to `to`'s box. */
  points: Array<{ x: number; y: number }>
}

export interface Layout {
  nodes: PlacedNode[]
  edges: PlacedEdge[]
  width: number
  height: number
}

export interface LayoutOptions {
  /** `LR` (left to right, wide screens) or `TB` (top to bottom, narrow ones). Default `LR`. */
  direction?: 'LR' | 'TB'
  nodeWidth?: number
  nodeHeight?: number
  /** Draw every dependency, also those another path already implies (default: only the direct ones). */
  allEdges?: boolean
}

/**
 * Lays out `nodes` (edges from each `needs` entry to the node). Needs naming a node not in the list are left out,
 * so a partial graph still draws. Node order in the input does not change the result.
 */
export function layoutGraph(nodes: readonly GraphNode[], opts: LayoutOptions = {}): Layout {
  const width = opts.nodeWidth ?? 176
  const height = opts.nodeHeight ?? 64
  const g = new dagre.graphlib.Graph()
  g.setGraph({ rankdir: opts.direction ?? 'LR', nodesep: 24, ranksep: 56, marginx: 24, marginy: 24 })
  g.setDefaultEdgeLabel(() => ({}))
  const sorted = [...nodes].sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0))
  const known = new Set(sorted.map((n) => n.id))
  for (const n of sorted) g.setNode(n.id, { width, height })
  const all: Array<[string, string]> = []
  for (const n of sorted) {
    for (const need of [...new Set(n.needs)].sort()) {
      if (known.has(need) && need !== n.id) all.push([need, n.id])
    }
  }
  const edges = opts.allEdges ? all : withoutImplied(all)
  for (const [from, to] of edges) g.setEdge(from, to)
  dagre.layout(g)
  const placed: PlacedNode[] = sorted.map((n) => {
    const p = g.node(n.id)
    return { id: n.id, x: p.x - width / 2, y: p.y - height / 2, width, height }
  })
  const lines: PlacedEdge[] = edges.map(([from, to]) => ({ from, to, points: (g.edge(from, to).points ?? []).map((pt: { x: number; y: number }) => ({ x: pt.x, y: pt.y })) }))
  const graph = g.graph()
  return { nodes: placed, edges: lines, width: Math.ceil(graph.width ?? 0), height: Math.ceil(graph.height ?? 0) }
}

/**
 * The edges no longer path implies (a transitive reduction): when `a → b → c`, the edge `a → c` says nothing a
 * reader does not see already, and on a pipeline whose expressions read many upstream nodes it buries the shape.
 */
export function withoutImplied(edges: ReadonlyArray<readonly [string, string]>): Array<[string, string]> {
  const out = new Map<string, string[]>()
  for (const [a, b] of edges) out.set(a, [...(out.get(a) ?? []), b])
  const reachableAvoiding = (from: string, to: string): boolean => {
    // is `to` reachable from `from` without the direct edge from → to?
    const seen = new Set<string>()
    const stack = (out.get(from) ?? []).filter((x) => x !== to)
    while (stack.length) {
      const x = stack.pop()!
      if (x === to) return true
      if (seen.has(x)) continue
      seen.add(x)
      stack.push(...(out.get(x) ?? []))
    }
    return false
  }
  return edges.filter(([a, b]) => !reachableAvoiding(a, b)).map(([a, b]) => [a, b])
}
