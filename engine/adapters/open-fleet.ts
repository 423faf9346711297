// Opens the fleet on a Postgres database: the run store (migrated), graphile-worker's schema, and pipelines as workers load them.
import postgres from 'postgres'
import { preparingClient } from '../db/prepared-client.ts'
import type { Pipeline } from '../dsl/pipeline.ts'
import { loadPipeline } from '../dsl/load.ts'
import { WeftError } from '../errors.ts'
import { fileVersions, type FileVersion } from '../file-versions.ts'
import type { RunRecord } from '../ports.ts'
import { checkDatabaseUrl, postgresRunStore } from './postgres-store.ts'
import type { PgRunStore } from './pg-store.ts'
import { PgFleet } from './pg-fleet.ts'
import { migrateQueue } from '../fleet/worker.ts'

export interface OpenFleet {
  fleet: PgFleet
  store: PgRunStore
  url: string
  /** Calls `fn` with each payload of NOTIFYs on `channel` (a connection of its own, re-established after a loss). */
  listen(channel: string, fn: (payload: string) => void): Promise<{ unlisten(): Promise<void> }>
  close(): Promise<void>
}

/**
 * Loads a run's pipeline from its recorded file, once per file version (read at most once a second by default, or now
 * with `recheck`); the file must be where the run was started.
 */
export function pipelineLoader(versions: FileVersion = fileVersions()): (run: RunRecord, opts?: { recheck?: boolean }) => Promise<Pipeline> {
  const cache = new Map<string, { mtimeMs: number; pipeline: Promise<Pipeline> }>()
  return async (run, opts) => {
    const file = run.pipeline.file
    const mtimeMs = await versions(file, opts)
    if (mtimeMs === undefined)
      throw new WeftError('PIPELINE_NOT_FOUND', `run ${run.id} was started from ${file}, which this worker cannot read (every worker needs the same pipeline and prompt files at the same paths)`, {
        retryable: false,
      })
    const hit = cache.get(file)
    if (hit && hit.mtimeMs === mtimeMs) return hit.pipeline
    const pipeline = loadPipeline(file).then(({ pipeline, diagnostics }) => {
      if (!pipeline) throw new WeftError('PIPELINE_INVALID', `${file} no longer validates: ${diagnostics[0]?.message ?? 'invalid'}`, { retryable: false })
      return pipeline
    })
    cache.set(file, { mtimeMs, pipeline })
    pipeline.catch(() => cache.delete(file))
    return pipeline
  }
}

/** Connects to `url`, migrates the store and the queue, and answers the fleet with the store beside it. */
export async function openFleet(url: string, opts: { max?: number } = {}): Promise<OpenFleet> {
  checkDatabaseUrl(url)
  const client = postgres(url, { max: opts.max ?? 10, onnotice: () => {} })
  const store = await postgresRunStore(client)
  try {
    await migrateQueue(url)
  } catch (err) {
    await store.close()
    throw err
  }
  const fleet = new PgFleet(preparingClient(client), { pipelineOf: pipelineLoader() })
  const listen = async (channel: string, fn: (payload: string) => void) => {
    const sub = await client.listen(channel, fn)
    return { unlisten: () => sub.unlisten() }
  }
  return { fleet, store, url, listen, close: () => store.close() }
}
