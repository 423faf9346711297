// `weft cancel <id>`: stops a run wherever it is driven. A fleet run is cancelled by a step (its workers are fenced
// out); a run no process drives is ended here; a run a `weft run` process drives on this machine is interrupted as
// Ctrl-C would; a run another server drives is left to that server's API, and said so.
import { holderGone, thisProcess } from '../engine/adapters/lease-holder.ts'
import { endUndriven } from '../engine/end-run.ts'
import type { RunStatus, RunStore } from '../engine/ports.ts'
import { CLI_DRIVER, leaseTtlMs, owner } from './drive.ts'
import { EXIT } from './exit.ts'
import { leaveCancelNote } from './cancel-note.ts'
import { withStore } from './store.ts'

const ACTIVE: readonly RunStatus[] = ['pending', 'running', 'awaiting_approval']

export interface CancelOptions {
  reason?: string
  /** How long to wait for a driving process to record the end (ms). */
  waitMs?: number
}

/** Cancels a run; 0 once it is recorded as cancelled (or its fleet was told to), 1 when it could not be, 2 when there is no such run. */
export async function cancelCommand(id: string, o: CancelOptions = {}): Promise<number> {
  const reason = { code: 'CANCELLED', message: o.reason ? `cancelled: ${o.reason}` : 'cancelled by weft cancel' }
  return withStore('db', async (store) => {
    const record = await store.getRun(id)
    if (!record) {
      process.stderr.write(`RUN_NOT_FOUND: no run ${id} is recorded\n`)
      return EXIT.invalid
    }
    if (!ACTIVE.includes(record.status)) {
      process.stderr.write(`RUN_FINISHED: run ${id} has already ended (${record.status})\n`)
      return EXIT.failed
    }
    const url = process.env.DATABASE_URL
    if (url) {
      const { openFleet } = await import('../engine/adapters/open-fleet.ts')
      const opened = await openFleet(url, { max: 2 })
      try {
        if (await opened.fleet.drives(id)) {
          await opened.fleet.apply(id, { type: 'cancel', reason })
          process.stderr.write(`run ${id} cancelled: its workers stop at their next heartbeat\n`)
          return EXIT.completed
        }
      } finally {
        await opened.close()
      }
    }
    const ended = await endUndriven(store, `${owner}/weft-cancel`, leaseTtlMs(), id, 'cancelled', reason)
    if (ended === 'ended') {
      process.stderr.write(`run ${id} cancelled (no process was driving it)\n`)
      return EXIT.completed
    }
    if (ended === 'over') {
      process.stderr.write(`RUN_FINISHED: run ${id} ended while it was being cancelled (${(await store.getRun(id))?.status ?? 'gone'})\n`)
      return EXIT.failed
    }
    const holder = await store.leaseHolder(id)
    if (holder?.owner.endsWith(CLI_DRIVER) && holder.host === thisProcess.host && holder.pid !== null && !holderGone(holder, thisProcess)) {
      // the process that drives it cancels it, recording what it stopped, as after Ctrl-C, with this reason (without a
      // note, another user's process or a full temporary folder, it records the interrupt)
      leaveCancelNote(holder.pid, id, reason.message)
      process.kill(holder.pid, 'SIGINT')
      if (await endedWithin(store, id, o.waitMs ?? 30_000)) {
        process.stderr.write(`run ${id} cancelled by the process driving it (pid ${holder.pid})\n`)
        return EXIT.completed
      }
      process.stderr.write(`RUN_LEASED: process ${holder.pid} was asked to cancel run ${id} but has not recorded its end yet\n`)
      return EXIT.failed
    }
    const where = holder ? `process ${holder.pid ?? '?'} on ${holder.host ?? 'another host'}` : 'another process'
    process.stderr.write(`RUN_LEASED: run ${id} is driven by ${where}; cancel it there (a server: POST /api/v2/generations/${id}/cancel)\n`)
    return EXIT.failed
  })
}

/** Waits for the run to reach an end, reading the store every 200 ms. */
async function endedWithin(store: RunStore, id: string, ms: number): Promise<boolean> {
  const until = Date.now() + ms
  while (Date.now() < until) {
    const r = await store.getRun(id)
    if (r && !ACTIVE.includes(r.status)) return true
    await new Promise((resolve) => setTimeout(resolve, 200))
  }
  return false
}
