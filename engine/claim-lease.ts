// A run's lease: the one process that drives a run in process holds it (the fleet holds its runs' own).
import type { RunStore } from './ports.ts'
import { WeftError } from './errors.ts'
import type { Clock } from './clock.ts'
import { FLEET_OWNER } from './fleet/queue.ts'

/** Takes (or renews) a run's lease, or says who holds it and until when (RUN_LEASED). */
export async function claimLease(store: RunStore, id: string, owner: string, ttlMs: number, clock: Clock): Promise<void> {
  if (await store.claimRun(id, owner, ttlMs)) return
  const holder = await store.leaseHolder(id)
  if (holder?.owner === FLEET_OWNER) {
    // the fleet's lease never runs out: whether anything still drives the run is its status
    const status = (await store.getRun(id))?.status
    if (status === 'completed' || status === 'failed' || status === 'cancelled')
      throw new WeftError('RUN_FINISHED', `run ${id} ran on the fleet and has ended (${status}); a fleet run is not resumed: re-run it (\`weft rerun ${id}\`)`, { retryable: false })
    throw new WeftError('RUN_LEASED', `run ${id} is driven by the fleet (\`weft worker\` processes on its database); no single process resumes it`, { retryable: false, details: { holder } })
  }
  const who = holder?.pid != null ? `process ${holder.pid}${holder.host ? ` on ${holder.host}` : ''}` : 'another process'
  const left = holder ? Math.max(0, Math.ceil((Date.parse(holder.until) - clock.now()) / 1000)) : undefined
  const when = holder ? `; its lease expires at ${holder.until} (in ${left} s) unless that process renews it` : ''
  throw new WeftError('RUN_LEASED', `run ${id} is being driven by ${who}${when}`, { retryable: false, details: holder ? { holder } : undefined })
}
