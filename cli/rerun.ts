// `weft rerun <id> [--from <node>] [--set …]`: a new run of a recorded run's pipeline file with the same inputs.
import { randomUUID } from 'node:crypto'
import { rm } from 'node:fs/promises'
import path from 'node:path'
import { formatDiagnostic } from '../engine/errors.ts'
import { loadPipeline } from '../engine/dsl/load.ts'
import { resolveConfig } from '../engine/inputs.ts'
import { preflightDiagnostics } from '../engine/preflight.ts'
import { modelCatalogFromEnv } from '../engine/providers.ts'
import { prepareRerun } from '../engine/rerun.ts'
import { weftDataDir } from '../engine/adapters/open-store.ts'
import { drive, type DriveOptions } from './drive.ts'
import { EXIT } from './exit.ts'
import { withStore } from './store.ts'
import { splitPair } from './run.ts'
import { detach, detachRefusal } from './detach.ts'

export interface RerunOptions extends DriveOptions {
  from?: string
  set: string[]
  /** Record and enqueue the new run for the fleet (Postgres), print its id, and return at once. */
  detach?: boolean
}

/**
 * Re-runs a recorded run: with `--from`, the outputs upstream of that node are kept and the node and everything
 * downstream execute again (bypassing the cache); without it, every node runs and the cache decides.
 */
export async function rerunCommand(id: string, o: RerunOptions): Promise<number> {
  // refused before anything is read or copied
  const refused = o.detach ? detachRefusal(o) : undefined
  if (refused) {
    process.stderr.write(`error: ${refused}\n`)
    return EXIT.invalid
  }
  return withStore('db', async (store) => {
    const record = await store.getRun(id)
    if (!record) {
      process.stderr.write(`RUN_NOT_FOUND: no run ${id} is recorded\n`)
      return EXIT.invalid
    }
    const { pipeline, diagnostics } = await loadPipeline(record.pipeline.file)
    if (!pipeline) {
      for (const d of diagnostics) process.stderr.write(formatDiagnostic(d) + '\n')
      return EXIT.invalid
    }
    const sets: Array<{ path: string; value: string }> = []
    for (const pair of o.set) {
      const [k, v] = splitPair(pair)
      if (k === undefined) {
        process.stderr.write(`--set: expected path=value, got "${pair}"\n`)
        return EXIT.invalid
      }
      sets.push({ path: k, value: v! })
    }
    const config = resolveConfig(pipeline, sets, record.config)
    const problems = config.diagnostics.length ? config.diagnostics : preflightDiagnostics(pipeline, record.inputs, config.config, modelCatalogFromEnv())
    if (problems.length) {
      for (const d of problems) process.stderr.write(formatDiagnostic(d) + '\n')
      return EXIT.invalid
    }
    const runsDir = path.resolve(o.out ?? path.join(weftDataDir(), 'runs'))
    const runId = randomUUID()
    let prepared: Awaited<ReturnType<typeof prepareRerun>>
    try {
      prepared = await prepareRerun(pipeline, record, { from: o.from, runsDir, runId })
    } catch (err) {
      const code = (err as { code?: string }).code
      if (code !== 'UNKNOWN_NODE') throw err
      process.stderr.write(`${code}: ${(err as Error).message}\n`)
      return EXIT.invalid
    }
    if (o.detach) {
      // its gates wait for decisions through the API only when asked to (--interactive), as with `weft run --detach`
      const interactive = o.interactive === true
      let submitted = false
      try {
        return await detach(pipeline, { inputs: record.inputs, config: config.config, interactive, runId, rerun: { of: record.id, ...prepared } }, o, () => (submitted = true))
      } catch (err) {
        // nothing recorded: the kept files copied for it go too (a recorded run keeps them, whatever failed after)
        if (!submitted) await rm(path.join(runsDir, runId), { recursive: true, force: true })
        throw err
      }
    }
    return drive(pipeline, store, { inputs: record.inputs, config: config.config, runId, rerun: { of: record.id, kept: prepared.kept } }, { ...o, refresh: prepared.refresh })
  })
}
