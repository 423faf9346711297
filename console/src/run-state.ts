// What the run view shows, folded from a generation's record and its event frames: a pure reducer, no DOM.
import type { Decision, NodeStatus, RunRecord, RunStatus } from '../../engine/ports.ts'
import type { ErrorInfo } from '../../engine/errors.ts'

export type { RunStatus }
type DecisionKind = Decision['decision']

/** A generation as `GET /api/v2/generations/:id` answers it: the run record and its session. */
export type GenerationRecord = RunRecord & { session_id: string; waiting_for_worker?: string[] }

/** A frame of the WebSocket (`server/ws-messages.ts`): events have a `seq`; a re-announced gate has `seq: null`. */
export interface EventFrame {
  type: string
  seq: number | null
  generation_id: string
  node?: string
  payload: Record<string, unknown>
  timestamp: string
}

interface ItemView {
  status: 'running' | 'succeeded' | 'failed'
  message: string
}

export interface NodeView {
  id: string
  type: string
  status: NodeStatus
  attempts: number
  startedAt: string | null
  finishedAt: string | null
  durationMs: number | null
  error: ErrorInfo | null
  skipReason?: string
  /** The last progress message. */
  message?: string
  /** Critic loops: the score of each draft, in order. */
  scores: number[]
  /** Fan-out items by key (`"3"`), as their progress reports them. */
  items: Record<string, ItemView>
  /** Retries scheduled so far (`node.retrying`). */
  retries: number
}

export interface GateView {
  node: string
  gate: string
  value: unknown
  allowed: DecisionKind[]
  revision: number
  message?: string
}

export interface LogEntry {
  seq: number | null
  type: string
  node?: string
  timestamp: string
  text: string
}

export interface RunView {
  id: string
  status: RunStatus
  stage: string | null
  /** The last event folded in; frames at or below it are repeats and change nothing. */
  lastSeq: number
  nodes: Record<string, NodeView>
  /** Gates waiting for a decision, by gate name. */
  gates: Record<string, GateView>
  log: LogEntry[]
  error: ErrorInfo | null
  finalVideoUrl?: string
  /** Grows when a node's output may have changed: the page reads the record again. */
  outputsVersion: number
  /**
   * A run the fleet drives: the nodes dispatched that no worker has taken yet, as the record last read says (each read
   * replaces it); undefined for a run driven in the server's own process.
   */
  waitingForWorker?: string[]
}

/** A node's status as shown: `queued` for a running node of a fleet run that no worker has taken yet. */
export function shownStatus(view: RunView, id: string): NodeStatus | 'queued' {
  const status = view.nodes[id]?.status ?? 'pending'
  return status === 'running' && view.waitingForWorker?.includes(id) ? 'queued' : status
}

/** Log entries kept (older ones are dropped from the view; the server keeps them all). */
export const LOG_LIMIT = 2000

const ENDED: ReadonlySet<RunStatus> = new Set(['completed', 'failed', 'cancelled'])
export const runEnded = (status: RunStatus): boolean => ENDED.has(status)

function emptyNode(id: string, type = ''): NodeView {
  return { id, type, status: 'pending', attempts: 0, startedAt: null, finishedAt: null, durationMs: null, error: null, scores: [], items: {}, retries: 0 }
}

/** The view of a generation before any event: node states as recorded (events then bring it up to date). */
export function fromRecord(record: GenerationRecord): RunView {
  const nodes: Record<string, NodeView> = {}
  for (const [id, n] of Object.entries(record.nodes)) {
    nodes[id] = {
      ...emptyNode(id, n.type),
      status: n.status,
      attempts: n.attempts,
      startedAt: n.started_at,
      finishedAt: n.finished_at,
      durationMs: n.duration_ms,
      error: n.error,
      ...(n.skip_reason ? { skipReason: n.skip_reason } : {}),
    }
  }
  return {
    id: record.id,
    status: record.status,
    stage: record.current_stage,
    lastSeq: 0,
    nodes,
    gates: {},
    log: [],
    error: record.error,
    outputsVersion: 0,
    ...(record.waiting_for_worker ? { waitingForWorker: record.waiting_for_worker } : {}),
  }
}

/**
 * The record read again (for outputs, durations, attempts). Once events have been folded in, they decide the run's
 * and the nodes' states: a record read while an event was on its way may be older than the view.
 */
export function withRecord(view: RunView, record: GenerationRecord): RunView {
  if (view.lastSeq === 0) {
    const fresh = fromRecord(record)
    return { ...fresh, gates: view.gates, log: view.log, outputsVersion: view.outputsVersion, ...(view.finalVideoUrl ? { finalVideoUrl: view.finalVideoUrl } : {}) }
  }
  const nodes: Record<string, NodeView> = { ...view.nodes }
  for (const [id, n] of Object.entries(record.nodes)) {
    const had = view.nodes[id]
    if (!had) {
      nodes[id] = fromRecord({ ...record, nodes: { [id]: n } }).nodes[id]!
      continue
    }
    // the record's figures for a node in the same state the events put it in
    if (had.status === n.status)
      nodes[id] = {
        ...had,
        attempts: Math.max(had.attempts, n.attempts),
        durationMs: n.duration_ms ?? had.durationMs,
        startedAt: had.startedAt ?? n.started_at,
        finishedAt: had.finishedAt ?? n.finished_at,
        error: had.error ?? n.error,
      }
  }
  const next: RunView = { ...view, stage: view.stage ?? record.current_stage, nodes, error: view.error ?? record.error }
  // what waits for a worker is as the latest read says
  if (record.waiting_for_worker) next.waitingForWorker = record.waiting_for_worker
  else delete next.waitingForWorker
  return next
}

/** Folds one frame into the view. Frames of other generations, and repeats, leave it unchanged. */
export function reduce(view: RunView, frame: EventFrame): RunView {
  return reduceAll(view, [frame])
}

/**
 * Folds frames in order (a replay on connect can be thousands). The view is copied once per batch, and each node
 * once, however many frames touch it; frames of other generations and repeats are skipped.
 */
export function reduceAll(view: RunView, frames: readonly EventFrame[]): RunView {
  let draft: RunView | undefined
  const copied = new Set<string>()
  const added: LogEntry[] = []
  for (const frame of frames) {
    if (frame.generation_id !== view.id) continue
    if (frame.seq !== null && frame.seq <= (draft ?? view).lastSeq) continue
    draft ??= { ...view, nodes: { ...view.nodes }, gates: { ...view.gates } }
    const d = draft
    const node = (id: string): NodeView => {
      if (!copied.has(id)) {
        const had = d.nodes[id] ?? emptyNode(id)
        d.nodes[id] = { ...had, items: { ...had.items }, scores: [...had.scores] }
        copied.add(id)
      }
      return d.nodes[id]!
    }
    apply(d, frame, node)
    if (frame.seq !== null) {
      d.lastSeq = frame.seq
      added.push({ seq: frame.seq, type: frame.type, timestamp: frame.timestamp, text: describe(frame), ...(frame.node ? { node: frame.node } : {}) })
    }
  }
  if (!draft) return view
  if (added.length) {
    const log = view.log.length + added.length > LOG_LIMIT ? view.log.slice(Math.max(0, view.log.length + added.length - LOG_LIMIT)) : view.log.slice()
    for (const e of added.length > LOG_LIMIT ? added.slice(added.length - LOG_LIMIT) : added) log.push(e)
    draft.log = log
  }
  return draft
}

/** Applies one frame to a draft the batch owns (`node(id)` gives a node copy the draft owns). */
function apply(d: RunView, frame: EventFrame, node: (id: string) => NodeView): void {
  const p = frame.payload
  const id = frame.node
  switch (frame.type) {
    case 'run.started':
    case 'run.resumed':
      if (!runEnded(d.status)) d.status = Object.keys(d.gates).length ? 'awaiting_approval' : 'running'
      break
    case 'stage.changed':
      d.stage = typeof p.stage === 'string' ? p.stage : null
      break
    case 'node.started': {
      if (!id) break
      const n = node(id)
      n.status = 'running'
      n.startedAt = frame.timestamp
      n.finishedAt = null
      n.error = null
      if (typeof p.type === 'string') n.type = p.type
      break
    }
    case 'node.progress': {
      if (!id) break
      const n = node(id)
      if (typeof p.message === 'string') n.message = p.message
      if (typeof p.score === 'number' && p.revising === undefined && p.item === undefined) n.scores.push(p.score)
      if (typeof p.item === 'string') {
        const had = n.items[p.item]
        const ended = had?.status === 'succeeded' || had?.status === 'failed' ? had.status : undefined
        // an item's own end, or a step that failed (which fails the item); a step that succeeded leaves it running
        const status = p.item_status === 'succeeded' || p.item_status === 'failed' ? p.item_status : p.step_status === 'failed' ? 'failed' : (ended ?? 'running')
        n.items[p.item] = { status, message: typeof p.message === 'string' ? p.message : (had?.message ?? '') }
      }
      break
    }
    case 'node.retrying': {
      if (!id) break
      const n = node(id)
      n.retries += 1
      n.message = `retrying (attempt ${String(p.next_attempt ?? '?')})`
      break
    }
    case 'node.completed':
    case 'node.failed':
    case 'node.skipped':
    case 'node.cancelled': {
      if (!id) break
      const n = node(id)
      n.status = frame.type === 'node.completed' ? (p.status === 'failed' ? 'failed' : 'succeeded') : frame.type === 'node.failed' ? 'failed' : frame.type === 'node.skipped' ? 'skipped' : 'cancelled'
      n.finishedAt = frame.timestamp
      if (typeof p.attempts === 'number') n.attempts = p.attempts
      if (typeof p.duration_ms === 'number') n.durationMs = p.duration_ms
      if (frame.type === 'node.failed') n.error = asError(p.error) ?? n.error
      if (frame.type === 'node.skipped' && typeof p.reason === 'string') n.skipReason = p.reason
      // items whose steps all ended well are done when their fan-out is
      if (n.status === 'succeeded') for (const [k, item] of Object.entries(n.items)) if (item.status === 'running') n.items[k] = { ...item, status: 'succeeded' }
      d.outputsVersion += 1
      break
    }
    case 'approval.requested': {
      if (!id || typeof p.gate !== 'string') break
      const revision = typeof p.revision === 'number' ? p.revision : 0
      const had = d.gates[p.gate]
      if (had && had.revision > revision) break
      d.gates[p.gate] = { node: id, gate: p.gate, value: p.value, allowed: asDecisions(p.allowed), revision, ...(typeof p.message === 'string' ? { message: p.message } : {}) }
      node(id).status = 'waiting'
      if (!runEnded(d.status)) d.status = 'awaiting_approval'
      break
    }
    case 'approval.resolved': {
      if (typeof p.gate !== 'string') break
      const had = d.gates[p.gate]
      if (had && (typeof p.revision !== 'number' || p.revision >= had.revision)) delete d.gates[p.gate]
      if (id && d.nodes[id]?.status === 'waiting' && !d.gates[p.gate]) node(id).status = 'running'
      if (d.status === 'awaiting_approval' && Object.keys(d.gates).length === 0) d.status = 'running'
      break
    }
    case 'run.completed':
      d.status = 'completed'
      d.gates = {}
      if (typeof p.final_video_url === 'string') d.finalVideoUrl = p.final_video_url
      d.outputsVersion += 1
      break
    case 'run.failed':
      d.status = 'failed'
      d.gates = {}
      d.error = asError(p.error) ?? d.error
      d.outputsVersion += 1
      break
    case 'run.cancelled':
      d.status = 'cancelled'
      d.gates = {}
      break
  }
}

function asError(x: unknown): ErrorInfo | undefined {
  if (typeof x !== 'object' || x === null) return undefined
  const e = x as { code?: unknown; message?: unknown }
  return typeof e.code === 'string' ? { code: e.code, message: typeof e.message === 'string' ? e.message : '' } : undefined
}

function asDecisions(x: unknown): DecisionKind[] {
  const all: DecisionKind[] = ['approve', 'revise', 'reject']
  return Array.isArray(x) ? all.filter((d) => x.includes(d)) : all
}

/** One line for the event log. */
function describe(frame: EventFrame): string {
  const p = frame.payload
  switch (frame.type) {
    case 'run.started':
      return `run started (${String(p.nodes ?? '?')} nodes)`
    case 'stage.changed':
      return `stage ${String(p.stage)}`
    case 'node.started':
      return 'started'
    case 'node.progress':
      return `${typeof p.message === 'string' ? p.message : 'progress'}${typeof p.item === 'string' ? ` [item ${p.item}]` : ''}`
    case 'node.retrying':
      return `retrying: attempt ${String(p.next_attempt)} in ${String(p.delay_ms)} ms${asError(p.error) ? ` after ${asError(p.error)!.code}` : ''}`
    case 'node.completed':
      return `${String(p.status ?? 'succeeded')}${typeof p.duration_ms === 'number' ? ` in ${formatMs(p.duration_ms)}` : ''}`
    case 'node.failed': {
      const e = asError(p.error)
      return e ? `failed: ${e.code}: ${e.message}` : 'failed'
    }
    case 'node.skipped':
      return `skipped${typeof p.reason === 'string' ? `: ${p.reason}` : ''}`
    case 'node.cancelled':
      return 'cancelled'
    case 'approval.requested':
      return `gate ${String(p.gate)} waits for a decision (revision ${String(p.revision ?? 0)})`
    case 'approval.resolved':
      return `gate ${String(p.gate)}: ${String(p.decision)} by ${String(p.by ?? '?')}${typeof p.feedback === 'string' ? ` — “${p.feedback}”` : ''}`
    case 'run.completed':
      return 'run completed'
    case 'run.failed': {
      const e = asError(p.error)
      return e ? `run failed: ${e.code}: ${e.message}` : 'run failed'
    }
    case 'run.cancelled':
      return 'run cancelled'
    default:
      return frame.type
  }
}

/** `850 ms`, `12.4 s`, `3 min 05 s`. */
export function formatMs(ms: number): string {
  if (ms < 1000) return `${Math.round(ms)} ms`
  if (ms < 60_000) return `${(ms / 1000).toFixed(1)} s`
  const s = Math.round(ms / 1000)
  return `${Math.floor(s / 60)} min ${String(s % 60).padStart(2, '0')} s`
}
