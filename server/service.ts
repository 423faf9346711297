// What the HTTP and WebSocket layers ask of the engine: start, read, cancel and decide generations, and
// follow their events. Handlers call this; they never touch the store or a run's driver directly.
import type { Diagnostic } from '../engine/errors.ts'
import type { GraphNode } from './pipeline-graph.ts'
import type { ApprovalRequest, Decision, RunEvent, RunRecord, RunStatus } from '../engine/ports.ts'

/** A generation to start (the HTTP body, already validated and mapped to pipeline inputs and config). */
export interface StartGeneration {
  /** Pipeline name: `pipelines/<name>.yaml` under the server's pipelines folder. */
  pipeline: string
  /** Run inputs by name (checked against the pipeline's `inputs:`; problems → INPUT_INVALID). */
  inputs: Record<string, unknown>
  /** Config overrides as dotted paths (`quality.threshold_acceptable` → 70); unknown keys → CONFIG_UNKNOWN. */
  config: Record<string, unknown>
  /** true: approval gates wait for a decision; false: they decide by their `auto` policy. */
  interactive: boolean
  /** Attach to an earlier session (its WebSocket sees this generation too); a new one when absent. */
  sessionId?: string
  /** Who asked (an API key's id), for rate limits and the record. */
  principal?: string
  /**
   * Brand asset URLs from the request. The service fetches them (SSRF-safe, size and time capped, type
   * checked from the bytes) into the generation's folder before the run starts; a refused or unreadable
   * one → ASSET_UNREADABLE (400), naming it. An entry may instead be `upload:<sha256>` (see `saveUpload`):
   * that file is copied where the fetched one would go; an unknown or malformed ref → ASSET_UNREADABLE naming its field.
   */
  brandAssets?: { product_images?: string[]; character_images?: string[]; logo?: string }
}

/** A re-run of a generation (the HTTP body of `POST /generations/:id/rerun`, validated). */
export interface RerunGeneration {
  from?: string
  config?: Record<string, unknown>
  interactive?: boolean
}

export interface Started {
  generationId: string
  sessionId: string
}

/** A stored upload: `ref` (`upload:<id>`) stands for the file in a generation's `brandAssets`. */
export interface SavedUpload {
  /** SHA-256 of the bytes (64 lowercase hex digits): the same bytes always get the same id. */
  uploadId: string
  ref: string
  /** What the bytes are (`image/png`, `image/jpeg`, `image/webp`), whatever the client called them. */
  contentType: string
  /** Bytes. */
  size: number
}

export interface PipelineInfo {
  name: string
  version: string | number
  description?: string
  inputs: Record<string, unknown>
  config: Record<string, unknown>
  /** The nodes and what each depends on, for drawing the DAG. */
  nodes: GraphNode[]
}

export interface ListQuery {
  status?: RunStatus
  limit: number
  /** Opaque cursor from a previous page's `next`. */
  cursor?: string
}

/** The answer to a decision: applied now, or already decided earlier (a repeat is answered, not re-applied). */
export interface DecisionResult {
  applied: boolean
  decision: Decision
}

/**
 * The server's view of the engine. Errors are WeftErrors whose codes the HTTP layer maps to statuses:
 * NOT_FOUND / PIPELINE_NOT_FOUND → 404; INPUT_INVALID / CONFIG_INVALID / CONFIG_UNKNOWN / DECISION_INVALID → 400
 * (details.issues lists every problem with its path); GATE_NOT_WAITING / DECISION_NOT_ALLOWED / RUN_FINISHED → 409.
 */
export interface GenerationService {
  listPipelines(): Promise<PipelineInfo[]>
  /** The YAML text of a served pipeline; PIPELINE_NOT_FOUND when there is none of that name. */
  pipelineSource(name: string): Promise<string>
  /** A generation's pipeline as a graph, read from the file it runs; undefined for an unknown generation. */
  graph(id: string): Promise<GraphNode[] | undefined>
  /** `weft validate --json` for a pipeline given as text (plugins are not loaded from request bodies). */
  validatePipeline(text: string): Promise<{ valid: boolean; diagnostics: Diagnostic[] }>
  /** Validates and records the run, then drives it in the background; resolves once it is recorded. */
  start(req: StartGeneration): Promise<Started>
  /**
   * A new generation of a recorded one's pipeline file with its inputs and config (with `config` overrides): with
   * `from`, the outputs upstream of that node are kept and the node and everything downstream execute again,
   * bypassing the node cache; without it, the cache decides. UNKNOWN_NODE for a `from` the pipeline lacks.
   */
  rerun(id: string, req: RerunGeneration): Promise<Started>
  /**
   * Stores an image for later `upload:` refs, content-addressed (identical bytes share one file). Over the asset
   * size cap → PAYLOAD_TOO_LARGE; not a PNG, JPEG or WebP by its first bytes → ASSET_UNREADABLE.
   */
  saveUpload(bytes: Uint8Array): Promise<SavedUpload>
  get(id: string): Promise<(RunRecord & { session_id: string }) | undefined>
  /**
   * The nodes of a generation the fleet drives that are dispatched and taken by no worker yet (their record says
   * `running`). Undefined when no fleet drives it (the embedded store runs its nodes at once).
   */
  waitingForWorker(id: string): Promise<string[] | undefined>
  list(query: ListQuery): Promise<{ items: Array<RunRecord & { session_id: string }>; next?: string }>
  /** Cancels a pending, running or waiting generation (`why` recorded as `cancelled: <why>`); RUN_FINISHED when it has already ended. */
  cancel(id: string, why?: string): Promise<void>
  /** Applies a decision to a gate that is waiting; exactly once across repeats and restarts. */
  /** `revision`: the revision the decision answers; one for an earlier revision is answered as a repeat. */
  decide(id: string, gate: string, decision: Decision & { revision?: number }): Promise<DecisionResult>
  /** Gates waiting for a decision, for clients that (re)connect. */
  pendingApprovals(id: string): Promise<ApprovalRequest[]>
  /** Events with `seq > afterSeq`, in order (replay after a reconnect). */
  events(id: string, afterSeq: number): Promise<RunEvent[]>
  /** Generations of a session, oldest first. */
  sessionGenerations(sessionId: string): Promise<string[]>
  /** Live events of every generation in a session, in order per generation. Returns an unsubscribe function. */
  subscribe(sessionId: string, listener: (event: RunEvent) => void): () => void
  /** The folder holding a generation's files (artifacts are served from inside it only). */
  artifactsDir(id: string): string
  close(): Promise<void>
}
