// A pipeline as clients draw it: each node's id, type, stage and what it depends on (`needs` and the nodes its
// expressions read), in the file's order.
import type { Pipeline } from '../engine/dsl/pipeline.ts'

export interface GraphNode {
  id: string
  type: string
  /** Every node this one waits for: its `needs` and the nodes its expressions refer to. */
  needs: string[]
  stage?: string
  description?: string
}

export function pipelineGraph(pipeline: Pipeline): GraphNode[] {
  return [...pipeline.nodes.values()].map((n) => ({
    id: n.id,
    type: n.type,
    needs: [...new Set(n.deps)],
    ...(n.stage ? { stage: n.stage } : {}),
    ...(n.description ? { description: n.description } : {}),
  }))
}
