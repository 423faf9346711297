// The WebSocket protocol `weft.v1`: client message schemas, server frame shapes, and run events mapped onto frames.
import * as v from 'valibot'
import type { ApprovalRequest, Decision, RunEvent, RunEventType } from '../engine/ports.ts'
import { valibotIssues, type ApiIssue } from './errors.ts'
import { DecisionSchema } from './schemas.ts'
import { artifactUrl } from './artifacts.ts'
import { gateNode } from '../engine/item-gate.ts'
import { NUL_REFUSED, parseJsonText } from './request-body.ts'

/** The subprotocol a client must offer (and the server selects). */
export const WS_PROTOCOL = 'weft.v1'
/** Prefix of the subprotocol that carries a token from `POST /generate`: `weft.token.<token>`. */
export const WS_TOKEN_PREFIX = 'weft.token.'
/** Prefix of the subprotocol that carries an API key: `weft.key.<key>`. */
export const WS_KEY_PREFIX = 'weft.key.'

const IdSchema = v.pipe(v.string(), v.minLength(1), v.maxLength(128))
/** Echoed as `id` in the reply, so a client can match replies to its messages. */
const RequestIdSchema = v.optional(v.pipe(v.string(), v.maxLength(64)))

/**
 * `approval.decision`: decide a waiting gate. `generation_id` may be left out when the session has exactly
 * one generation. The decision fields follow the HTTP `DecisionSchema` (revise needs feedback, edits go with approve).
 */
const ApprovalDecisionMessageSchema = v.pipe(
  v.strictObject({
    type: v.literal('approval.decision'),
    id: RequestIdSchema,
    generation_id: v.optional(IdSchema),
    gate: IdSchema,
    ...DecisionSchema.entries,
  }),
  // the same cross-field rules as REST, so the two ways to decide cannot drift apart
  v.rawCheck(({ dataset, addIssue }) => {
    if (!dataset.typed) return
    const { decision, feedback, edits, revision } = dataset.value
    const checked = v.safeParse(DecisionSchema, {
      decision,
      ...(feedback === undefined ? {} : { feedback }),
      ...(edits === undefined ? {} : { edits }),
      ...(revision === undefined ? {} : { revision }),
    })
    if (checked.success) return
    for (const issue of checked.issues) addIssue({ message: issue.message, ...(issue.path ? { path: issue.path } : {}) })
  }),
)

/** `resume`: replay a generation's events with `seq > after_seq`, then continue live without gaps or repeats. */
const ResumeMessageSchema = v.strictObject({
  type: v.literal('resume'),
  id: RequestIdSchema,
  generation_id: v.optional(IdSchema),
  after_seq: v.pipe(v.number(), v.safeInteger(), v.minValue(0)),
})

/** `ping`: answered with `pong` (an application-level check; the server also pings at the protocol level). */
const PingMessageSchema = v.strictObject({
  type: v.literal('ping'),
  id: RequestIdSchema,
})

/** Any message a client may send. */
const ClientMessageSchema = v.variant('type', [ApprovalDecisionMessageSchema, ResumeMessageSchema, PingMessageSchema])
export type ClientMessage = v.InferOutput<typeof ClientMessageSchema>
export type ResumeMessage = v.InferOutput<typeof ResumeMessageSchema>

const CLIENT_TYPES = new Set<string>(['approval.decision', 'resume', 'ping'])

/** A run event as sent to clients. `seq` grows by one per generation; `node` is there for node and gate events. */
export interface EventFrame {
  type: RunEventType
  seq: number
  generation_id: string
  node?: string
  payload: Record<string, unknown>
  timestamp: string
}

/**
 * A gate still waiting, announced again on connect (after a reconnect or a server restart). It has no `seq`
 * (`null`): it is a statement about now, not an entry of the event log. `payload.reannounced` is true.
 */
export interface ReannouncedApprovalFrame {
  type: 'approval.requested'
  seq: null
  generation_id: string
  node: string
  payload: { gate: string; value: unknown; allowed: Array<Decision['decision']>; revision: number; message?: string; reannounced: true }
  timestamp: string
}

/** First frame of every connection: the session's generations, oldest first. */
interface SessionAttachedFrame {
  type: 'session.attached'
  session_id: string
  generations: string[]
}

/** Reply to `approval.decision`: `applied: false` when the gate had already been decided (`decision` is the recorded one). */
interface DecisionResultFrame {
  type: 'decision.result'
  id?: string
  generation_id: string
  gate: string
  applied: boolean
  decision: Decision
}

/** Reply to `resume`, sent after the replayed events and before the live ones that follow. */
interface ResumeResultFrame {
  type: 'resume.result'
  id?: string
  generation_id: string
  after_seq: number
  /** How many events were replayed. */
  replayed: number
  /**
   * The last seq sent for this generation: `after_seq` when nothing was replayed, or the generation's last event
   * when `after_seq` was past it (live events follow from there).
   */
  last_seq: number
}

interface PongFrame {
  type: 'pong'
  id?: string
}

/** A problem with a client message, or an error the service reported for it. The connection stays open. */
export interface ErrorFrame {
  type: 'error'
  id?: string
  code: string
  message: string
  issues?: ApiIssue[]
}

export type ServerFrame = EventFrame | ReannouncedApprovalFrame | SessionAttachedFrame | DecisionResultFrame | ResumeResultFrame | PongFrame | ErrorFrame

/** Error codes of the WebSocket layer itself (besides the service's codes, which pass through). */
export const WS_CODES = {
  /** Not JSON, or a binary frame. */
  JSON_INVALID: 'JSON_INVALID',
  /** No `type`, or one the server does not know. */
  MESSAGE_UNKNOWN: 'MESSAGE_UNKNOWN',
  /** A known message with missing or wrong fields (`issues` lists them). */
  MESSAGE_INVALID: 'MESSAGE_INVALID',
  /** `generation_id` left out but the session does not have exactly one generation. */
  GENERATION_REQUIRED: 'GENERATION_REQUIRED',
  /** Messages beyond the per-connection rate were dropped (sent at most once a second). */
  RATE_LIMITED: 'RATE_LIMITED',
  INTERNAL: 'INTERNAL',
} as const

export type ParsedMessage = { ok: true; message: ClientMessage } | { ok: false; frame: ErrorFrame }

/** Parses and validates one text frame from a client. Never throws. */
export function parseClientMessage(text: string): ParsedMessage {
  let data: unknown
  let nul: boolean
  try {
    ;({ value: data, nul } = parseJsonText(text))
  } catch {
    return fail(WS_CODES.JSON_INVALID, 'the message is not JSON')
  }
  const type = typeof data === 'object' && data !== null && !Array.isArray(data) ? (data as { type?: unknown }).type : undefined
  const id = typeof data === 'object' && data !== null && typeof (data as { id?: unknown }).id === 'string' ? (data as { id: string }).id.slice(0, 64) : undefined
  if (typeof type !== 'string' || !CLIENT_TYPES.has(type)) {
    return fail(WS_CODES.MESSAGE_UNKNOWN, `unknown message type ${JSON.stringify(type ?? null)}; expected one of ${[...CLIENT_TYPES].join(', ')}`, id)
  }
  if (nul) return fail(WS_CODES.MESSAGE_INVALID, `invalid "${type}" message: ${NUL_REFUSED}`, id, [{ path: '', message: NUL_REFUSED }])
  const parsed = v.safeParse(ClientMessageSchema, data)
  if (!parsed.success) return fail(WS_CODES.MESSAGE_INVALID, `invalid "${type}" message`, id, valibotIssues(parsed.issues))
  return { ok: true, message: parsed.output }
}

function fail(code: string, message: string, id?: string, issues?: ApiIssue[]): ParsedMessage {
  return { ok: false, frame: errorFrame(code, message, id, issues) }
}

/** An `error` frame; `id` and `issues` only when there are any. */
export function errorFrame(code: string, message: string, id?: string, issues?: ApiIssue[]): ErrorFrame {
  return { type: 'error', ...(id === undefined ? {} : { id }), code, message, ...(issues && issues.length > 0 ? { issues } : {}) }
}

/**
 * A run event as a frame. For `run.completed` whose outputs have a `final_video` file inside the generation's
 * folder, the payload gains `final_video_url` (`/api/v2/generations/<id>/artifacts/<path in the folder>`).
 */
export function toEventFrame(event: RunEvent, artifactsDir?: string): EventFrame {
  let payload = event.payload
  if (event.type === 'run.completed' && artifactsDir !== undefined) {
    const outputs = payload.outputs as Record<string, unknown> | null | undefined
    const url = artifactUrl(event.run_id, artifactsDir, outputs?.final_video)
    if (url !== undefined) payload = { ...payload, final_video_url: url }
  }
  return {
    type: event.type,
    seq: event.seq,
    generation_id: event.run_id,
    ...(event.node === undefined ? {} : { node: event.node }),
    payload,
    timestamp: event.timestamp,
  }
}

/** A waiting gate as a re-announced `approval.requested` frame. */
export function toReannouncedFrame(request: ApprovalRequest, timestamp: string): ReannouncedApprovalFrame {
  return {
    type: 'approval.requested',
    seq: null,
    generation_id: request.runId,
    node: gateNode(request.gate),
    payload: {
      gate: request.gate,
      value: request.value,
      allowed: request.allowed,
      revision: request.revision,
      ...(request.message === undefined ? {} : { message: request.message }),
      reannounced: true,
    },
    timestamp,
  }
}
