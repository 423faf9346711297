// An in-memory GenerationService for the WebSocket tests: events on demand, scripted gates and errors, recorded decisions.
import { WeftError } from '../../engine/errors.ts'
import type { ApprovalRequest, Decision, RunEvent, RunEventType } from '../../engine/ports.ts'
import type { DecisionResult, GenerationService, Started } from '../../server/service.ts'

type Listener = (event: RunEvent) => void
type Scriptable = 'decide' | 'events' | 'pendingApprovals' | 'sessionGenerations'
type Holdable = 'events' | 'pendingApprovals' | 'sessionGenerations'

/** Where the fake keeps a generation's files: `/srv/weft/generations/<id>`. */
export const FAKE_ARTIFACTS_ROOT = '/srv/weft/generations'

/**
 * Implements the parts of `GenerationService` the WebSocket layer uses; the rest throw NOT_IMPLEMENTED.
 * `decide` follows the service contract: a repeat answers `applied: false` with the recorded decision, a finished
 * run gives RUN_FINISHED, a gate that is not waiting GATE_NOT_WAITING, a decision outside `allowed` DECISION_NOT_ALLOWED.
 */
export class FakeWsService implements GenerationService {
  /** Every `decide` call, in order, with what it answered (or the error code it threw). */
  readonly decideCalls: Array<{ id: string; gate: string; decision: Decision; result: DecisionResult | string }> = []
  private readonly generations = new Map<string, string[]>()
  private readonly sessionOf = new Map<string, string>()
  private readonly logs = new Map<string, RunEvent[]>()
  private readonly waiting = new Map<string, ApprovalRequest[]>()
  private readonly decided = new Map<string, Decision>()
  private readonly finished = new Set<string>()
  private readonly listeners = new Map<string, Set<Listener>>()
  private readonly failures = new Map<Scriptable, unknown>()
  private readonly holds = new Map<Holdable, { released: Promise<void>; called: () => void; snapshotFirst: boolean }>()

  /** Adds a generation to a session (created on first use). */
  addGeneration(sessionId: string, id: string): void {
    this.generations.set(sessionId, [...(this.generations.get(sessionId) ?? []), id])
    this.sessionOf.set(id, sessionId)
    this.logs.set(id, [])
  }

  /** Appends the next event of a generation to its log and hands it to the session's subscribers. */
  emit(id: string, type: RunEventType, payload: Record<string, unknown> = {}, node?: string): RunEvent {
    const log = this.logs.get(id)
    if (!log) throw new Error(`fake: unknown generation ${id}`)
    const event: RunEvent = { seq: log.length + 1, run_id: id, type, timestamp: new Date(Date.UTC(2026, 0, 1, 0, 0, log.length)).toISOString(), payload }
    if (node !== undefined) event.node = node
    log.push(event)
    for (const listener of this.listeners.get(this.sessionOf.get(id)!) ?? []) listener(event)
    return event
  }

  /** Makes a gate wait (as the engine would) and emits its `approval.requested` event. */
  requestApproval(id: string, gate: string, opts: { value?: unknown; allowed?: Array<Decision['decision']>; revision?: number; message?: string } = {}): ApprovalRequest {
    const request: ApprovalRequest = { runId: id, gate, value: opts.value ?? { draft: gate }, allowed: opts.allowed ?? ['approve', 'reject', 'revise'], revision: opts.revision ?? 0 }
    if (opts.message !== undefined) request.message = opts.message
    this.waiting.set(id, [...(this.waiting.get(id) ?? []), request])
    this.emit(id, 'approval.requested', { gate, value: request.value, allowed: request.allowed, revision: request.revision }, gate)
    return request
  }

  /** The next call of `method` throws `error`. */
  failNext(method: Scriptable, error: unknown): void {
    this.failures.set(method, error)
  }

  /**
   * Makes the next call of `method` wait until `release()`; `called` resolves once it has been called. `snapshotFirst`:
   * its answer is read when it is called (events emitted while held are not in it); otherwise on release.
   */
  hold(method: Holdable, opts: { snapshotFirst?: boolean } = {}): { release: () => void; called: Promise<void> } {
    let release!: () => void
    let call!: () => void
    const released = new Promise<void>((resolve) => {
      release = resolve
    })
    const called = new Promise<void>((resolve) => {
      call = resolve
    })
    this.holds.set(method, { released, called: call, snapshotFirst: opts.snapshotFirst ?? false })
    return { release, called }
  }

  /** Live subscriptions of a session. */
  subscribers(sessionId: string): number {
    return this.listeners.get(sessionId)?.size ?? 0
  }

  async sessionGenerations(sessionId: string): Promise<string[]> {
    this.maybeFail('sessionGenerations')
    return this.answer('sessionGenerations', () => [...(this.generations.get(sessionId) ?? [])])
  }

  async pendingApprovals(id: string): Promise<ApprovalRequest[]> {
    this.maybeFail('pendingApprovals')
    return this.answer('pendingApprovals', () => [...(this.waiting.get(id) ?? [])])
  }

  async events(id: string, afterSeq: number): Promise<RunEvent[]> {
    this.maybeFail('events')
    return this.answer('events', () => (this.logs.get(id) ?? []).filter((e) => e.seq > afterSeq))
  }

  subscribe(sessionId: string, listener: Listener): () => void {
    const set = this.listeners.get(sessionId) ?? new Set<Listener>()
    this.listeners.set(sessionId, set)
    // a wrapper, so one listener subscribed twice counts twice
    const entry: Listener = (event) => listener(event)
    set.add(entry)
    return () => {
      set.delete(entry)
    }
  }

  async decide(id: string, gate: string, decision: Decision): Promise<DecisionResult> {
    const call = { id, gate, decision, result: '' as DecisionResult | string }
    this.decideCalls.push(call)
    try {
      this.maybeFail('decide')
      if (!this.logs.has(id)) throw new WeftError('NOT_FOUND', `generation "${id}" does not exist`)
      const earlier = this.decided.get(`${id}\0${gate}`)
      if (earlier) return (call.result = { applied: false, decision: earlier })
      if (this.finished.has(id)) throw new WeftError('RUN_FINISHED', `generation "${id}" has already ended`)
      const request = (this.waiting.get(id) ?? []).find((r) => r.gate === gate)
      if (!request) throw new WeftError('GATE_NOT_WAITING', `gate "${gate}" is not waiting for a decision`)
      if (!request.allowed.includes(decision.decision)) throw new WeftError('DECISION_NOT_ALLOWED', `gate "${gate}" does not allow "${decision.decision}"`)
      this.decided.set(`${id}\0${gate}`, decision)
      this.waiting.set(
        id,
        (this.waiting.get(id) ?? []).filter((r) => r !== request),
      )
      this.emit(id, 'approval.resolved', { gate, ...decision }, gate)
      return (call.result = { applied: true, decision })
    } catch (err) {
      call.result = (err as { code?: string }).code ?? 'ERROR'
      throw err
    }
  }

  async rerun(): Promise<Started> {
    throw new WeftError('NOT_FOUND', 'the fake service does not re-run')
  }

  async cancel(id: string): Promise<void> {
    if (this.finished.has(id)) throw new WeftError('RUN_FINISHED', `generation "${id}" has already ended`)
    this.finished.add(id)
    this.waiting.delete(id)
    this.emit(id, 'run.cancelled', { error: { code: 'CANCELLED', message: 'cancelled' } })
  }

  artifactsDir(id: string): string {
    return `${FAKE_ARTIFACTS_ROOT}/${id}`
  }

  async close(): Promise<void> {
    this.listeners.clear()
  }

  listPipelines(): never {
    return notImplemented('listPipelines')
  }
  validatePipeline(): never {
    return notImplemented('validatePipeline')
  }
  pipelineSource(): never {
    return notImplemented('pipelineSource')
  }
  graph(): never {
    return notImplemented('graph')
  }
  start(): never {
    return notImplemented('start')
  }
  saveUpload(): never {
    return notImplemented('saveUpload')
  }
  get(): never {
    return notImplemented('get')
  }
  waitingForWorker(): never {
    return notImplemented('waitingForWorker')
  }
  list(): never {
    return notImplemented('list')
  }

  private async answer<T>(method: Holdable, read: () => T): Promise<T> {
    const hold = this.holds.get(method)
    if (!hold) return read()
    this.holds.delete(method)
    const early = hold.snapshotFirst ? read() : undefined
    hold.called()
    await hold.released
    return early ?? read()
  }

  private maybeFail(method: Scriptable): void {
    if (!this.failures.has(method)) return
    const error = this.failures.get(method)
    this.failures.delete(method)
    throw error
  }
}

function notImplemented(method: string): never {
  throw new WeftError('NOT_IMPLEMENTED', `the fake service has no ${method}`)
}
