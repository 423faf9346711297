// `weft resume <id>`: continues a recorded run.
import { formatDiagnostic } from '../engine/errors.ts'
import { loadPipeline } from '../engine/dsl/load.ts'
import { drive, type DriveOptions } from './drive.ts'
import { EXIT } from './exit.ts'
import { FLEET_OWNER } from '../engine/fleet/queue.ts'
import { withStore } from './store.ts'
import { realpathSync } from 'node:fs'
import path from 'node:path'
import { runFolderOf } from '../engine/rerun.ts'

/** A folder's path with its links resolved (as it is written, when it does not exist). */
const real = (dir: string): string => {
  try {
    return realpathSync(dir)
  } catch {
    return dir
  }
}

/** Continues a recorded run: what succeeded is kept, the rest runs. */
export async function resumeCommand(id: string, o: DriveOptions): Promise<number> {
  return withStore('db', async (store) => {
    const record = await store.getRun(id)
    if (!record) {
      process.stderr.write(`RUN_NOT_FOUND: no run ${id} is recorded\n`)
      return EXIT.invalid
    }
    if (record.status === 'completed') {
      process.stderr.write(`run ${id} already completed; nothing to resume\n`)
      if (o.json) process.stdout.write(JSON.stringify(record, null, 2) + '\n')
      return EXIT.completed
    }
    // a fleet run is said to be one before anything else is checked (its pipeline file may be gone: that is one way it ends)
    if ((await store.leaseHolder(id))?.owner === FLEET_OWNER) {
      const ended = record.status === 'failed' || record.status === 'cancelled'
      process.stderr.write(
        ended
          ? `RUN_FINISHED: run ${id} ran on the fleet and has ended (${record.status}); a fleet run is not resumed: re-run it (\`weft rerun ${id} --detach\` hands the new run to the fleet)\n`
          : `RUN_LEASED: run ${id} is driven by the fleet (\`weft worker\` processes); follow it with \`weft show ${id}\`, decide its gates through the API of \`weft serve\`\n`,
      )
      return EXIT.failed
    }
    const { pipeline, diagnostics } = await loadPipeline(record.pipeline.file)
    if (!pipeline) {
      for (const d of diagnostics) process.stderr.write(formatDiagnostic(d) + '\n')
      return EXIT.invalid
    }
    // the run goes on in the folder it has written to: its kept outputs are there, and `final` reads them from there
    const folder = runFolderOf(record, '')
    const out = folder ? path.dirname(folder) : o.out
    if (folder && o.out !== undefined && real(path.resolve(o.out)) !== real(out!)) {
      process.stderr.write(`OUT_CONFLICT: run ${id} writes its files to ${folder}; resume it without --out (or with --out ${out})\n`)
      return EXIT.invalid
    }
    const lastSeq = (await store.listEvents(id)).at(-1)?.seq ?? 0
    try {
      return await drive(pipeline, store, { inputs: record.inputs, config: record.config, resume: { record, lastSeq } }, { ...o, ...(out !== undefined ? { out } : {}) })
    } catch (err) {
      const e = err as { code?: string; message?: string }
      if (e.code !== 'RUN_LEASED' && e.code !== 'RUN_FINISHED') throw err
      process.stderr.write(`${e.code}: ${e.message}\n`)
      return EXIT.failed
    }
  })
}
