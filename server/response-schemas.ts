// Shapes of the API's responses, as valibot schemas: they document the API (openapi.json), they do not validate it.
import * as v from 'valibot'

const Timestamp = v.pipe(v.string(), v.description('ISO 8601 time.'))
const RunStatus = v.picklist(['pending', 'running', 'awaiting_approval', 'completed', 'failed', 'cancelled'])

/** An error as recorded on a run or node (`ErrorInfo`). */
const ErrorInfoSchema = v.object({
  code: v.string(),
  message: v.string(),
  details: v.optional(v.unknown()),
  retryable: v.optional(v.boolean()),
})

/** One problem of a request, at its dotted path. */
const ApiIssueSchema = v.object({
  path: v.pipe(v.string(), v.description('Dotted path inside the body or query; empty for the whole of it.')),
  message: v.string(),
  code: v.optional(v.string()),
})

/** The body of every error response. */
export const ErrorBodySchema = v.object({
  error: v.object({
    code: v.pipe(v.string(), v.description('Stable SCREAMING_SNAKE code: branch on it.')),
    message: v.pipe(v.string(), v.description('For people; may change.')),
    issues: v.optional(v.array(ApiIssueSchema)),
  }),
})

/** `202` of `POST /api/v2/generate`. */
export const GenerationAcceptedSchema = v.object({
  generation_id: v.string(),
  session_id: v.string(),
  websocket_url: v.pipe(v.string(), v.description('`ws(s)://<host>/ws/<session_id>`: live events of every generation in the session.')),
  status_url: v.pipe(v.string(), v.description('`/api/v2/generations/<id>`.')),
  ws_token: v.pipe(v.string(), v.description('Short-lived token for the WebSocket of this session.')),
})

/** `201` of `POST /api/v2/uploads`. */
export const UploadSchema = v.object({
  upload_id: v.pipe(v.string(), v.regex(/^[0-9a-f]{64}$/), v.description('SHA-256 of the bytes: the same file always gets the same id.')),
  ref: v.pipe(v.string(), v.description('`upload:<upload_id>`: give it in `brand_assets` of `POST /api/v2/generate` instead of a URL.')),
  content_type: v.pipe(v.picklist(['image/png', 'image/jpeg', 'image/webp']), v.description("What the bytes are (read from them, not from the request's Content-Type).")),
  size: v.pipe(v.number(), v.integer(), v.description('Bytes.')),
})

/** `200` of `POST /api/v2/sessions/{session_id}/token`. */
export const SessionTokenSchema = v.object({
  session_id: v.string(),
  websocket_url: v.pipe(v.string(), v.description('`ws(s)://<host>/ws/<session_id>`.')),
  ws_token: v.pipe(v.string(), v.description('A new token for the WebSocket of this session, valid 15 minutes.')),
})

const UsageSchema = v.object({
  model_calls: v.number(),
  input_tokens: v.number(),
  output_tokens: v.number(),
  images: v.number(),
  video_s: v.number(),
  cost_usd: v.pipe(v.number(), v.description('Priced by the price table (WEFT_PRICES adds to it).')),
  unpriced: v.pipe(v.number(), v.description('Calls and renders whose model has no price: not in cost_usd.')),
})

const NodeRecordSchema = v.object({
  id: v.string(),
  type: v.string(),
  status: v.picklist(['pending', 'running', 'waiting', 'succeeded', 'failed', 'skipped', 'cancelled']),
  attempts: v.number(),
  started_at: v.nullable(Timestamp),
  finished_at: v.nullable(Timestamp),
  duration_ms: v.nullable(v.number()),
  output: v.unknown(),
  error: v.nullable(ErrorInfoSchema),
  skip_reason: v.optional(v.string()),
  stage: v.optional(v.string()),
  cache: v.optional(
    v.pipe(
      v.object({ key: v.string(), hit: v.boolean(), from: v.optional(v.object({ run: v.string(), node: v.string() })) }),
      v.description("The node cache's part: its key, and for a hit (or an output kept by a re-run) the run and node that computed it."),
    ),
  ),
  usage: v.optional(v.pipe(UsageSchema, v.description("What the node's attempts used through the providers, and its cost."))),
})

/** A generation: the run record and its session. */
export const GenerationSchema = v.object({
  id: v.string(),
  session_id: v.string(),
  pipeline: v.object({ name: v.string(), version: v.union([v.string(), v.number()]), file: v.string() }),
  status: RunStatus,
  interactive: v.boolean(),
  inputs: v.record(v.string(), v.unknown()),
  config: v.pipe(v.record(v.string(), v.unknown()), v.description('The resolved config the run uses (defaults and overrides).')),
  outputs: v.nullable(v.record(v.string(), v.unknown())),
  error: v.nullable(ErrorInfoSchema),
  current_stage: v.nullable(v.string()),
  created_at: Timestamp,
  started_at: v.nullable(Timestamp),
  finished_at: v.nullable(Timestamp),
  nodes: v.pipe(v.record(v.string(), NodeRecordSchema), v.description('Per-node states by node id.')),
  usage: v.optional(
    v.pipe(v.object({ total: UsageSchema, by_stage: v.record(v.string(), UsageSchema) }), v.description('What the run used and cost, in all and per stage. `GET /generations/{id}` only.')),
  ),
  waiting_for_worker: v.optional(
    v.pipe(
      v.array(v.string()),
      v.description(
        "A generation the fleet drives (Postgres), while it runs: the nodes with work in the queue and none of it taken by a worker yet. A node's `status` says `running` from the moment its work is queued; these wait for a worker. `GET /generations/{id}` only.",
      ),
    ),
  ),
  artifacts: v.optional(
    v.pipe(
      v.object({
        final_video_url: v.pipe(v.nullable(v.string()), v.description("The final video's URL, once there is one.")),
        files: v.array(
          v.object({
            node: v.string(),
            item: v.optional(v.pipe(v.number(), v.description('The fan-out item that made it.'))),
            kind: v.pipe(v.string(), v.description('image, video, …')),
            path: v.pipe(v.string(), v.description("Inside the generation's folder.")),
            url: v.string(),
          }),
        ),
      }),
      v.description('Files the nodes made (references, clips, the final video), with their URLs. `GET /generations/{id}` only.'),
    ),
  ),
})

/** A page of generations, newest first. */
export const GenerationPageSchema = v.object({
  items: v.array(GenerationSchema),
  next: v.pipe(v.nullable(v.string()), v.description('Cursor of the next page (pass as `?cursor=`); null on the last page.')),
})

/** The result of a decision. */
export const DecisionResultSchema = v.object({
  applied: v.pipe(v.boolean(), v.description('false when the same decision had been applied before (a repeat is answered, not re-applied).')),
  decision: v.object({
    decision: v.picklist(['approve', 'reject', 'revise']),
    feedback: v.optional(v.string()),
    edits: v.optional(v.unknown()),
    by: v.optional(v.string()),
  }),
})

/** A node of a pipeline's graph. */
const GraphNodeSchema = v.object({
  id: v.string(),
  type: v.string(),
  needs: v.pipe(v.array(v.string()), v.description('Every node this one waits for: its `needs` and the nodes its expressions read.')),
  stage: v.optional(v.string()),
  description: v.optional(v.string()),
})

/** `200` of `GET /api/v2/generations/{id}/graph`. */
export const GraphSchema = v.object({
  nodes: v.pipe(v.array(GraphNodeSchema), v.description("The pipeline the generation runs, node by node, in the file's order.")),
})

/** A pipeline the server can run. */
export const PipelineInfoSchema = v.object({
  name: v.string(),
  version: v.union([v.string(), v.number()]),
  description: v.optional(v.string()),
  inputs: v.pipe(v.record(v.string(), v.unknown()), v.description('Input declarations by name.')),
  config: v.pipe(v.record(v.string(), v.unknown()), v.description('Config defaults.')),
  nodes: v.pipe(v.array(GraphNodeSchema), v.description('The nodes and what each waits for.')),
})

/** `weft validate --json`. */
export const ValidateResultSchema = v.object({
  valid: v.boolean(),
  diagnostics: v.array(
    v.object({
      code: v.string(),
      message: v.string(),
      file: v.string(),
      line: v.number(),
      col: v.number(),
      path: v.string(),
      severity: v.picklist(['error', 'warning']),
      hint: v.optional(v.pipe(v.string(), v.description('What to do about it, when there is more to say than the message.'))),
    }),
  ),
})

export const HealthSchema = v.object({ ok: v.literal(true) })
