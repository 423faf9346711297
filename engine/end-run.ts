// Ends a run no process is driving: its lease is free (or its holder is gone), so the status and closing event are
// written here. Shared by the server's cancel and resume sweep and by `weft cancel`.
import type { ErrorInfo } from './errors.ts'
import type { RunStore } from './ports.ts'

/**
 * Records `status` and the run's closing event after taking its lease: `ended`; `held` when another process holds
 * the lease; `over` when the run had already ended (its driver finished it in the meantime), which is left as it is.
 */
export async function endUndriven(store: RunStore, owner: string, ttlMs: number, id: string, status: 'cancelled' | 'failed', error: ErrorInfo): Promise<'ended' | 'held' | 'over'> {
  if (!(await store.claimRun(id, owner, ttlMs))) return 'held'
  try {
    // its driver may have ended it (and let the lease go) since the caller looked: an ended run stays as it ended
    const current = await store.getRun(id)
    if (!current || !['pending', 'running', 'awaiting_approval'].includes(current.status)) return 'over'
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
    return 'ended'
  } finally {
    await store.releaseRun(id, owner)
  }
}
