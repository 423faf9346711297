// Ends a run no process is driving: its lease is free (or its holder is gone), so the status and closing event are
// written here. Shared by the server's cancel and resume sweep and by `weft cancel`.
import type { ErrorInfo } from './errors.ts'
import type { RunStore } from './ports.ts'
import { endRunWrites } from './end-run-writes.ts'

/**
 * Records `status`, its nodes' ends and the closing events after taking the run's lease: `ended`; `held` when another process holds
 * the lease; `over` when the run had already ended (its driver finished it in the meantime), which is left as it is.
 */
export async function endUndriven(store: RunStore, owner: string, ttlMs: number, id: string, status: 'cancelled' | 'failed', error: ErrorInfo): Promise<'ended' | 'held' | 'over'> {
  if (!(await store.claimRun(id, owner, ttlMs))) return 'held'
  try {
    // its driver may have ended it (and let the lease go) since the caller looked: an ended run stays as it ended
    const current = await store.getRun(id)
    if (!current || !['pending', 'running', 'awaiting_approval'].includes(current.status)) return 'over'
    const lastSeq = (await store.listEvents(id)).at(-1)?.seq ?? 0
    // its nodes end with it, as a step ends them: none is left running or pending in an ended run
    await store.write(endRunWrites(current, status, error, { now: Date.now(), seq: lastSeq }))
    return 'ended'
  } finally {
    await store.releaseRun(id, owner)
  }
}
