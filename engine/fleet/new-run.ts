// A run record as the fleet starts it: every node pending, in the pipeline's order.
import { randomUUID } from 'node:crypto'
import type { Pipeline } from '../dsl/pipeline.ts'
import type { NodeRecord, RunRecord } from '../ports.ts'

export interface NewRun {
  inputs: Record<string, unknown>
  config: Record<string, unknown>
  interactive?: boolean
  sessionId?: string
  runId?: string
  /** Clock milliseconds (default: now). */
  now?: number
}

export function newRunRecord(pipeline: Pipeline, o: NewRun): RunRecord {
  const at = new Date(o.now ?? Date.now()).toISOString()
  const nodes: Record<string, NodeRecord> = {}
  for (const spec of pipeline.nodes.values()) {
    nodes[spec.id] = {
      id: spec.id,
      type: spec.type,
      status: 'pending',
      attempts: 0,
      started_at: null,
      finished_at: null,
      duration_ms: null,
      output: null,
      error: null,
      ...(spec.stage !== undefined ? { stage: spec.stage } : {}),
    }
  }
  return {
    id: o.runId ?? randomUUID(),
    pipeline: { name: pipeline.name, version: pipeline.version, file: pipeline.file },
    status: 'running',
    interactive: o.interactive ?? false,
    inputs: o.inputs,
    config: o.config,
    outputs: null,
    error: null,
    current_stage: null,
    created_at: at,
    started_at: at,
    finished_at: null,
    ...(o.sessionId !== undefined ? { session_id: o.sessionId } : {}),
    nodes,
  }
}
