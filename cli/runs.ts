// `weft runs` and `weft show <id>`: the recorded runs, and one run in full.
import { formatDuration } from '../engine/duration.ts'
import { formatUsage, isEmpty, runUsage } from '../engine/usage.ts'
import type { RunEvent, RunRecord, RunStatus } from '../engine/ports.ts'
import { EXIT } from './exit.ts'
import { withStore } from './store.ts'

const count = (r: RunRecord, status: string) => Object.values(r.nodes).filter((n) => n.status === status).length

/** Where a run stands: its stage while it runs, where it stopped when it failed or was cancelled, nothing once completed. */
export function stageNote(r: Pick<RunRecord, 'status' | 'current_stage'>): string | undefined {
  if (!r.current_stage || r.status === 'completed') return undefined
  return r.status === 'failed' || r.status === 'cancelled' ? `at stage ${r.current_stage}` : `stage ${r.current_stage}`
}

export async function runsCommand(o: { status?: RunStatus; limit: number; json?: boolean }): Promise<number> {
  const runs = await withStore('db', (store) => store.listRuns({ ...(o.status ? { status: o.status } : {}), limit: o.limit }))
  if (o.json) {
    process.stdout.write(
      JSON.stringify(
        runs.map(({ nodes, ...run }) => ({ ...run, node_counts: tally(nodes) })),
        null,
        2,
      ) + '\n',
    )
    return 0
  }
  if (runs.length === 0) process.stdout.write('no runs recorded\n')
  for (const r of runs) {
    const total = Object.keys(r.nodes).length
    const took = r.finished_at && r.started_at ? formatDuration(Date.parse(r.finished_at) - Date.parse(r.started_at)) : ''
    const skipped = count(r, 'skipped')
    process.stdout.write(
      `${r.id}  ${r.status.padEnd(17)} ${r.pipeline.name.padEnd(16)} ${r.created_at}  ${String(count(r, 'succeeded')).padStart(3)}/${total} nodes${skipped ? ` (${skipped} skipped)` : ''}  ${took}${stageNote(r) ? `  ${stageNote(r)}` : ''}${r.error ? `  ${r.error.code}` : ''}\n`,
    )
  }
  return 0
}

function tally(nodes: RunRecord['nodes']): Record<string, number> {
  const out: Record<string, number> = {}
  for (const n of Object.values(nodes)) out[n.status] = (out[n.status] ?? 0) + 1
  return out
}

/** One event as a line: its number, time, type, node and a short payload. */
function eventLine(e: RunEvent): string {
  const payload = Object.keys(e.payload).length ? ` ${JSON.stringify(e.payload)}` : ''
  const short = payload.length > 120 ? `${payload.slice(0, 119)}…` : payload
  return `  #${String(e.seq).padEnd(4)} ${e.timestamp.slice(11, 23)} ${e.type}${e.node ? ` ${e.node}` : ''}${short}`
}

/** `events`: how many of the last events to print (default 100), or `all`. */
export async function showCommand(id: string, o: { json?: boolean; events?: number | 'all' }): Promise<number> {
  return withStore('db', async (store) => {
    const run = await store.getRun(id)
    if (!run) {
      process.stderr.write(`RUN_NOT_FOUND: no run ${id} is recorded\n`)
      return EXIT.invalid
    }
    const events = await store.listEvents(id)
    if (o.json) {
      process.stdout.write(JSON.stringify({ ...run, events }, null, 2) + '\n')
      return 0
    }
    const lines = [
      `run ${run.id}: ${run.status}${stageNote(run) ? ` (${stageNote(run)})` : ''}`,
      `  pipeline ${run.pipeline.name} v${run.pipeline.version} (${run.pipeline.file})`,
      `  created ${run.created_at}${run.finished_at ? `, finished ${run.finished_at}` : ''}`,
      `  inputs ${JSON.stringify(run.inputs)}`,
    ]
    if (run.error) lines.push(`  error ${run.error.code}: ${run.error.message}`)
    // a fleet node dispatched and not yet taken is running in the record; it is shown as what it is: waiting
    const queued = new Set(run.status === 'running' || run.status === 'awaiting_approval' ? ((await store.waitingForWorker?.(id)) ?? []) : [])
    for (const n of Object.values(run.nodes)) {
      const took = n.duration_ms === null ? '' : ` ${formatDuration(n.duration_ms)}`
      const why = n.error ? ` ${n.error.code}: ${n.error.message}` : n.skip_reason ? ` (${n.skip_reason})` : ''
      const cached = n.cache?.hit && n.cache.from ? ` (from run ${n.cache.from.run})` : ''
      const waiting = n.status === 'running' && queued.has(n.id) ? ' (waiting for a worker)' : ''
      lines.push(
        `  ${(waiting ? 'queued' : n.status).padEnd(9)} ${n.id} [${n.type}]${took}${n.attempts > 1 ? ` ×${n.attempts}` : ''}${cached}${waiting}${why}${n.usage ? `  ${formatUsage(n.usage)}` : ''}`,
      )
    }
    const usage = runUsage(Object.values(run.nodes))
    if (!isEmpty(usage.total)) {
      lines.push(`  usage ${formatUsage(usage.total)}`)
      for (const [stage, u] of Object.entries(usage.by_stage)) lines.push(`    ${stage}: ${formatUsage(u)}`)
    }
    if (run.outputs) lines.push(`  outputs ${JSON.stringify(run.outputs).slice(0, 500)}`)
    const limit = o.events === 'all' ? events.length : (o.events ?? 100)
    const shown = events.slice(Math.max(0, events.length - limit))
    lines.push(`  ${events.length} events${shown.length < events.length ? ` (the last ${shown.length}; --events all for every one)` : ''}:`)
    for (const e of shown) lines.push(eventLine(e))
    process.stdout.write(lines.join('\n') + '\n')
    return 0
  })
}
