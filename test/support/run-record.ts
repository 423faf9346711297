// Run records written out by hand, for tests that need one without running a pipeline.
import type { NodeRecord, RunRecord } from '../../engine/ports.ts'

/** A node of type `work`, pending, with `patch` over it. */
export const nodeRecord = (id: string, patch: Partial<NodeRecord> = {}): NodeRecord => ({
  id,
  type: 'work',
  status: 'pending',
  attempts: 0,
  started_at: null,
  finished_at: null,
  duration_ms: null,
  output: null,
  error: null,
  ...patch,
})

/** A running run `r1` of pipeline `p` holding `nodes`, with `patch` over it. */
export function runRecord(nodes: NodeRecord[], patch: Partial<RunRecord> = {}): RunRecord {
  return {
    id: 'r1',
    pipeline: { name: 'p', version: 1, file: '/p.yaml' },
    status: 'running',
    interactive: false,
    inputs: {},
    config: {},
    outputs: null,
    error: null,
    current_stage: null,
    created_at: '2026-01-01T00:00:00.000Z',
    started_at: '2026-01-01T00:00:00.000Z',
    finished_at: null,
    nodes: Object.fromEntries(nodes.map((n) => [n.id, n])),
    ...patch,
  }
}
