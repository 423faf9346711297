// Runs a pipeline in this process: a new run, a re-run or a resume, driven by the step function (see
// fleet/local-driver.ts) through the ports (executor, store, events, decisions, clock).
import type { Pipeline } from './dsl/pipeline.ts'
import type { DecisionSource, EventSink, NodeExecutor, NodeRecord, RunRecord, RunStatus, RunStore } from './ports.ts'
import { WeftError } from './errors.ts'
import { systemClock, type Clock } from './clock.ts'
import type { RunCachePolicy } from './cache/policy.ts'
import { driveSteps } from './fleet/local-driver.ts'
import { claimLease } from './claim-lease.ts'

export interface RunOptions {
  pipeline: Pipeline
  /** Run inputs, already checked and with defaults applied (see `resolveRunInputs`). */
  inputs: Record<string, unknown>
  /** The resolved config: defaults with the run's overrides. */
  config: Record<string, unknown>
  executor: NodeExecutor
  store: RunStore
  events?: EventSink
  /** Where approval decisions come from; required when the pipeline has approval gates. */
  decisions?: DecisionSource
  /** Aborting it cancels the run (running nodes see their signal abort). */
  signal?: AbortSignal
  clock?: Clock
  runId?: string
  /** The session the run belongs to (recorded with it; server generations). */
  sessionId?: string
  interactive?: boolean
  /** Base directory for run files; the run's own directory is `<workDir>/<run id>` (a resumed run's is the one recorded, when it has one). */
  workDir?: string
  /** Called with the run id as soon as the run is recorded (before any node starts). */
  onStart?: (runId: string) => void
  /**
   * Continue a recorded run instead of starting a new one: nodes that succeeded (or were skipped by
   * their `when`) keep their record and output and are not executed again; every other node runs.
   * `lastSeq` is the last event sequence number already stored for the run.
   */
  resume?: {
    record: RunRecord
    lastSeq: number
    /** Resume only if, once the lease is held, the stored run still has one of these statuses (else RUN_FINISHED). */
    onlyIf?: RunStatus[]
  }
  /**
   * Drive the run under a lease held in the store (renewed every third of `ttlMs`, default 30 s): a
   * second process cannot drive it at the same time, and a crashed owner's lease runs out.
   */
  lease?: { owner: string; ttlMs?: number }
  /**
   * A re-run of another run: these nodes' records (their outputs already moved into this run's folder) are kept and
   * not executed, like a resume's; a node is kept only with everything it needs. `of` is the run re-run.
   */
  rerun?: { of: string; kept: Record<string, NodeRecord> }
  /** Which nodes read and write the node cache (absent: none; the executor must be a caching one for it to matter). */
  cache?: RunCachePolicy
}

/** Runs a pipeline to the end and returns its final record. Node failures end in the record, not as exceptions. */
export async function runPipeline(opts: RunOptions): Promise<RunRecord> {
  const { resume, lease } = opts
  if (!resume || !lease) return driveSteps(opts)
  // a resume takes the lease first and then reads the run again: what it keeps must be what the store holds now,
  // not what it held before (another process may have driven the run meanwhile, and died)
  const id = resume.record.id
  await claimLease(opts.store, id, lease.owner, lease.ttlMs ?? 30_000, opts.clock ?? systemClock)
  let fresh: RunOptions
  try {
    const record = await opts.store.getRun(id)
    if (!record) {
      throw resume.onlyIf ? new WeftError('RUN_FINISHED', `run ${id} is gone; not resumed`, { retryable: false }) : new WeftError('RUN_NOT_FOUND', `run ${id} is not recorded`, { retryable: false })
    }
    const later = await opts.store.listEvents(id, resume.lastSeq)
    fresh = { ...opts, resume: { ...resume, record, lastSeq: later.at(-1)?.seq ?? resume.lastSeq } }
  } catch (err) {
    await opts.store.releaseRun(id, lease.owner).catch(() => {})
    throw err
  }
  return driveSteps(fresh)
}
