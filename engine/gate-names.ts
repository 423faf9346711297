// The gates a pipeline can ask at, by name: a run's decisions name them (a decisions file, the API).
import type { Pipeline } from './dsl/pipeline.ts'

/** The gates a pipeline can ask at: its control nodes (an approval node asks as itself) and each fan-out's gate steps, per item. */
export interface GateNames {
  has(name: string): boolean
  /** For messages: `review`, `clips[<item>].review`. */
  readonly shown: string[]
}

export function gateNames(pipeline: Pipeline): GateNames {
  const nodes: string[] = []
  const items: Array<{ owner: string; step: string }> = []
  for (const spec of pipeline.nodes.values()) {
    if (spec.def.runs !== 'control') continue
    if (spec.type === 'approval' || !spec.steps) nodes.push(spec.id)
    for (const step of spec.steps?.steps.values() ?? []) if (step.type === 'approval') items.push({ owner: spec.id, step: step.id })
  }
  return {
    has: (name) => nodes.includes(name) || items.some(({ owner, step }) => name.startsWith(`${owner}[`) && name.endsWith(`].${step}`)),
    shown: [...nodes.filter((id) => pipeline.nodes.get(id)!.type === 'approval'), ...items.map(({ owner, step }) => `${owner}[<item>].${step}`)],
  }
}
