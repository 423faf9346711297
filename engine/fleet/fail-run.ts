// The writes that end a fleet run no step can take any more (its pipeline file gone, invalid or changed): what the
// steps would write when a run fails, without the pipeline. Nodes still running or waiting are cancelled, those not
// started are skipped, and the run fails with the error.
import type { ErrorInfo } from '../errors.ts'
import type { NodeRecord, RunRecord, StoreWrite } from '../ports.ts'

export function failRunWrites(run: RunRecord, error: ErrorInfo, opts: { now: number; seq: number }): StoreWrite[] {
  const at = new Date(opts.now).toISOString()
  let seq = opts.seq
  const writes: StoreWrite[] = []
  const message = `run stopped: ${error.message}`
  for (const r of Object.values(run.nodes)) {
    let ended: NodeRecord
    if (r.status === 'running' || r.status === 'waiting') {
      const duration = r.started_at ? opts.now - Date.parse(r.started_at) : null
      ended = { ...r, status: 'cancelled', finished_at: at, duration_ms: duration, error: { code: 'CANCELLED', message } }
    } else if (r.status === 'pending') ended = { ...r, status: 'skipped', finished_at: at, skip_reason: 'run failed' }
    else continue
    writes.push({ kind: 'node.update', runId: run.id, node: ended })
    const payload: Record<string, unknown> = { status: ended.status, attempts: ended.attempts, duration_ms: ended.duration_ms }
    if (ended.status === 'cancelled') payload.error = ended.error
    else payload.reason = 'run failed'
    if (ended.usage) payload.usage = ended.usage
    writes.push({ kind: 'event', event: { seq: ++seq, run_id: run.id, type: ended.status === 'cancelled' ? 'node.cancelled' : 'node.skipped', node: r.id, timestamp: at, payload } })
  }
  writes.push({ kind: 'run.update', runId: run.id, patch: { status: 'failed', error, finished_at: at } })
  writes.push({ kind: 'event', event: { seq: ++seq, run_id: run.id, type: 'run.failed', timestamp: at, payload: { error } } })
  return writes
}
