// What a step looks up in its pipeline on every event, computed once per pipeline (a worker steps many runs of one
// pipeline, and a step must not scan every node to find one node's dependents).
import type { Pipeline } from '../dsl/pipeline.ts'

export interface PipelineIndex {
  /** The nodes that need each node, in file order. */
  dependents: ReadonlyMap<string, readonly string[]>
  /** Node ids, the last in file order first: a run that has not ended almost always has one of those unfinished. */
  lastFirst: readonly string[]
}

const indexes = new WeakMap<Pipeline, PipelineIndex>()

export function pipelineIndex(pipeline: Pipeline): PipelineIndex {
  let index = indexes.get(pipeline)
  if (!index) {
    const dependents = new Map<string, string[]>()
    for (const spec of pipeline.nodes.values())
      for (const dep of new Set(spec.deps)) {
        const list = dependents.get(dep)
        if (list) list.push(spec.id)
        else dependents.set(dep, [spec.id])
      }
    index = { dependents, lastFirst: [...pipeline.nodes.keys()].reverse() }
    indexes.set(pipeline, index)
  }
  return index
}
