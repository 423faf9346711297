// `--detach` (`weft run`, `weft rerun`): the run is recorded and its first nodes enqueued in one transaction, for
// `weft worker` processes to drive; this process prints the run's id and exits.
import path from 'node:path'
import type { Pipeline } from '../engine/dsl/pipeline.ts'
import type { NodeRecord } from '../engine/ports.ts'
import { weftDataDir } from '../engine/adapters/open-store.ts'
import type { DriveOptions } from './drive.ts'
import { EXIT } from './exit.ts'
import type { StoreKind } from './store.ts'

export type DetachOptions = DriveOptions & { store?: StoreKind }

/** Why this command cannot hand its run to the fleet (an option that applies only to runs a process drives), or undefined. */
export function detachRefusal(o: DetachOptions): string | undefined {
  if (!process.env.DATABASE_URL) return '--detach hands the run to `weft worker` processes through Postgres: set DATABASE_URL'
  if (o.store === 'memory') return '--detach records the run in Postgres; it cannot use --store memory'
  if (o.cache === false) return '--no-cache applies to runs this process drives; `weft worker` processes apply their own cache rule (start them with WEFT_CACHE=off, or mark nodes `cache: false`)'
  if (o.executor === 'inline') return '--executor applies to runs this process drives; `weft worker` processes run the nodes of a detached run (start them with --executor inline)'
  if (o.decisions !== undefined) {
    return "--decisions answers gates of a run this process drives; a detached run's gates are decided through the API of `weft serve` on the same database (add --interactive to make them wait)"
  }
  return undefined
}

/** What a detached run starts from: its inputs and config, and for a re-run its id, the run it re-runs, and what it keeps. */
export interface DetachedRun {
  inputs: Record<string, unknown>
  config: Record<string, unknown>
  interactive: boolean
  runId?: string
  rerun?: { of: string; kept: Record<string, NodeRecord>; refresh: string[] }
}

/** Records and enqueues the run (refusing the options `detachRefusal` names), prints its id; the exit code. `recorded`: told once it is. */
export async function detach(pipeline: Pipeline, run: DetachedRun, o: DetachOptions, recorded: () => void = () => {}): Promise<number> {
  const refused = detachRefusal(o)
  if (refused) {
    process.stderr.write(`error: ${refused}\n`)
    return EXIT.invalid
  }
  const { openFleet } = await import('../engine/adapters/open-fleet.ts')
  const { newRunRecord } = await import('../engine/fleet/new-run.ts')
  const opened = await openFleet(process.env.DATABASE_URL!, { max: 2 })
  try {
    if (o.concurrency !== undefined) process.stderr.write("note: --concurrency applies to runs driven by this process; a detached run keeps the pipeline's caps\n")
    const record = newRunRecord(pipeline, { inputs: run.inputs, config: run.config, interactive: run.interactive, ...(run.runId ? { runId: run.runId } : {}) })
    // a re-run's kept nodes are recorded as they were; the workers start from what they make ready
    for (const [id, node] of Object.entries(run.rerun?.kept ?? {})) if (record.nodes[id]) record.nodes[id] = node
    const rerun = run.rerun && { of: run.rerun.of, kept: Object.keys(run.rerun.kept), refresh: run.rerun.refresh }
    await opened.fleet.submit(record, path.resolve(o.out ?? path.join(weftDataDir(), 'runs')), rerun)
    recorded()
    if (o.json) process.stdout.write(JSON.stringify({ id: record.id, status: record.status }) + '\n')
    else process.stdout.write(`${record.id}\n`)
    return EXIT.completed
  } finally {
    // the run is recorded (or not) whatever closing the connections does
    await opened.close().catch(() => {})
  }
}
