// Ends a run no process is driving: its lease is free (or its holder is gone), so the status and closing event are
// written here. Shared by the server's cancel and resume sweep and by `weft cancel`.
import type { ErrorInfo } from './errors.ts'
import type { RunStore } from './ports.ts'

/** Records `status` and the run's closing event after taking its lease; false when another process holds it. */
export async function endUndriven(store: RunStore, owner: string, ttlMs: number, id: string, status: 'cancelled' | 'failed', error: ErrorInfo): Promise<boolean> {
  if (!(await store.claimRun(id, owner, ttlMs))) return false
  try {
    const lastSeq = (await store.listEvents(id)).at(-1)?.seq ?? 0
    const now = new Date().toISOString()
    const event =
      status === 'cancelled'
        ? { run_id: id, seq: lastSeq + 1, type: 'run.cancelled' as const, timestamp: now, payload: { reason: error.message } }
        : { run_id: id, seq: lastSeq + 1, type: 'run.failed' as const, timestamp: now, payload: { error } }
    await store.write([
      { kind: 'run.update', runId: id, patch: { status, finished_at: now, error } },
      { kind: 'event', event },
    ])
    return true
  } finally {
    await store.releaseRun(id, owner)
  }
}
