// A run record as the fleet starts it: every node pending, in the pipeline's order.
import { randomUUID } from 'node:crypto'
import type { Pipeline } from '../dsl/pipeline.ts'
import type { NodeRecord, RunRecord } from '../ports.ts'

export interface NewRun {
  inputs: Record<string, unknown>
  config: Record<string, unknown>
  interactive?: boolean
  /** The session it belongs to (default: a session of its own, named by the run's id). */
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
  const id = o.runId ?? randomUUID()
  return {
    id,
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
    // a run started without a session is a session of its own: a console or a WebSocket client can follow it
    session_id: o.sessionId ?? id,
    nodes,
  }
}
