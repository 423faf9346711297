// What a finished run gives (`outputs:`) and a node's time limit: evaluated the same way by both run drivers.
import type { NodeSpec, Pipeline } from './dsl/pipeline.ts'
import type { NodeStatus } from './ports.ts'
import { renderTemplate, templateExpressions } from './expressions.ts'
import { runtimeTimeout } from './duration.ts'
import { WeftError } from './errors.ts'

/** Renders `outputs:`; an output whose nodes did not succeed (skipped stage, tolerated failure) is null. */
export function renderRunOutputs(pipeline: Pipeline, statusOf: (node: string) => NodeStatus | undefined, scope: Record<string, unknown>): Record<string, unknown> {
  const t = pipeline.outputs
  if (t.kind === 'literal') return (t.value as Record<string, unknown>) ?? {}
  if (t.kind !== 'object') return {}
  const out: Record<string, unknown> = {}
  for (const [name, template] of t.entries) {
    const refs = templateExpressions(template)
      .flatMap((e) => e.expr.references)
      .filter((r) => r.root === 'nodes' && r.path[0])
    const unavailable = refs.some((r) => statusOf(r.path[0]!) !== 'succeeded')
    try {
      out[name] = renderTemplate(template, scope)
    } catch (err) {
      if (unavailable) out[name] = null
      else throw new WeftError('OUTPUT_FAILED', `output "${name}" could not be computed: ${(err as Error).message}`, { cause: err })
    }
  }
  return out
}

/** The node's hard time limit: literal, or its `timeout:` expression evaluated now. */
export function nodeTimeout(spec: NodeSpec, scope: Record<string, unknown>): number | undefined {
  return spec.timeout ? runtimeTimeout(renderTemplate(spec.timeout, scope), spec.id) : spec.timeoutMs
}
