// The engine's ports: every way a run's driver reaches storage, execution, events, humans and providers.
import type { ErrorInfo } from './errors.ts'
import type { Progress } from './node-def.ts'
import type { Usage } from './usage.ts'

export type RunStatus = 'pending' | 'running' | 'awaiting_approval' | 'completed' | 'failed' | 'cancelled'
export type NodeStatus = 'pending' | 'running' | 'waiting' | 'succeeded' | 'failed' | 'skipped' | 'cancelled'

/** The state of one node in a run, as stored and as printed by `weft run --json`. */
export interface NodeRecord {
  id: string
  type: string
  status: NodeStatus
  attempts: number
  started_at: string | null
  finished_at: string | null
  duration_ms: number | null
  output: unknown
  error: ErrorInfo | null
  /** Why a node was skipped (`when` was false, a dependency did not succeed, the run stopped). */
  skip_reason?: string
  stage?: string
  /** Set when the node cache took part: a hit says which run computed the output. */
  cache?: CacheNote
  /** What the node's attempts used through the providers (every attempt, a fan-out's items, a gate's revisions). */
  usage?: Usage
}

/** A run: its identity, inputs, resolved config, status and per-node states. */
export interface RunRecord {
  id: string
  pipeline: { name: string; version: string | number; file: string }
  status: RunStatus
  interactive: boolean
  inputs: Record<string, unknown>
  config: Record<string, unknown>
  outputs: Record<string, unknown> | null
  error: ErrorInfo | null
  current_stage: string | null
  created_at: string
  started_at: string | null
  finished_at: string | null
  /** The session the run belongs to (server generations); null for runs started without one. */
  session_id?: string | null
  /** The folder its nodes write in (`<out>/<run id>`), where it was last driven; absent for runs recorded before it was kept. */
  folder?: string | null
  nodes: Record<string, NodeRecord>
}

export type RunEventType =
  | 'run.started'
  | 'run.resumed'
  | 'stage.changed'
  | 'node.started'
  | 'node.progress'
  | 'node.retrying'
  | 'node.completed'
  | 'node.failed'
  | 'node.skipped'
  | 'node.cancelled'
  | 'approval.requested'
  | 'approval.resolved'
  | 'run.completed'
  | 'run.failed'
  | 'run.cancelled'

/** One entry of a run's append-only event log; `seq` grows by one per run. */
export interface RunEvent {
  seq: number
  run_id: string
  type: RunEventType
  node?: string
  timestamp: string
  payload: Record<string, unknown>
}

/** A write a run's driver asks the store to make. A batch is applied atomically, in order. */
export type StoreWrite =
  | { kind: 'run.create'; run: RunRecord }
  | { kind: 'run.update'; runId: string; patch: Partial<Omit<RunRecord, 'id' | 'nodes'>> }
  | { kind: 'node.update'; runId: string; node: NodeRecord }
  | { kind: 'event'; event: RunEvent }
  /** A gate's request for a decision; written once per (run, gate, revision) — a repeat is ignored. */
  | { kind: 'approval.request'; runId: string; request: ApprovalRequest }
  /** A piece of a node's work that succeeded (a fan-out item or step, a gate's revision): kept for a resume; a repeat replaces it. */
  | { kind: 'task.result'; runId: string; result: TaskResult }

/**
 * What a piece of a control node's work (a fan-out item or one of its steps, a revision a gate asked for) came to,
 * kept so that a run resumed in one process does not pay for it again. `print` says what it was asked to do (its
 * type, config and revision): a resume reuses it only for the same request.
 */
export interface TaskResult {
  key: string
  node: string
  print: string
  outcome: Extract<TaskOutcome, { ok: true }>
}

export interface RunQuery {
  status?: RunStatus
  /** Only runs of this session, oldest first. */
  sessionId?: string
  limit?: number
  /** Runs to skip (paging). */
  offset?: number
  /** Leaves out the runs whose lease this owner holds (the fleet's runs, to a process looking for runs to resume). */
  excludeOwner?: string
}

/** The holder of a run's lease: its owner id, the host and process that took it, and when it expires. */
export interface LeaseHolder {
  owner: string
  host: string | null
  pid: number | null
  until: string
}

/** A gate's request and, once decided, its decision. */
export interface ApprovalRecord {
  request: ApprovalRequest
  decision: Decision | null
  requested_at: string
  decided_at: string | null
}

/** Durable record of runs. The memory, SQLite and Postgres stores pass the same contract suite. */
export interface RunStore {
  /** Applies a batch of writes in one transaction. The store may keep the objects; callers must not change them afterwards. */
  write(batch: readonly StoreWrite[]): Promise<void>
  getRun(id: string): Promise<RunRecord | undefined>
  listRuns(query?: RunQuery): Promise<RunRecord[]>
  /** Events of a run with `seq > afterSeq`, in order. */
  listEvents(runId: string, afterSeq?: number): Promise<RunEvent[]>
  /**
   * Takes, or renews, the lease on a run for `owner` for the next `ttlMs`: the one process allowed to
   * drive it. False when another owner holds a lease that has not expired (or the run does not exist), except
   * that a lease whose holder's process is gone from this host is taken over at once.
   */
  claimRun(runId: string, owner: string, ttlMs: number): Promise<boolean>
  /** Who holds the lease on a run, while it holds (undefined when nobody does, or the lease has expired). */
  leaseHolder(runId: string): Promise<LeaseHolder | undefined>
  /** Gives the lease up, if `owner` holds it. */
  releaseRun(runId: string, owner: string): Promise<void>
  /** The request (and decision, if any) of a gate at a revision. */
  getApproval(runId: string, gate: string, revision: number): Promise<ApprovalRecord | undefined>
  /** The latest request of a gate (its highest revision), decided or not; undefined when the gate never asked. */
  lastApproval(runId: string, gate: string): Promise<ApprovalRecord | undefined>
  /** The pieces of work of a run that succeeded (see `TaskResult`), in no particular order. */
  taskResults(runId: string): Promise<TaskResult[]>
  /** Requests of a run that have no decision yet, oldest first. */
  pendingApprovals(runId: string): Promise<ApprovalRecord[]>
  /**
   * Records a decision unless one is recorded already (exactly once, whoever asks first): `applied` says
   * whether this call's decision was the one recorded; `decision` is the recorded one. Undefined when no
   * such request exists.
   */
  decideApproval(runId: string, gate: string, revision: number, decision: Decision): Promise<{ applied: boolean; decision: Decision } | undefined>
  /**
   * The running nodes of a fleet run whose open attempts (or fan-out items) all wait in the queue for a worker.
   * Only a store the fleet shares (Postgres) has it; a run driven in one process never waits so.
   */
  waitingForWorker?(runId: string): Promise<string[]>
  close(): Promise<void>
}

/** One node attempt handed to an executor. Everything in it is structured-cloneable. */
export interface NodeTask {
  runId: string
  nodeId: string
  type: string
  /** URL of the module that defines `type` (a plugin file, or the built-in registry). */
  module: string
  attempt: number
  config: unknown
  run: { id: string; interactive: boolean }
  idempotencyKey: string
  workDir: string
  /** Folders where the node's prompt names are looked up. */
  prompts: string[]
  /** Set when an approval gate sent the node back with feedback. */
  revision?: Revision
  /** Whether this attempt reads and writes the node cache (absent: off). */
  cache?: CacheMode
  /** The run's budget and what it had spent when this attempt started (absent: no limit). */
  budget?: { limit_usd: number; spent_usd: number }
}

/**
 * `use`: a stored result with the same key is taken instead of executing, and a new result is stored. `refresh`:
 * executes whatever is stored (a re-roll), then stores the new result. `off`: neither reads nor writes.
 */
export type CacheMode = 'use' | 'refresh' | 'off'

/** How the node cache took part in a result: its key, and for a hit, which run and node computed it. */
export interface CacheNote {
  key: string
  hit: boolean
  from?: { run: string; node: string }
}

/** A re-run of a gated node asked for by a reviewer: what to change, and the value under review. */
export interface Revision {
  /** 1 for the first revision. */
  round: number
  feedback: string
  previous: unknown
}

/** An attempt's result; `usage` says what it used through the providers (failed attempts spend too). */
export type TaskOutcome = { ok: true; output: unknown; cache?: CacheNote; usage?: Usage } | { ok: false; error: ErrorInfo; usage?: Usage }

/** Runs node attempts (inline, or on worker threads). Never rejects for a node's own error. */
export interface NodeExecutor {
  execute(task: NodeTask, opts: { signal: AbortSignal; onProgress: (p: Progress) => void }): Promise<TaskOutcome>
  close(): Promise<void>
}

/** Receives events as they happen (console, WebSocket). Must not throw or block. */
export interface EventSink {
  emit(event: RunEvent): void
}

/** What a human (or an automated policy) is asked at an approval gate. */
export interface ApprovalRequest {
  runId: string
  gate: string
  /** The value under review (the gated node's output). */
  value: unknown
  allowed: Array<Decision['decision']>
  revision: number
  message?: string
}

export interface Decision {
  decision: 'approve' | 'reject' | 'revise'
  /** With approve: a value that replaces the gated value downstream. */
  edits?: unknown
  /** With revise or reject: what to change, or why. */
  feedback?: string
  /** Who or what decided (`human`, `auto`, a user id). */
  by?: string
}

/** Where approval decisions come from (terminal, WebSocket, automated policy). */
export interface DecisionSource {
  decide(request: ApprovalRequest, signal: AbortSignal): Promise<Decision>
}

/** A language-model call. `schema` (JSON Schema) asks for a JSON answer of that shape. */
export interface ModelRequest {
  prompt: string
  system?: string
  schema?: Record<string, unknown>
  model?: string
  temperature?: number
  /** Free-form hints for deterministic providers (prompt name, variables). */
  meta?: Record<string, unknown>
}
export interface ModelResponse {
  text: string
  json?: unknown
  model: string
  usage?: { input_tokens?: number; output_tokens?: number }
}
export interface ModelProvider {
  readonly name: string
  /** The model a request goes to (its `model`, or the provider's default), for pricing a call before it is made. */
  modelFor?(req: ModelRequest): string
  complete(req: ModelRequest, opts: { signal: AbortSignal; idempotencyKey: string }): Promise<ModelResponse>
}

/** One media job. Paths are absolute; `out` is where the provider must write its file. */
export type MediaRequest = ImageRequest | VideoRequest | StitchRequest

export interface ImageRequest {
  kind: 'image'
  /** What the image shows (a reference image's description). */
  prompt: string
  out: string
  width: number
  height: number
  /** Role of the reference: character, product, environment, logo… */
  role?: string
  /** Colours as `#rrggbb`, dominant first. */
  palette?: string[]
  /** Short label drawn on the image where the provider draws text (local provider). */
  title?: string
  /** Varies the result between re-renders; same seed, same request → same file. */
  seed?: number
  /** The image model (`owner/name[:version]` on Replicate), instead of the provider's default; local media ignores it. */
  model?: string
}

export interface VideoRequest {
  kind: 'video'
  /** The scene: what is seen and what happens. */
  prompt: string
  out: string
  duration_s: number
  width: number
  height: number
  fps: number
  /** Reference images (absolute paths) the clip should stay consistent with; composited by the local provider. */
  images?: string[]
  palette?: string[]
  /** Camera direction (e.g. "slow push-in", "pan left"); the local provider maps it to a motion. */
  camera?: string
  /** On-screen text (the local provider draws it). */
  caption?: string
  seed?: number
  /** The video model (`owner/name[:version]` on Replicate), instead of the provider's default; local media ignores it. */
  model?: string
}

export interface StitchRequest {
  kind: 'stitch'
  out: string
  /** Clips in order (absolute paths). */
  clips: string[]
  /** Between clip i and i+1 (length clips.length - 1); missing entries are cuts. */
  transitions: Array<{ type: 'cut' | 'crossfade' | 'fade'; duration_s: number }>
  /** Fade in at the start and out at the end, in seconds (0: none). */
  fade_s?: number
  fps?: number
}

export interface MediaResult {
  /** The file written (equals the request's `out`, or a sibling with the real extension). */
  path: string
  kind: 'image' | 'video'
  width: number
  height: number
  /** Videos: duration read back from the file. */
  duration_s?: number
  /** The provider (and model) that made it. */
  source: string
}
export interface MediaProvider {
  readonly name: string
  /** What will make a request (as `MediaResult.source` will say), for pricing it before it is made. */
  sourceOf?(req: MediaRequest): string
  render(req: MediaRequest, opts: { signal: AbortSignal; idempotencyKey: string }): Promise<MediaResult>
}
