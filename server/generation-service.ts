// The server's GenerationService: starts generations from requests and drives them in the background on one
// shared worker pool, records everything through the store, streams events by session, applies decisions
// exactly once, and on start resumes the runs no live process is driving.
import { randomUUID } from 'node:crypto'
import { mkdir, rm } from 'node:fs/promises'
import path from 'node:path'
import type { Pipeline } from '../engine/dsl/pipeline.ts'
import { toErrorInfo, WeftError, type Diagnostic } from '../engine/errors.ts'
import { resolveConfig, resolveRunInputs } from '../engine/inputs.ts'
import { preflightDiagnostics } from '../engine/preflight.ts'
import { decisionProblem } from '../engine/decision-rule.ts'
import { gateNames } from '../engine/gate-names.ts'
import { endUndriven } from '../engine/end-run.ts'
import { ValidatePool } from './validate-pool.ts'
import type { Decision, NodeExecutor, NodeRecord, RunRecord, RunStatus, RunStore } from '../engine/ports.ts'
import { runPipeline } from '../engine/run-pipeline.ts'
import { loadPipeline } from '../engine/dsl/load.ts'
import { PiscinaExecutor } from '../engine/adapters/piscina-executor.ts'
import { catalogOf, providerSettingsFromEnv, type ProviderSettings } from '../engine/providers.ts'
import type { DecisionResult, GenerationService, ListQuery, PipelineInfo, RerunGeneration, SavedUpload, StartGeneration, Started } from './service.ts'
import { SessionHub } from './hub.ts'
import { StoreDecisions } from './decisions.ts'
import { PipelineCatalog } from './pipelines.ts'
import { pipelineGraph } from './pipeline-graph.ts'
import { fetchBrandAssets, standInAssets, type AssetFetcher } from './brand-assets.ts'
import { ASSET_MEDIA_TYPES, UploadStore } from './uploads.ts'
import { FleetEventRelay } from './fleet-events.ts'
import type { PgFleet } from '../engine/adapters/pg-fleet.ts'
import { EVENTS_CHANNEL, FLEET_OWNER } from '../engine/fleet/queue.ts'
import { newRunRecord } from '../engine/fleet/new-run.ts'
import { cacheSettingsFromEnv, withNodeCache, type CacheSettings, type CachedExecution } from '../engine/cache/settings.ts'
import { prepareRerun } from '../engine/rerun.ts'

export interface ServiceOptions {
  store: RunStore
  /** Runs write their files under `<dataDir>/runs/<id>`; uploads are kept in `<dataDir>/uploads`. */
  dataDir: string
  /** Where `pipelines/<name>.yaml` live. */
  pipelinesDir: string
  /** The process's owner id for run leases. */
  owner: string
  leaseTtlMs?: number
  providers?: ProviderSettings
  /** Default: a piscina pool with the providers. The node cache is put in front of it unless `cache` is off. */
  executor?: NodeExecutor
  /** The node cache (default: WEFT_CACHE, WEFT_CACHE_DIR, WEFT_CACHE_MAX, under `dataDir`). */
  cache?: CacheSettings
  /** Fetches brand asset URLs into a folder (default: the SSRF-safe fetcher). */
  fetchAssets?: AssetFetcher
  /** How often a waiting gate looks for decisions recorded by another process (ms). */
  decisionPollMs?: number
  /** Nice value of the default pool's worker threads (default 10): requests are answered before node work. */
  workerNice?: number
  /**
   * Hand generations to the fleet (Postgres) instead of driving them here: they are recorded and enqueued, `weft
   * worker` processes (or worker loops of this server) run them, and their events come back through `listen`.
   */
  fleet?: { fleet: PgFleet; listen(channel: string, fn: (payload: string) => void): Promise<{ unlisten(): Promise<void> }> }
}

const ACTIVE: RunStatus[] = ['pending', 'running', 'awaiting_approval']
const SWEEP_PAGE = 100
type Generation = RunRecord & { session_id: string }

export async function createGenerationService(opts: ServiceOptions): Promise<GenerationService & { resumeInterrupted(): Promise<number>; suspend(): Promise<void> }> {
  const { store, owner } = opts
  const runsDir = path.resolve(opts.dataDir, 'runs')
  await mkdir(runsDir, { recursive: true })
  const catalog = new PipelineCatalog(path.resolve(opts.pipelinesDir))
  const hub = new SessionHub()
  const decisions = new StoreDecisions(store, opts.decisionPollMs)
  const settings = opts.providers ?? providerSettingsFromEnv()
  const models = catalogOf(settings.model)
  /** Client-sent pipelines are checked off this thread, started on the first request. */
  let validator: ValidatePool | undefined
  // a fleet server runs no node work in this service (its worker loops have their own pool)
  const cacheSettings = opts.cache ?? cacheSettingsFromEnv(path.resolve(opts.dataDir))
  let own: CachedExecution | undefined
  const executionOf = (): CachedExecution =>
    (own ??= withNodeCache(() => opts.executor ?? new PiscinaExecutor({ providers: settings, nice: opts.workerNice ?? 10 }), cacheSettings, settings, {
      onProblem: (m) => process.stderr.write(`cache: ${m}\n`),
    }))
  const fetchAssets = opts.fetchAssets ?? fetchBrandAssets
  const uploads = new UploadStore(path.resolve(opts.dataDir, 'uploads'))
  const leaseTtlMs = opts.leaseTtlMs ?? 30_000
  /** Runs this process drives, with the controller that cancels each. */
  const active = new Map<string, { abort: AbortController; done: Promise<unknown>; leaseOwner: string }>()
  let sweeping: Promise<number> | undefined
  const fleet = opts.fleet?.fleet
  const relay = opts.fleet ? new FleetEventRelay(store, hub) : undefined
  const listening = opts.fleet ? await opts.fleet.listen(EVENTS_CHANNEL, (p) => relay!.notify(p)) : undefined

  /** Drives a run in the background; resolves once it is recorded (or rejects if it could not be). */
  function drive(
    pipeline: Pipeline,
    run: {
      id: string
      sessionId: string
      inputs: Record<string, unknown>
      config: Record<string, unknown>
      interactive: boolean
      resume?: { record: RunRecord; lastSeq: number }
      rerun?: { of: string; kept: Record<string, NodeRecord>; refresh: string[] }
    },
  ): Promise<void> {
    const abort = new AbortController()
    const leaseOwner = `${owner}:${run.id.slice(0, 8)}:${randomUUID().slice(0, 8)}`
    hub.bind(run.id, run.sessionId)
    let recorded!: () => void
    let refused!: (err: unknown) => void
    const started = new Promise<void>((res, rej) => ((recorded = res), (refused = rej)))
    const { executor, policy } = executionOf()
    const done = runPipeline({
      pipeline,
      inputs: run.inputs,
      config: run.config,
      executor,
      store,
      decisions,
      cache: run.rerun ? { ...policy, refresh: run.rerun.refresh } : policy,
      ...(run.rerun ? { rerun: { of: run.rerun.of, kept: run.rerun.kept } } : {}),
      runId: run.id,
      sessionId: run.sessionId,
      interactive: run.interactive,
      signal: abort.signal,
      // a lease owner per drive: two drives (or a drive and a cancel) in this process exclude each other too
      workDir: runsDir,
      lease: { owner: leaseOwner, ttlMs: leaseTtlMs },
      events: { emit: (e) => hub.publish(e) },
      onStart: () => recorded(),
      ...(run.resume ? { resume: { ...run.resume, onlyIf: ACTIVE } } : {}),
    })
      .then(
        (record) => record,
        (err) => {
          refused(err)
          return undefined
        },
      )
      .finally(() => {
        active.delete(run.id)
        hub.unbind(run.id)
      })
    active.set(run.id, { abort, done, leaseOwner })
    return started
  }

  async function requireRun(id: string): Promise<RunRecord> {
    const record = await store.getRun(id)
    if (!record) throw new WeftError('NOT_FOUND', `no generation ${id}`, { retryable: false })
    return record
  }

  // what clients see of a run: its session, and not the server's folder of it (its files are served as artifacts)
  const withSession = ({ folder: _, ...r }: RunRecord): Generation => ({ ...r, session_id: r.session_id ?? '' })

  return {
    async listPipelines(): Promise<PipelineInfo[]> {
      const out: PipelineInfo[] = []
      for (const name of await catalog.names()) {
        const p = await catalog.get(name).catch(() => undefined)
        if (p) out.push({ name, version: p.version, ...(p.description ? { description: p.description } : {}), inputs: { ...p.inputs }, config: p.config, nodes: pipelineGraph(p) })
      }
      return out
    },

    pipelineSource: (name: string) => catalog.source(name),

    async graph(id: string) {
      const r = await store.getRun(id)
      if (!r) return undefined
      const p = await catalog.ofFile(r.pipeline.file)
      // the file as it is now, if it is still the pipeline the run ran; the record's nodes it lacks are drawn
      // without edges (as all of them are when the file is gone, changed into another pipeline, or invalid)
      const graph = p && p.name === r.pipeline.name ? pipelineGraph(p).filter((n) => n.id in r.nodes) : []
      const drawn = new Set(graph.map((n) => n.id))
      return [
        ...graph,
        ...Object.values(r.nodes)
          .filter((n) => !drawn.has(n.id))
          .map((n) => ({ id: n.id, type: n.type, needs: [], ...(n.stage ? { stage: n.stage } : {}) })),
      ]
    },

    async validatePipeline(text: string): Promise<{ valid: boolean; diagnostics: Diagnostic[] }> {
      // checked as if it sat with the served pipelines (its prompts resolve there); plugins are not loaded from a request
      const diagnostics = await (validator ??= new ValidatePool()).validate({ file: path.join(catalog.dir, 'request.yaml'), text })
      // the server's own paths are none of the client's business: a file is named by its last part
      const shown = diagnostics.map((d) => ({ ...d, file: 'request.yaml', message: d.message.replace(/(?:\/[\w.@+-]+)+\/([\w.@+-]+)/g, '$1') }))
      return { valid: !shown.some((d) => d.severity === 'error'), diagnostics: shown }
    },

    async start(req: StartGeneration): Promise<Started> {
      const pipeline = await catalog.get(req.pipeline)
      const sessionId = req.sessionId ?? randomUUID()
      const id = randomUUID()
      const inputs = { ...req.inputs }
      const config = resolveConfig(
        pipeline,
        Object.entries(req.config).map(([p, value]) => ({ path: p, value })),
      )
      if (config.diagnostics.length) {
        const code = config.diagnostics.some((d) => d.code === 'CONFIG_UNKNOWN') ? 'CONFIG_UNKNOWN' : 'CONFIG_INVALID'
        throw invalid(code, "the config overrides do not fit the pipeline's config", config.diagnostics)
      }
      // everything else is checked before any brand asset is fetched (with stand-in paths where they will go)
      const standIns = req.brandAssets ? standInAssets(req.brandAssets, pipeline) : {}
      const precheck = resolveRunInputs(pipeline, { ...inputs, ...standIns }, { origin: 'request' })
      if (precheck.diagnostics.length) throw invalid('INPUT_INVALID', "the request does not fit the pipeline's inputs", precheck.diagnostics)
      // the values as the nodes will get them: a threshold of 500 or a concurrency of 0 is refused now, not after paid stages
      const preflighted = preflightDiagnostics(pipeline, precheck.inputs, config.config, models)
      if (preflighted.length) throw invalid('CONFIG_INVALID', 'the config gives nodes values they cannot take', preflighted)
      const runDir = path.join(runsDir, id)
      try {
        if (req.brandAssets) Object.assign(inputs, await fetchAssets(req.brandAssets, path.join(runDir, 'assets'), pipeline, uploads))
        const resolved = resolveRunInputs(pipeline, inputs, { origin: 'request' })
        if (resolved.diagnostics.length) throw invalid('INPUT_INVALID', "the request does not fit the pipeline's inputs", resolved.diagnostics)
        if (fleet) {
          relay!.track(id, sessionId)
          await fleet.submit(newRunRecord(pipeline, { runId: id, sessionId, inputs: resolved.inputs, config: config.config, interactive: req.interactive }), runsDir)
        } else await drive(pipeline, { id, sessionId, inputs: resolved.inputs, config: config.config, interactive: req.interactive })
      } catch (err) {
        // nothing was recorded: leave nothing on disk either, nor anything listening for it
        relay?.untrack(id)
        await rm(runDir, { recursive: true, force: true })
        throw err
      }
      return { generationId: id, sessionId }
    },

    async rerun(id: string, req: RerunGeneration): Promise<Started> {
      const record = await requireRun(id)
      const pipeline = await catalog.ofFile(record.pipeline.file)
      if (!pipeline || pipeline.name !== record.pipeline.name) {
        const why = catalog.serves(record.pipeline.file)
          ? `the pipeline file generation ${id} ran is gone or no longer valid`
          : `generation ${id} ran a pipeline file outside this server's pipelines folder, which the server does not load with its plugins (re-run it with \`weft rerun ${id}\`), or that file is gone`
        throw new WeftError('PIPELINE_NOT_FOUND', why, { retryable: false })
      }
      const config = resolveConfig(
        pipeline,
        Object.entries(req.config ?? {}).map(([p, value]) => ({ path: p, value })),
        record.config,
      )
      if (config.diagnostics.length)
        throw invalid(config.diagnostics.some((d) => d.code === 'CONFIG_UNKNOWN') ? 'CONFIG_UNKNOWN' : 'CONFIG_INVALID', "the config overrides do not fit the pipeline's config", config.diagnostics)
      const preflighted = preflightDiagnostics(pipeline, record.inputs, config.config, models)
      if (preflighted.length) throw invalid('CONFIG_INVALID', 'the config gives nodes values they cannot take', preflighted)
      const newId = randomUUID()
      const sessionId = record.session_id || randomUUID()
      const { kept, refresh } = await prepareRerun(pipeline, record, { from: req.from, runsDir, runId: newId })
      const interactive = req.interactive ?? record.interactive
      try {
        if (fleet) {
          // the kept nodes are recorded as they were; the workers start from what they make ready
          const fresh = newRunRecord(pipeline, { runId: newId, sessionId, inputs: record.inputs, config: config.config, interactive })
          for (const [nodeId, node] of Object.entries(kept)) if (fresh.nodes[nodeId]) fresh.nodes[nodeId] = node
          relay!.track(newId, sessionId)
          await fleet.submit(fresh, runsDir, { of: id, kept: Object.keys(kept), refresh })
        } else await drive(pipeline, { id: newId, sessionId, inputs: record.inputs, config: config.config, interactive, rerun: { of: id, kept, refresh } })
      } catch (err) {
        relay?.untrack(newId)
        await rm(path.join(runsDir, newId), { recursive: true, force: true })
        throw err
      }
      return { generationId: newId, sessionId }
    },

    async saveUpload(bytes: Uint8Array): Promise<SavedUpload> {
      const saved = await uploads.save(bytes)
      return { uploadId: saved.id, ref: saved.ref, contentType: ASSET_MEDIA_TYPES[saved.type], size: saved.size }
    },

    async get(id: string): Promise<Generation | undefined> {
      const r = await store.getRun(id)
      return r && withSession(r)
    },

    async waitingForWorker(id: string): Promise<string[] | undefined> {
      if (!fleet || !store.waitingForWorker || !(await fleet.drives(id))) return undefined
      return store.waitingForWorker(id)
    },

    async list(q: ListQuery) {
      const offset = q.cursor ? decodeCursor(q.cursor) : 0
      const rows = await store.listRuns({ ...(q.status ? { status: q.status } : {}), limit: q.limit + 1, offset })
      const items = rows.slice(0, q.limit).map(withSession)
      return rows.length > q.limit ? { items, next: encodeCursor(offset + q.limit) } : { items }
    },

    async cancel(id: string, why?: string): Promise<void> {
      const message = why ? `cancelled: ${why}` : 'cancelled by request'
      const stopHere = async (): Promise<boolean> => {
        const here = active.get(id)
        if (!here) return false
        here.abort.abort(new WeftError('CANCELLED', message, { retryable: false }))
        await here.done
        return true
      }
      if (await stopHere()) return
      const record = await requireRun(id)
      if (!ACTIVE.includes(record.status)) throw new WeftError('RUN_FINISHED', `generation ${id} has already ended (${record.status})`, { retryable: false })
      // a fleet run is cancelled by a step applied here: its workers are fenced out and stop at their next heartbeat
      if (fleet && (await fleet.drives(id))) {
        await fleet.apply(id, { type: 'cancel', reason: { code: 'CANCELLED', message } })
        return
      }
      // driven by no live process here: take its lease and end it as cancelled
      const ended = await endUndriven(store, owner, leaseTtlMs, id, 'cancelled', { code: 'CANCELLED', message })
      if (ended === 'ended') return
      if (ended === 'over') throw new WeftError('RUN_FINISHED', `generation ${id} has already ended`, { retryable: false })
      // a resume sweep here may have taken it meanwhile
      if (await stopHere()) return
      throw new WeftError('RUN_LEASED', `generation ${id} is being driven by another process; cancel it there`, { retryable: false })
    },

    async decide(id: string, gate: string, decision: Decision & { revision?: number }): Promise<DecisionResult> {
      const record = await requireRun(id)
      const { revision: asked, ...answer } = decision
      const pending = (await store.pendingApprovals(id)).filter((a) => a.request.gate === gate)
      const revision = asked ?? pending.at(-1)?.request.revision ?? (await store.lastApproval(id, gate))?.request.revision
      const approval = revision === undefined ? undefined : await store.getApproval(id, gate, revision)
      // a repeat is answered with the decision that stands, not applied again
      if (approval?.decision) return { applied: false, decision: approval.decision }
      if (!ACTIVE.includes(record.status)) throw new WeftError('RUN_FINISHED', `generation ${id} has already ended (${record.status})`, { retryable: false })
      if (!approval) {
        // a name that is no gate of its pipeline (a typo) is not found; a gate that is not waiting now is a conflict
        const pipeline = await catalog.ofFile(record.pipeline.file).catch(() => undefined)
        const gates = pipeline && pipeline.name === record.pipeline.name ? gateNames(pipeline) : undefined
        if (gates && !gates.has(gate)) {
          throw new WeftError('NOT_FOUND', `no approval gate "${gate}" in generation ${id}'s pipeline; its gates: ${gates.shown.join(', ') || 'none'}`, { retryable: false })
        }
        throw new WeftError('GATE_NOT_WAITING', `gate "${gate}" of generation ${id} is not waiting for a decision`, {
          retryable: false,
          details: { waiting: (await store.pendingApprovals(id)).map((a) => a.request.gate) },
        })
      }
      const problem = decisionProblem(answer, approval.request)
      if (problem) throw new WeftError(problem.code, problem.message, { retryable: false, details: { issues: [{ path: problem.path, message: problem.message }] } })
      const result = await store.decideApproval(id, gate, approval.request.revision, answer)
      if (!result) throw new WeftError('GATE_NOT_WAITING', `gate "${gate}" of generation ${id} is not waiting for a decision`, { retryable: false })
      if (result.applied) decisions.wake(id, gate, approval.request.revision, result.decision)
      return result
    },

    async pendingApprovals(id: string) {
      // a run that has ended asks nothing any more, whatever was left undecided
      const record = await store.getRun(id)
      if (!record || !ACTIVE.includes(record.status)) return []
      return (await store.pendingApprovals(id)).map((a) => a.request)
    },

    events: (id, afterSeq) => store.listEvents(id, afterSeq),

    async sessionGenerations(sessionId: string): Promise<string[]> {
      return (await store.listRuns({ sessionId })).map((r) => r.id)
    },

    subscribe: (sessionId, listener) => hub.subscribe(sessionId, listener),

    artifactsDir: (id) => path.join(runsDir, id),

    /** Resumes every run that is not finished and whose lease has run out; returns how many. One sweep at a time. */
    resumeInterrupted(): Promise<number> {
      sweeping ??= sweep().finally(() => (sweeping = undefined))
      return sweeping
    },

    /** Stops driving without ending the runs (their leases are given up, so the next process resumes them at once). */
    async suspend(): Promise<void> {
      await Promise.all([...active].map(([id, a]) => store.releaseRun(id, a.leaseOwner).catch(() => {})))
    },

    async close(): Promise<void> {
      await listening?.unlisten().catch(() => {})
      for (const { abort } of active.values()) abort.abort(new WeftError('CANCELLED', 'the server is shutting down'))
      await Promise.all([...active.values()].map((a) => a.done))
      await own?.executor.close()
      await validator?.close()
    },
  }

  async function sweep(): Promise<number> {
    let resumed = 0
    // a page at a time: thousands of generations waiting at gates are not all held in memory at once
    const pages = async function* (status: RunStatus) {
      for (let offset = 0; ; offset += SWEEP_PAGE) {
        // the fleet's runs are left out by the query: thousands of them waiting at gates cost the sweep nothing
        const page = await store.listRuns({ status, limit: SWEEP_PAGE, offset, ...(fleet ? { excludeOwner: FLEET_OWNER } : {}) })
        if (page.length) yield page
        if (page.length < SWEEP_PAGE) return
      }
    }
    for (const status of ACTIVE)
      for await (const records of pages(status)) {
        // the fleet's runs are driven by its workers, never resumed here (one whose lease was not yet the fleet's when listed)
        const theFleets = fleet ? await fleet.fleetRuns(records.map((r) => r.id)) : new Set<string>()
        for (const record of records) {
          if (active.has(record.id) || theFleets.has(record.id)) continue
          const { pipeline, diagnostics } = await loadPipeline(record.pipeline.file)
          if (!pipeline) {
            // the pipeline is gone or broken: end the run with the reason instead of stopping the server
            await endUndriven(
              store,
              owner,
              leaseTtlMs,
              record.id,
              'failed',
              toErrorInfo(new WeftError('PIPELINE_INVALID', `cannot resume: pipeline ${record.pipeline.file} does not load (${diagnostics[0]?.code ?? 'unknown'}: ${diagnostics[0]?.message ?? ''})`)),
            )
            continue
          }
          const lastSeq = (await store.listEvents(record.id)).at(-1)?.seq ?? 0
          try {
            await drive(pipeline, {
              id: record.id,
              sessionId: record.session_id ?? record.id,
              inputs: record.inputs,
              config: record.config,
              interactive: record.interactive,
              resume: { record, lastSeq },
            })
            resumed++
          } catch (err) {
            const c = (err as WeftError).code
            if (c !== 'RUN_LEASED' && c !== 'RUN_FINISHED') throw err
          }
        }
      }
    return resumed
  }
}

function invalid(code: string, message: string, diagnostics: Diagnostic[]): WeftError {
  return new WeftError(code, `${message}: ${diagnostics.map((d) => d.message).join('; ')}`, {
    retryable: false,
    details: { issues: diagnostics.map((d) => ({ path: d.path, code: d.code, message: d.message })) },
  })
}

const encodeCursor = (offset: number) => Buffer.from(`o:${offset}`).toString('base64url')
function decodeCursor(cursor: string): number {
  const m = /^o:(\d{1,9})$/.exec(Buffer.from(cursor, 'base64url').toString())
  if (!m) throw new WeftError('CURSOR_INVALID', 'the cursor is not one this server gave out', { retryable: false, details: { issues: [{ path: 'cursor', message: 'invalid cursor' }] } })
  return Number(m[1])
}
