// The pipeline as a graphology DAG, and its drawings (Mermaid, Graphviz dot, JSON).
import { DirectedGraph } from 'graphology'
import { topologicalGenerations } from 'graphology-dag'
import type { Pipeline } from './dsl/pipeline.ts'

export interface NodeAttributes {
  type: string
  stage?: string
  when: boolean
  fanOut?: string
  /** A fan-out's steps (its per-item graph): id, type and the steps each needs. */
  steps?: Array<{ id: string; type: string; needs: string[] }>
}

/** Builds the DAG: one graph node per pipeline node, an edge from each dependency to its dependent. */
export function buildGraph(pipeline: Pipeline): DirectedGraph<NodeAttributes> {
  const g = new DirectedGraph<NodeAttributes>()
  for (const spec of pipeline.nodes.values()) {
    const attrs: NodeAttributes = { type: spec.type, when: spec.when !== undefined }
    if (spec.stage !== undefined) attrs.stage = spec.stage
    if (spec.child) attrs.fanOut = spec.child.type
    if (spec.steps) attrs.steps = [...spec.steps.steps.values()].map((st) => ({ id: st.id, type: st.type, needs: [...st.deps] }))
    g.addNode(spec.id, attrs)
  }
  for (const spec of pipeline.nodes.values()) for (const dep of spec.deps) g.mergeEdge(dep, spec.id)
  return g
}

export type GraphFormat = 'mermaid' | 'dot' | 'json'

/** Draws the graph in the given format. */
export function drawGraph(pipeline: Pipeline, format: GraphFormat): string {
  const g = buildGraph(pipeline)
  const label = (id: string) => {
    const a = g.getNodeAttributes(id)
    const each = a.fanOut ?? (a.steps ? `[${a.steps.map((st) => (st.needs.length ? `${st.needs.join('+')} → ${st.id}` : st.id)).join(', ')}]` : undefined)
    return `${id}\\n${a.type}${each ? ` × ${each}` : ''}${a.when ? ' (when)' : ''}`
  }
  if (format === 'json') {
    return JSON.stringify(
      {
        pipeline: pipeline.name,
        nodes: g.mapNodes((id, a) => ({ id, ...a, needs: g.inNeighbors(id) })),
        edges: g.mapEdges((_e, _a, source, target) => ({ from: source, to: target })),
        levels: topologicalGenerations(g),
      },
      null,
      2,
    )
  }
  if (format === 'dot') {
    const lines = [`digraph "${pipeline.name}" {`, '  rankdir=LR;', '  node [shape=box, style=rounded];']
    g.forEachNode((id) => lines.push(`  "${id}" [label="${label(id)}"];`))
    g.forEachEdge((_e, _a, s, t) => lines.push(`  "${s}" -> "${t}";`))
    lines.push('}')
    return lines.join('\n')
  }
  // Mermaid reserves some words (`end`, `graph`…) as ids: number the nodes and keep the names as labels
  const key = new Map(g.nodes().map((id, i) => [id, `n${i}`]))
  const lines = ['flowchart LR']
  g.forEachNode((id) => lines.push(`  ${key.get(id)}["${label(id).replace('\\n', '<br/>')}"]`))
  g.forEachEdge((_e, _a, s, t) => lines.push(`  ${key.get(s)} --> ${key.get(t)}`))
  return lines.join('\n')
}
