// The writes that end a run no step is taking: what the steps write when a run fails or is cancelled, without its
// pipeline. Nodes still running or waiting are cancelled, those not started are skipped, and the run ends with the
// error. For a fleet run whose pipeline file is gone, invalid or changed, and for a run nobody drives (`weft cancel`,
// a server's cancel or sweep).
import type { ErrorInfo } from './errors.ts'
import type { NodeRecord, RunRecord, StoreWrite } from './ports.ts'

export function endRunWrites(run: RunRecord, status: 'failed' | 'cancelled', error: ErrorInfo, opts: { now: number; seq: number }): StoreWrite[] {
  const at = new Date(opts.now).toISOString()
  let seq = opts.seq
  const writes: StoreWrite[] = []
  // in the words of the step function's own stop
  const message = status === 'cancelled' ? 'run cancelled' : `run stopped: ${error.message}`
  const reason = status === 'cancelled' ? 'run cancelled' : 'run failed'
  for (const r of Object.values(run.nodes)) {
    let ended: NodeRecord
    if (r.status === 'running' || r.status === 'waiting') {
      const duration = r.started_at ? opts.now - Date.parse(r.started_at) : null
      ended = { ...r, status: 'cancelled', finished_at: at, duration_ms: duration, error: { code: 'CANCELLED', message } }
    } else if (r.status === 'pending') ended = { ...r, status: 'skipped', finished_at: at, skip_reason: reason }
    else continue
    writes.push({ kind: 'node.update', runId: run.id, node: ended })
    const payload: Record<string, unknown> = { status: ended.status, attempts: ended.attempts, duration_ms: ended.duration_ms }
    if (ended.status === 'cancelled') payload.error = ended.error
    else payload.reason = reason
    if (ended.usage) payload.usage = ended.usage
    writes.push({ kind: 'event', event: { seq: ++seq, run_id: run.id, type: ended.status === 'cancelled' ? 'node.cancelled' : 'node.skipped', node: r.id, timestamp: at, payload } })
  }
  writes.push({ kind: 'run.update', runId: run.id, patch: { status, error, finished_at: at } })
  writes.push({ kind: 'event', event: { seq: ++seq, run_id: run.id, type: status === 'cancelled' ? 'run.cancelled' : 'run.failed', timestamp: at, payload: { error } } })
  return writes
}
