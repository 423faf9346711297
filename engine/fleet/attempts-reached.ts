// Pure: the attempt each piece of a stopped run's work had reached, read from its event log, so that a resume goes on
// counting where the stop left it instead of handing the retry budget back.
import type { RunEvent } from '../ports.ts'

/**
 * By task key, the attempt each piece of work that had failed and was waiting to try again (or trying again) when
 * the run stopped goes on with: the `next_attempt` of its last `node.retrying` event. A piece that ended since
 * (a node completed or failed for good, with its items; an item or an item's step that ended; one in `succeeded`,
 * whose result is recorded) counts afresh: a resume asks what failed to be tried again, and what runs anew starts
 * anew. Nodes in `kept` do not run again and are left out.
 */
export function attemptsReached(events: readonly RunEvent[], kept: readonly string[], succeeded: readonly string[] = []): Record<string, number> {
  const reached = new Map<string, { node: string; attempt: number }>()
  for (const e of events) {
    if (e.node === undefined) continue
    if (e.type === 'node.retrying' && typeof e.payload.next_attempt === 'number') {
      const key = typeof e.payload.task === 'string' ? e.payload.task : e.node
      reached.set(key, { node: e.node, attempt: e.payload.next_attempt })
    } else if (e.type === 'node.completed' || e.type === 'node.failed') {
      for (const [key, r] of reached) if (r.node === e.node) reached.delete(key)
    } else if (e.type === 'node.progress' && typeof e.payload.task === 'string' && (e.payload.item_status !== undefined || e.payload.step_status !== undefined)) {
      reached.delete(e.payload.task)
    }
  }
  for (const key of succeeded) reached.delete(key)
  const out: Record<string, number> = {}
  for (const [key, r] of reached) if (!kept.includes(r.node) && r.attempt > 1) out[key] = r.attempt
  return out
}
