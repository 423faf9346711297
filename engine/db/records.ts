// Run records to rows and back. A row that does not read as a valid record comes back as a failed run (RUN_RECORD_CORRUPT).
import * as v from 'valibot'
import { WeftError, type ErrorInfo } from '../errors.ts'
import type { ApprovalRecord, ApprovalRequest, Decision, NodeRecord, NodeStatus, RunEvent, RunEventType, RunRecord, RunStatus, TaskResult } from '../ports.ts'
import type { generationEvents, generationNodes, generations } from './schema.ts'

export type RunRow = typeof generations.$inferSelect
export type RunInsert = typeof generations.$inferInsert
/** A node's row as both dialects store it (the fleet's step stamp is Postgres's alone). */
export type NodeRow = Omit<typeof generationNodes.$inferSelect, 'fleetStep'>
export type NodeInsert = typeof generationNodes.$inferInsert
export type EventRow = typeof generationEvents.$inferSelect
export type EventInsert = typeof generationEvents.$inferInsert

// keyed by the port's union types, so that adding a status there fails to compile until it is added here
const RUN_STATUS: Record<RunStatus, true> = { pending: true, running: true, awaiting_approval: true, completed: true, failed: true, cancelled: true }
const NODE_STATUS: Record<NodeStatus, true> = { pending: true, running: true, waiting: true, succeeded: true, failed: true, skipped: true, cancelled: true }

/** Every run status, for SQL filters. */
export const RUN_STATUSES = Object.keys(RUN_STATUS) as RunStatus[]

const EPOCH = new Date(0).toISOString()

// ---- writing ----

/** A timestamp of a record as a Date; rejects what is not a date rather than storing garbage. */
function toDate(value: string | null | undefined, what: string): Date | null {
  if (value === null || value === undefined) return null
  const d = new Date(value)
  if (Number.isNaN(d.getTime())) throw new WeftError('STORE_WRITE_INVALID', `${what} is not a timestamp: ${JSON.stringify(value)}`, { retryable: false })
  return d
}

const text = (x: unknown): string | null => (typeof x === 'string' ? x : null)

/** The product's columns that come from a run's inputs. */
function inputColumns(inputs: Record<string, unknown>): Partial<RunInsert> {
  // brand assets arrive as one `brand_assets` input, or as the default pipeline's three
  const split = ['product_images', 'character_images', 'logo'].filter((k) => inputs[k] !== undefined && inputs[k] !== null)
  const brandAssets = inputs.brand_assets ?? (split.length ? Object.fromEntries(split.map((k) => [k, inputs[k]])) : null)
  return { prompt: text(inputs.prompt), framework: text(inputs.framework), brandAssets }
}

/** The product's columns that come from a run's outputs (all null while there are none). */
function outputColumns(outputs: Record<string, unknown> | null): Partial<RunInsert> {
  const o = outputs ?? {}
  return {
    storyText: text(o.story_text),
    referenceImages: o.reference_images ?? null,
    scenes: o.scenes ?? null,
    videoClips: o.video_clips ?? null,
    finalVideoUrl: text(o.final_video_url) ?? text(o.final_video),
  }
}

/** The columns set by a run patch (the keys it has, plus the columns derived from them). */
export function runColumns(patch: Partial<Omit<RunRecord, 'id' | 'nodes'>>, runId: string): Partial<RunInsert> {
  const set: Partial<RunInsert> = {}
  if (patch.pipeline !== undefined) {
    set.pipelineName = patch.pipeline.name
    set.pipelineVersion = String(patch.pipeline.version)
    set.pipelineVersionNumeric = typeof patch.pipeline.version === 'number'
    set.pipelineFile = patch.pipeline.file
  }
  if (patch.status !== undefined) set.status = patch.status
  if (patch.interactive !== undefined) set.interactive = patch.interactive
  if (patch.inputs !== undefined) Object.assign(set, { inputs: patch.inputs }, inputColumns(patch.inputs))
  if (patch.config !== undefined) set.config = patch.config
  if (patch.outputs !== undefined) Object.assign(set, { outputs: patch.outputs }, outputColumns(patch.outputs))
  if (patch.error !== undefined) Object.assign(set, { error: patch.error, errorMessage: patch.error?.message ?? null })
  if (patch.current_stage !== undefined) set.currentStage = patch.current_stage
  if (patch.session_id !== undefined) set.sessionId = patch.session_id
  if (patch.folder !== undefined) set.folder = patch.folder
  if (patch.created_at !== undefined) set.createdAt = toDate(patch.created_at, `run ${runId}: created_at`)!
  if (patch.started_at !== undefined) set.startedAt = toDate(patch.started_at, `run ${runId}: started_at`)
  if (patch.finished_at !== undefined) set.finishedAt = toDate(patch.finished_at, `run ${runId}: finished_at`)
  return set
}

/** The `generations` row of a new run (its nodes go in separately). */
export function runRow(run: RunRecord): RunInsert {
  const { id, nodes: _nodes, ...fields } = run
  return { id, ...runColumns(fields, id) } as RunInsert
}

/** The row of one node; `position` is its place in the run as created, null for a node first seen in an update. */
export function nodeRow(runId: string, node: NodeRecord, position: number | null): NodeInsert {
  const what = `run ${runId}, node ${node.id}`
  return {
    runId,
    nodeId: node.id,
    position,
    type: node.type,
    status: node.status,
    attempts: node.attempts,
    startedAt: toDate(node.started_at, `${what}: started_at`),
    finishedAt: toDate(node.finished_at, `${what}: finished_at`),
    durationMs: node.duration_ms,
    output: node.output ?? null,
    error: node.error,
    skipReason: node.skip_reason ?? null,
    stage: node.stage ?? null,
    inputsHash: node.cache?.key ?? null,
    cachedFrom: node.cache?.from ?? null,
    usage: node.usage ?? null,
  }
}

export function eventRow(e: RunEvent): EventInsert {
  return {
    runId: e.run_id,
    seq: e.seq,
    type: e.type,
    node: e.node ?? null,
    timestamp: toDate(e.timestamp, `run ${e.run_id}, event ${e.seq}: timestamp`)!,
    payload: e.payload,
  }
}

// ---- reading ----

const PlainObject = v.custom<Record<string, unknown>>((x) => typeof x === 'object' && x !== null && !Array.isArray(x), 'expected an object')
const ErrorInfoSchema = v.looseObject({ code: v.string(), message: v.string() })
const RunStatusSchema = v.picklist(RUN_STATUSES)
const NodeStatusSchema = v.picklist(Object.keys(NODE_STATUS) as NodeStatus[])
const Duration = v.pipe(v.number(), v.finite())
const CachedFromSchema = v.object({ run: v.string(), node: v.string() })
const Count = v.pipe(v.number(), v.finite(), v.minValue(0))
const UsageSchema = v.object({ model_calls: Count, input_tokens: Count, output_tokens: Count, images: Count, video_s: Count, cost_usd: Count, unpriced: Count })

/** Reads fields one by one, keeping a fallback and a note for each one that does not fit. */
/** A field of a stored run that does not read, by its path in the record (`status`, `nodes.story.started_at`). */
interface ReadIssue {
  path: string
  message: string
}

class FieldReader {
  readonly issues: ReadIssue[] = []

  get<T>(path: string, schema: v.GenericSchema<unknown, T>, value: unknown, fallback: T): T {
    const res = v.safeParse(schema, value)
    if (res.success) return res.output
    this.issues.push({ path, message: res.issues[0].message })
    return fallback
  }

  /** A timestamp column as ISO-8601 with milliseconds; `infinity` and the like do not fit. */
  time(path: string, value: Date | null): string | null {
    if (value === null) return null
    if (!Number.isNaN(value.getTime())) return value.toISOString()
    this.issues.push({ path, message: 'not a finite timestamp' })
    return null
  }
}

function readNode(f: FieldReader, row: NodeRow): NodeRecord {
  const at = `nodes.${row.nodeId}`
  const node: NodeRecord = {
    id: row.nodeId,
    type: row.type,
    status: f.get(`${at}.status`, NodeStatusSchema, row.status, 'failed'),
    attempts: row.attempts,
    started_at: f.time(`${at}.started_at`, row.startedAt),
    finished_at: f.time(`${at}.finished_at`, row.finishedAt),
    duration_ms: f.get(`${at}.duration_ms`, v.nullable(Duration), row.durationMs, null),
    output: row.output ?? null,
    error: f.get(`${at}.error`, v.nullable(ErrorInfoSchema), row.error ?? null, null) as ErrorInfo | null,
  }
  if (row.skipReason !== null) node.skip_reason = row.skipReason
  if (row.stage !== null) node.stage = row.stage
  if (row.usage != null) {
    const usage = f.get(`${at}.usage`, v.nullable(UsageSchema), row.usage, null)
    if (usage) node.usage = usage
  }
  if (row.inputsHash !== null) {
    const from = f.get(`${at}.cache.from`, v.nullable(CachedFromSchema), row.cachedFrom ?? null, null)
    node.cache = { key: row.inputsHash, hit: from !== null, ...(from ? { from } : {}) }
  }
  return node
}

/**
 * A run record from its row and node rows. Never throws: a row that does not read (a status this version
 * does not know, jsonb of the wrong shape, an infinite timestamp) gives a record with status `failed` and
 * error `RUN_RECORD_CORRUPT` listing what did not fit; every field that did read is kept.
 */
export function readRun(row: RunRow, nodeRows: readonly NodeRow[]): RunRecord {
  try {
    const f = new FieldReader()
    const numeric = row.pipelineVersionNumeric
    const version = numeric ? f.get<string | number>('pipeline.version', v.pipe(v.string(), v.transform(Number), v.number()), row.pipelineVersion, row.pipelineVersion) : row.pipelineVersion
    const run: RunRecord = {
      id: row.id,
      pipeline: { name: row.pipelineName, version, file: row.pipelineFile },
      status: f.get('status', RunStatusSchema, row.status, 'failed'),
      interactive: row.interactive,
      inputs: f.get('inputs', PlainObject, row.inputs, {}),
      config: f.get('config', PlainObject, row.config, {}),
      outputs: f.get('outputs', v.nullable(PlainObject), row.outputs ?? null, null),
      error: f.get('error', v.nullable(ErrorInfoSchema), row.error ?? null, null) as ErrorInfo | null,
      current_stage: row.currentStage,
      ...(row.sessionId !== null ? { session_id: row.sessionId } : {}),
      ...(row.folder !== null ? { folder: row.folder } : {}),
      created_at: f.time('created_at', row.createdAt) ?? EPOCH,
      started_at: f.time('started_at', row.startedAt),
      finished_at: f.time('finished_at', row.finishedAt),
      nodes: {},
    }
    for (const n of nodeRows) run.nodes[n.nodeId] = readNode(f, n)
    if (f.issues.length === 0) return run
    return { ...run, status: 'failed', error: corrupt(row, f.issues) }
  } catch (err) {
    // a row that does not even map field by field
    return {
      id: row.id,
      pipeline: { name: String(row.pipelineName), version: String(row.pipelineVersion), file: String(row.pipelineFile) },
      status: 'failed',
      interactive: false,
      inputs: {},
      config: {},
      outputs: null,
      error: corrupt(row, [{ path: '', message: err instanceof Error ? err.message : String(err) }]),
      current_stage: null,
      created_at: EPOCH,
      started_at: null,
      finished_at: null,
      nodes: {},
    }
  }
}

function corrupt(row: RunRow, issues: ReadIssue[]): ErrorInfo {
  return {
    code: 'RUN_RECORD_CORRUPT',
    message: `run ${row.id} cannot be read from the store: ${issues.map((i) => (i.path ? `${i.path}: ${i.message}` : i.message)).join('; ')}`,
    details: { issues, stored_status: row.status, stored_error: row.error ?? null },
    retryable: false,
  }
}

/** An event from its row. Events are only ever written by the store, so they are not checked field by field. */
export function readEvent(row: EventRow): RunEvent {
  const e: RunEvent = {
    seq: row.seq,
    run_id: row.runId,
    type: row.type as RunEventType,
    timestamp: Number.isNaN(row.timestamp.getTime()) ? EPOCH : row.timestamp.toISOString(),
    payload: (row.payload ?? {}) as Record<string, unknown>,
  }
  if (row.node !== null) e.node = row.node
  return e
}

/** An approval from its row (either dialect: the columns read the same). */
export function readApproval(row: { request: unknown; decision: unknown; requestedAt: Date; decidedAt: Date | null }): ApprovalRecord {
  return {
    request: row.request as ApprovalRequest,
    decision: (row.decision ?? null) as Decision | null,
    requested_at: row.requestedAt.toISOString(),
    decided_at: row.decidedAt ? row.decidedAt.toISOString() : null,
  }
}

/** A task result row as stored; undefined for one whose outcome is not a success (it is then not reused: the work runs again). */
export function readResult(row: { key: string; node: string; print: string; outcome: unknown }): TaskResult | undefined {
  const o = row.outcome as TaskResult['outcome'] | null
  if (typeof o !== 'object' || o === null || o.ok !== true) return undefined
  return { key: row.key, node: row.node, print: row.print, outcome: o }
}
