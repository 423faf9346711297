// Drives one run from the command line (new or resumed): store, executor, Ctrl-C, progress, result.
import os from 'node:os'
import path from 'node:path'
import { runPipeline, type RunOptions } from '../engine/run-pipeline.ts'
import type { Pipeline } from '../engine/dsl/pipeline.ts'
import { InlineExecutor } from '../engine/adapters/inline-executor.ts'
import { PiscinaExecutor } from '../engine/adapters/piscina-executor.ts'
import { AutoApprove } from '../engine/adapters/auto-decisions.ts'
import { weftDataDir } from '../engine/adapters/open-store.ts'
import type { DecisionSource, NodeExecutor, RunRecord, RunStore } from '../engine/ports.ts'
import { createProviders, providerSettingsFromEnv, type ProviderSettings } from '../engine/providers.ts'
import { TtyDecisions } from './tty-decisions.ts'
import { FileDecisions } from './file-decisions.ts'
import { gateNames } from '../engine/gate-names.ts'
import { isTypeScriptFile } from '../engine/runtime.ts'
import { createProgressSink } from './progress.ts'
import { parseDuration } from '../engine/duration.ts'
import { takeCancelNote } from './cancel-note.ts'
import { EXIT } from './exit.ts'
import { WeftError } from '../engine/errors.ts'
import { NEEDS_A_PERSON } from '../engine/adapters/sqlite-errors.ts'
import { prices } from '../engine/prices.ts'
import { cacheSettingsFromEnv, withNodeCache, type CacheSettings, type CachedExecution } from '../engine/cache/settings.ts'

export interface DriveOptions {
  json?: boolean
  out?: string
  concurrency?: number
  executor: 'workers' | 'inline'
  /** Approval gates ask on this terminal instead of deciding by their `auto` policy. */
  interactive?: boolean
  /** Approval gates wait for their decision in this JSON or YAML file instead of deciding by their `auto` policy. */
  decisions?: string
  /** false: the run neither reads nor writes the node cache (`--no-cache`). */
  cache?: boolean
  /** Nodes executed again whatever the cache holds (`weft rerun --from`). */
  refresh?: readonly string[]
}

/** This process, as the owner of the runs it drives. */
export const owner = `${os.hostname()}:${process.pid}:${Math.random().toString(36).slice(2, 8)}`

/** Marks the lease of a run a `weft run` (or resume, rerun) process drives: `weft cancel` may interrupt it as Ctrl-C does. */
export const CLI_DRIVER = '/weft-run'

/** How long a run's lease outlives a process that stops renewing it: `WEFT_LEASE_TTL` (e.g. `10s`), default 30 s. */
export function leaseTtlMs(env: Record<string, string | undefined> = process.env): number {
  const ms = env.WEFT_LEASE_TTL ? parseDuration(env.WEFT_LEASE_TTL) : undefined
  return ms !== undefined && ms >= 100 ? ms : 30_000
}

/** Runs (or resumes) and reports; resolves to the exit code. The store stays open (the caller closes it). */
export async function drive(pipeline: Pipeline, store: RunStore, run: Pick<RunOptions, 'inputs' | 'config' | 'resume' | 'rerun' | 'runId'>, o: DriveOptions): Promise<number> {
  if (o.concurrency !== undefined) pipeline.concurrency = o.concurrency
  // a run started with --decisions is recorded as interactive (its gates ask), like one started with --interactive
  const interactive = o.decisions !== undefined || (o.interactive ?? run.resume?.record.interactive ?? false)
  if (interactive && o.decisions === undefined && !(process.stdin.isTTY && process.stderr.isTTY)) {
    process.stderr.write(
      'error: --interactive asks at approval gates on a terminal, and stdin or stderr is not one (pass --decisions <file> to decide in a file, or run a new run without --interactive to let gates decide by their `auto` policy)\n',
    )
    return EXIT.invalid
  }
  let settings: ProviderSettings
  let cacheSettings: CacheSettings
  try {
    settings = providerSettingsFromEnv()
    cacheSettings = cacheSettingsFromEnv(weftDataDir())
    // a price file that does not read stops the run before it starts, not at its first call
    prices()
  } catch (err) {
    process.stderr.write(`error: ${(err as Error).message}\n`)
    return EXIT.invalid
  }
  const sink = o.json ? undefined : createProgressSink(pipeline, process.stderr.isTTY ? process.stderr : undefined)
  const note = (message: string) => (sink ? sink.note(message) : process.stderr.write(message + '\n'))
  const inlineProviders = o.executor === 'inline' ? await createProviders(settings) : undefined
  const makeInner = (): NodeExecutor => (inlineProviders ? new InlineExecutor(inlineProviders) : new PiscinaExecutor({ typescript: pipeline.plugins.some(isTypeScriptFile), providers: settings }))
  let cached: CachedExecution
  try {
    cached = withNodeCache(makeInner, cacheSettings, settings, { off: o.cache === false, ...(o.refresh ? { refresh: o.refresh } : {}), onProblem: (m) => note(`cache: ${m}`) })
  } catch (err) {
    sink?.close()
    process.stderr.write(`${(err as { code?: string }).code ?? 'error'}: ${(err as Error).message}\n`)
    return EXIT.invalid
  }
  const { executor } = cached
  const cancel = new AbortController()
  const decisions: DecisionSource =
    o.decisions !== undefined
      ? new FileDecisions(path.resolve(o.decisions), { gates: gateNames(pipeline), onProblem: (m) => note(`decisions: ${m} (gates wait for a fix)`) })
      : interactive
        ? new TtyDecisions({ pause: () => sink?.pause(), resume: () => sink?.resume() })
        : new AutoApprove()
  let interrupts = 0
  const onSigint = () => {
    interrupts++
    if (interrupts > 1) process.exit(EXIT.cancelled)
    sink?.note('cancelling… (Ctrl-C again to quit at once)')
    // `weft cancel` leaves its reason before it interrupts this process
    const told = runId === undefined ? undefined : takeCancelNote(runId)
    cancel.abort(new WeftError('CANCELLED', told ?? 'cancelled: interrupted (SIGINT)', { retryable: false }))
  }
  let record: RunRecord
  // a resumed run's id is known before it is driven: a cancel while the resume starts up names it
  let runId: string | undefined = run.resume?.record.id
  // a supervisor stopping this process: the run is left as it is, for `weft resume` (or a server) to continue, and its
  // lease let go so that one can at once (what was running is run again there)
  const onSigterm = () => {
    sink?.close()
    const told = runId ? `SIGTERM: run ${runId} stopped before it finished: \`weft resume ${runId}\` continues it\n` : 'SIGTERM: stopped\n'
    process.stderr.write(told)
    const release = runId ? store.releaseRun(runId, owner + CLI_DRIVER).catch(() => {}) : Promise.resolve()
    void release.then(() => process.exit(EXIT.terminated))
  }
  process.on('SIGINT', onSigint)
  process.once('SIGTERM', onSigterm)
  try {
    record = await runPipeline({
      pipeline,
      ...run,
      executor,
      cache: cached.policy,
      store,
      decisions,
      interactive,
      signal: cancel.signal,
      workDir: o.out ?? path.join(weftDataDir(), 'runs'),
      lease: { owner: owner + CLI_DRIVER, ttlMs: leaseTtlMs() },
      ...(sink ? { events: sink } : {}),
      onStart: (id) => {
        runId = id
        if (o.json) process.stderr.write(`run ${id}\n`)
        else sink?.note(`run ${id}`)
      },
    })
  } catch (err) {
    // the store gone for longer than it retries (or the lease lost, or held elsewhere): said in a line, not a stack trace
    const code = (err as { code?: unknown })?.code
    if (typeof code !== 'string') throw err
    sink?.close()
    process.stderr.write(`${code}: ${(err as Error).message}\n`)
    if (runId && code !== 'LEASE_LOST') process.stderr.write(`run ${runId} stopped before it finished: \`weft resume ${runId}\` continues it\n`)
    // a store that needs a person (a full disk, a damaged file) exits as one that cannot be opened does
    return NEEDS_A_PERSON.has(code) ? EXIT.invalid : EXIT.failed
  } finally {
    process.off('SIGINT', onSigint)
    process.off('SIGTERM', onSigterm)
    sink?.close()
    await executor.close()
  }
  if (o.json) process.stdout.write(JSON.stringify(record, null, 2) + '\n')
  else sink?.summary(record)
  return EXIT[record.status as keyof typeof EXIT] ?? EXIT.failed
}
