// An in-memory GenerationService for HTTP tests: records every call, keeps generations in a map, throws scripted errors.
import { mkdtempSync } from 'node:fs'
import { tmpdir } from 'node:os'
import path from 'node:path'
import { WeftError, type Diagnostic } from '../../engine/errors.ts'
import type { ApprovalRequest, Decision, RunEvent, RunRecord, RunStatus } from '../../engine/ports.ts'
import type { DecisionResult, GenerationService, ListQuery, PipelineInfo, RerunGeneration, SavedUpload, StartGeneration, Started } from '../../server/service.ts'
import { ASSET_MEDIA_TYPES, UploadStore } from '../../server/uploads.ts'

export type Generation = RunRecord & { session_id: string }
type Method = Exclude<keyof GenerationService, 'subscribe' | 'artifactsDir' | 'close'>

/** A run record with sensible defaults, for seeding the fake. */
export function generation(id: string, patch: Partial<Generation> = {}): Generation {
  return {
    id,
    session_id: `session-${id}`,
    pipeline: { name: 'default', version: 1, file: '/srv/pipelines/default.yaml' },
    status: 'running',
    interactive: false,
    inputs: { prompt: 'an ad' },
    config: { quality: { threshold_acceptable: 60 } },
    outputs: null,
    error: null,
    current_stage: 'story',
    created_at: '2025-01-01T00:00:00.000Z',
    started_at: '2025-01-01T00:00:01.000Z',
    finished_at: null,
    nodes: {},
    ...patch,
  }
}

export class FakeService implements GenerationService {
  /** Every call, in order: the method and its arguments. */
  readonly calls: Array<{ method: string; args: unknown[] }> = []
  readonly generations = new Map<string, Generation>()
  private rootDir: string | undefined
  /** What `cancel` leaves the record as: `cancelled` (done at once) or `running` (still stopping). */
  cancelTo: RunStatus = 'cancelled'
  pipelines: PipelineInfo[] = [
    {
      name: 'default',
      version: 1,
      description: 'video ad',
      inputs: { prompt: { type: 'string' } },
      config: { parallel: { max_concurrent: 5 } },
      nodes: [
        { id: 'story', type: 'agent', needs: [] },
        { id: 'final', type: 'render', needs: ['story'] },
      ],
    },
  ]
  /** What `pipelineSource` answers, by pipeline name. */
  sources: Record<string, string> = { default: 'pipeline: default\nversion: 1\n' }
  validation: { valid: boolean; diagnostics: Diagnostic[] } = { valid: true, diagnostics: [] }
  private readonly failures = new Map<string, unknown>()
  private seq = 0

  constructor(root?: string) {
    this.rootDir = root
  }

  /** Where `artifactsDir(id)` points: `<root>/<id>` (a temp folder, made on first use). */
  get root(): string {
    return (this.rootDir ??= mkdtempSync(path.join(tmpdir(), 'weft-fake-service-')))
  }

  /** Every later call of `method` throws `err` (until `fail(method, undefined)`). */
  fail(method: Method, err: unknown): this {
    if (err === undefined) this.failures.delete(method)
    else this.failures.set(method, err)
    return this
  }

  /** The arguments of every call of `method`. */
  argsOf(method: string): unknown[][] {
    return this.calls.filter((c) => c.method === method).map((c) => c.args)
  }

  private record(method: Method, ...args: unknown[]): void {
    this.calls.push({ method, args })
    if (this.failures.has(method)) throw this.failures.get(method)
  }

  async listPipelines(): Promise<PipelineInfo[]> {
    this.record('listPipelines')
    return this.pipelines
  }

  async pipelineSource(name: string): Promise<string> {
    this.record('pipelineSource', name)
    const text = this.sources[name]
    if (text === undefined) throw new WeftError('PIPELINE_NOT_FOUND', `no pipeline "${name}"`)
    return text
  }

  async graph(id: string) {
    this.record('graph', id)
    const g = this.generations.get(id)
    return g ? Object.values(g.nodes).map((n) => ({ id: n.id, type: n.type, needs: [] })) : undefined
  }

  async validatePipeline(text: string) {
    this.record('validatePipeline', text)
    return this.validation
  }

  async start(req: StartGeneration): Promise<Started> {
    this.record('start', req)
    const id = `gen-${++this.seq}`
    const sessionId = req.sessionId ?? `session-${id}`
    this.generations.set(
      id,
      generation(id, { session_id: sessionId, inputs: req.inputs, interactive: req.interactive, pipeline: { name: req.pipeline, version: 1, file: `/srv/pipelines/${req.pipeline}.yaml` } }),
    )
    return { generationId: id, sessionId }
  }

  async rerun(id: string, req: RerunGeneration): Promise<Started> {
    this.record('rerun', id, req)
    const g = this.generations.get(id)
    if (!g) throw new WeftError('NOT_FOUND', `no generation ${id}`)
    const newId = `gen-${++this.seq}`
    this.generations.set(newId, generation(newId, { session_id: g.session_id, inputs: g.inputs, interactive: g.interactive, pipeline: g.pipeline }))
    return { generationId: newId, sessionId: g.session_id }
  }

  /** Stores uploads for real, in `<root>/uploads`. */
  async saveUpload(bytes: Uint8Array): Promise<SavedUpload> {
    this.record('saveUpload', bytes.length)
    const saved = await new UploadStore(path.join(this.root, 'uploads')).save(bytes)
    return { uploadId: saved.id, ref: saved.ref, contentType: ASSET_MEDIA_TYPES[saved.type], size: saved.size }
  }

  async get(id: string) {
    this.record('get', id)
    return this.generations.get(id)
  }

  /** Nodes a test says wait for a worker, by generation (none drives the fakes: undefined unless set). */
  readonly waiting = new Map<string, string[]>()

  async waitingForWorker(id: string) {
    return this.waiting.get(id)
  }

  async list(query: ListQuery) {
    this.record('list', query)
    const all = [...this.generations.values()].filter((g) => !query.status || g.status === query.status)
    const from = query.cursor ? Number(query.cursor) : 0
    const items = all.slice(from, from + query.limit)
    return from + query.limit < all.length ? { items, next: String(from + query.limit) } : { items }
  }

  async cancel(id: string, why?: string): Promise<void> {
    this.record('cancel', id, ...(why !== undefined ? [why] : []))
    const g = this.generations.get(id)
    if (g) this.generations.set(id, { ...g, status: this.cancelTo })
  }

  async decide(id: string, gate: string, decision: Decision): Promise<DecisionResult> {
    this.record('decide', id, gate, decision)
    return { applied: true, decision }
  }

  async pendingApprovals(id: string): Promise<ApprovalRequest[]> {
    this.record('pendingApprovals', id)
    return []
  }

  async events(id: string, afterSeq: number): Promise<RunEvent[]> {
    this.record('events', id, afterSeq)
    return []
  }

  async sessionGenerations(sessionId: string): Promise<string[]> {
    this.record('sessionGenerations', sessionId)
    return [...this.generations.values()].filter((g) => g.session_id === sessionId).map((g) => g.id)
  }

  subscribe(sessionId: string): () => void {
    this.calls.push({ method: 'subscribe', args: [sessionId] })
    return () => {}
  }

  artifactsDir(id: string): string {
    return path.join(this.root, id)
  }

  async close(): Promise<void> {
    this.calls.push({ method: 'close', args: [] })
  }
}
