// The OpenAPI 3.1 document of the HTTP API, assembled from the same valibot schemas that validate requests.
import { toJsonSchema, toJsonSchemaDefs, type ConversionConfig, type JsonSchema } from '@valibot/to-json-schema'
import type * as v from 'valibot'
import { CancelRequestSchema, ConfigTreeSchema, DecisionSchema, GenerationRequestSchema, ListQuerySchema, RerunRequestSchema, ValidateBodySchema } from './schemas.ts'
import {
  DecisionResultSchema,
  ErrorBodySchema,
  GenerationAcceptedSchema,
  SessionTokenSchema,
  GenerationPageSchema,
  GenerationSchema,
  HealthSchema,
  GraphSchema,
  PipelineInfoSchema,
  UploadSchema,
  ValidateResultSchema,
} from './response-schemas.ts'
import { MAX_UPLOAD_BYTES, UPLOAD_MEDIA_TYPES } from './uploads.ts'

type AnySchema = v.GenericSchema<unknown> | v.BaseSchema<unknown, unknown, v.BaseIssue<unknown>>

/** Named schemas under `components.schemas`; request and response bodies refer to them. */
const COMPONENTS = {
  GenerationRequest: GenerationRequestSchema,
  RerunRequest: RerunRequestSchema,
  CancelRequest: CancelRequestSchema,
  ConfigTree: ConfigTreeSchema,
  Decision: DecisionSchema,
  ValidateBody: ValidateBodySchema,
  Error: ErrorBodySchema,
  GenerationAccepted: GenerationAcceptedSchema,
  SessionToken: SessionTokenSchema,
  Upload: UploadSchema,
  Generation: GenerationSchema,
  GenerationPage: GenerationPageSchema,
  DecisionResult: DecisionResultSchema,
  PipelineInfo: PipelineInfoSchema,
  Graph: GraphSchema,
  ValidateResult: ValidateResultSchema,
  Health: HealthSchema,
} as const
type ComponentName = keyof typeof COMPONENTS
/** A response body: a component, an array of one (`[]Name`), or a non-JSON media type (`media:type`). */
type Target = ComponentName | `[]${ComponentName}` | `media:${string}`

interface Param {
  name: string
  in: 'path' | 'query'
  description: string
  schema: JsonSchema
  required: boolean
}

/** One documented operation. `path` uses OpenAPI templates (`{id}`); the app's routes must match these one to one. */
export interface RouteDoc {
  method: 'get' | 'post'
  path: string
  operationId: string
  summary: string
  /** false: served without an API key. */
  auth: boolean
  params?: Array<Omit<Param, 'schema' | 'required' | 'in'> & { schema?: JsonSchema }>
  query?: AnySchema & { entries: Record<string, AnySchema> }
  body?: Record<string, JsonSchema | ComponentName>
  /** The body may be left out. */
  optionalBody?: boolean
  /** Status → [description, component or media type]. */
  responses: Record<number, [string, Target]>
  /** Error statuses this operation may answer with (each with the Error body). */
  errors: number[]
}

const id = { name: 'id', description: 'Generation id.' }

/** Every route of the app, in the order the docs list them. */
export const ROUTES: RouteDoc[] = [
  {
    method: 'post',
    path: '/api/v2/generate',
    operationId: 'startGeneration',
    summary: 'Start a generation (runs in the background; follow it on the WebSocket or the status URL).',
    auth: true,
    body: { 'application/json': 'GenerationRequest' },
    responses: { 202: ['Recorded and started.', 'GenerationAccepted'] },
    errors: [400, 401, 404, 413, 415, 429],
  },
  {
    method: 'post',
    path: '/api/v2/uploads',
    operationId: 'uploadAsset',
    summary: `Store a brand asset image (the raw bytes, at most ${MAX_UPLOAD_BYTES / 1024 / 1024} MiB) for \`upload:\` refs in \`brand_assets\`; the same bytes give the same id.`,
    auth: true,
    body: Object.fromEntries(UPLOAD_MEDIA_TYPES.map((type) => [type, { type: 'string', contentMediaType: type }])),
    responses: { 201: ['Stored (or stored before).', 'Upload'] },
    errors: [400, 401, 413, 415, 429],
  },
  {
    method: 'get',
    path: '/api/v2/generations',
    operationId: 'listGenerations',
    summary: 'List generations, newest first, a page at a time.',
    auth: true,
    query: ListQuerySchema,
    responses: { 200: ['A page.', 'GenerationPage'] },
    errors: [400, 401],
  },
  {
    method: 'get',
    path: '/api/v2/generations/{id}',
    operationId: 'getGeneration',
    summary: 'One generation: status, current stage, outputs, per-node states, config, error, session.',
    auth: true,
    params: [id],
    responses: { 200: ['The generation.', 'Generation'] },
    errors: [401, 404],
  },
  {
    method: 'get',
    path: '/api/v2/generations/{id}/graph',
    operationId: 'getGenerationGraph',
    summary: "The pipeline the generation runs as a graph: each node's id, type, stage and what it waits for (for drawing the DAG).",
    auth: true,
    params: [id],
    responses: { 200: ['The graph.', 'Graph'] },
    errors: [401, 404],
  },
  {
    method: 'post',
    path: '/api/v2/generations/{id}/cancel',
    operationId: 'cancelGeneration',
    summary: 'Cancel a pending, running or waiting generation; the body, optional, may say why.',
    auth: true,
    params: [id],
    body: { 'application/json': 'CancelRequest' },
    optionalBody: true,
    responses: { 200: ['Cancelled.', 'Generation'], 202: ['Cancelling: running nodes are being stopped.', 'Generation'] },
    errors: [400, 401, 404, 409, 413, 415],
  },
  {
    method: 'post',
    path: '/api/v2/generations/{id}/rerun',
    operationId: 'rerunGeneration',
    summary:
      "A new generation of this one's pipeline with its inputs and config: with `from`, the outputs upstream of that node are kept and the node and everything downstream execute again; without it, the node cache decides.",
    auth: true,
    params: [id],
    body: { 'application/json': 'RerunRequest' },
    responses: { 202: ['Recorded and started.', 'GenerationAccepted'] },
    errors: [400, 401, 404, 409, 413, 415, 429],
  },
  {
    method: 'post',
    path: '/api/v2/generations/{id}/approvals/{gate}',
    operationId: 'decideGate',
    summary: 'Decide an approval gate that is waiting (REST fallback of the WebSocket `decision` message).',
    auth: true,
    params: [id, { name: 'gate', description: "The approval node's id, or a fan-out item's gate as `<fan_out>[<index>].<step>` (e.g. `videos[3].review`, URL-encoded)." }],
    body: { 'application/json': 'Decision' },
    responses: { 200: ['Applied now, or (applied: false) already applied before.', 'DecisionResult'] },
    errors: [400, 401, 404, 409, 413, 415],
  },
  {
    method: 'get',
    path: '/api/v2/generations/{id}/artifacts/{path}',
    operationId: 'getArtifact',
    summary: "A file of the generation (its path inside the generation's folder); supports Range requests.",
    auth: true,
    params: [id, { name: 'path', description: "Path inside the generation's folder, `/`-separated (e.g. `final.mp4`, `clips/scene-1.mp4`)." }],
    responses: { 200: ['The file.', 'media:application/octet-stream'], 206: ['The requested byte range (Content-Range).', 'media:application/octet-stream'] },
    errors: [400, 401, 404, 416],
  },
  {
    method: 'post',
    path: '/api/v2/sessions/{session_id}/token',
    operationId: 'sessionToken',
    summary: 'A new WebSocket token for a session (tokens expire after 15 minutes; a client reconnecting later asks here).',
    auth: true,
    params: [{ name: 'session_id', description: 'Session id (from `POST /generate`).' }],
    responses: { 200: ['A fresh token.', 'SessionToken'] },
    errors: [401, 404, 429],
  },
  {
    method: 'get',
    path: '/api/v2/pipelines',
    operationId: 'listPipelines',
    summary: 'Pipelines the server can run, with their inputs and config defaults.',
    auth: true,
    responses: { 200: ['The pipelines.', '[]PipelineInfo'] },
    errors: [401],
  },
  {
    method: 'get',
    path: '/api/v2/pipelines/{name}/source',
    operationId: 'pipelineSource',
    summary: 'The YAML text of a pipeline the server runs.',
    auth: true,
    params: [{ name: 'name', description: 'Pipeline name (`default`).' }],
    responses: { 200: ['The YAML.', 'media:text/yaml'] },
    errors: [401, 404],
  },
  {
    method: 'post',
    path: '/api/v2/pipelines/validate',
    operationId: 'validatePipeline',
    summary: 'Validate pipeline YAML, as `weft validate --json` does.',
    auth: true,
    body: { 'text/yaml': { type: 'string' }, 'application/json': 'ValidateBody' },
    responses: { 200: ['Diagnostics (valid or not).', 'ValidateResult'] },
    errors: [400, 401, 413, 415],
  },
  { method: 'get', path: '/openapi.json', operationId: 'openapi', summary: 'This document.', auth: false, responses: { 200: ['OpenAPI 3.1.', 'media:application/json'] }, errors: [] },
  { method: 'get', path: '/docs', operationId: 'docs', summary: 'The API documentation as a page.', auth: false, responses: { 200: ['HTML.', 'media:text/html'] }, errors: [] },
  {
    method: 'get',
    path: '/',
    operationId: 'console',
    summary: 'The web console (a page; it asks for an API key when the server needs one).',
    auth: false,
    responses: { 200: ['HTML.', 'media:text/html'] },
    errors: [],
  },
  {
    method: 'get',
    path: '/assets/{path}',
    operationId: 'consoleAsset',
    summary: "The web console's scripts and styles.",
    auth: false,
    params: [{ name: 'path', description: "File name under the console's assets." }],
    responses: { 200: ['The file.', 'media:application/octet-stream'] },
    errors: [404],
  },
  { method: 'get', path: '/healthz', operationId: 'health', summary: 'Liveness.', auth: false, responses: { 200: ['Up.', 'Health'] }, errors: [] },
]

const ERROR_TEXT: Record<number, string> = {
  400: "Invalid request: every issue with its dotted path (REQUEST_INVALID, JSON_INVALID, or the service's INPUT_INVALID, CONFIG_UNKNOWN…).",
  401: 'Missing or invalid API key (UNAUTHORIZED).',
  404: 'Not found (NOT_FOUND, PIPELINE_NOT_FOUND).',
  409: 'Conflict: the gate is not waiting, the decision is not allowed now, or the run has finished.',
  413: 'Body over the limit (PAYLOAD_TOO_LARGE).',
  415: 'Unsupported Content-Type (UNSUPPORTED_MEDIA_TYPE).',
  416: 'Range outside the file (RANGE_NOT_SATISFIABLE); Content-Range says the size.',
  429: 'Too many requests (RATE_LIMITED); Retry-After says when to retry.',
  500: 'Internal error (INTERNAL); details are in the server log only.',
}

const CONVERSION: ConversionConfig = {
  target: 'draft-2020-12',
  typeMode: 'input',
  errorMode: 'throw',
  // Checks across fields, trimming and number parsing are enforced at runtime; JSON Schema has no words for them.
  ignoreActions: ['trim', 'partial_check', 'check', 'to_number'],
  overrideRef: ({ referenceId }) => `#/components/schemas/${referenceId}`,
  // the one custom schema is the config tree's "a mapping, not a list" (the record after it says the rest)
  overrideSchema: ({ valibotSchema }) =>
    valibotSchema.type === 'custom' ? { type: 'object', description: 'Keys of the pipeline\'s `config:`, nested or dotted (`{ "parallel.max_concurrent": 3 }`), and their values.' } : undefined,
}

const ref = (name: ComponentName): JsonSchema => ({ $ref: `#/components/schemas/${name}` })
function content(target: Target): Record<string, unknown> {
  if (target.startsWith('media:')) return { [target.slice(6)]: {} }
  if (target.startsWith('[]')) return { 'application/json': { schema: { type: 'array', items: ref(target.slice(2) as ComponentName) } } }
  return { 'application/json': { schema: ref(target as ComponentName) } }
}

/** Builds the OpenAPI 3.1 document (`GET /openapi.json`). */
export function openApiDocument(opts: { version?: string; serverUrl?: string } = {}): Record<string, unknown> {
  const schemas = toJsonSchemaDefs(COMPONENTS, CONVERSION) as Record<string, JsonSchema>
  for (const s of Object.values(schemas)) delete (s as { $schema?: string }).$schema
  const paths: Record<string, Record<string, unknown>> = {}
  for (const r of ROUTES) {
    const parameters: Param[] = [
      ...(r.params ?? []).map((p) => ({ name: p.name, in: 'path' as const, description: p.description, required: true, schema: p.schema ?? { type: 'string' } })),
      ...Object.entries(r.query?.entries ?? {}).map(([name, schema]) => queryParam(name, schema)),
    ]
    const responses: Record<string, unknown> = {}
    for (const [status, [description, target]] of Object.entries(r.responses)) responses[status] = { description, content: content(target) }
    for (const status of [...r.errors, 500]) responses[String(status)] = { description: ERROR_TEXT[status], content: content('Error') }
    paths[r.path] = {
      ...paths[r.path],
      [r.method]: {
        operationId: r.operationId,
        summary: r.summary,
        ...(r.auth ? {} : { security: [] }),
        ...(parameters.length ? { parameters } : {}),
        ...(r.body
          ? { requestBody: { required: !r.optionalBody, content: Object.fromEntries(Object.entries(r.body).map(([type, s]) => [type, { schema: typeof s === 'string' ? ref(s) : s }])) } }
          : {}),
        responses,
      },
    }
  }
  return {
    openapi: '3.1.0',
    info: {
      title: 'Weft API',
      version: opts.version ?? '2',
      description:
        'Start generations of a Weft pipeline (the video-ad pipeline by default), follow them, decide their approval gates and fetch their files. Errors are `{ error: { code, message, issues? } }`.',
    },
    ...(opts.serverUrl ? { servers: [{ url: opts.serverUrl }] } : {}),
    security: [{ bearer: [] }, { apiKey: [] }],
    paths,
    components: {
      schemas,
      securitySchemes: {
        bearer: { type: 'http', scheme: 'bearer', description: 'An API key from WEFT_API_KEYS.' },
        apiKey: { type: 'apiKey', in: 'header', name: 'X-API-Key', description: 'An API key from WEFT_API_KEYS.' },
      },
    },
  }
}

function queryParam(name: string, schema: AnySchema): Param {
  const { $schema: _, description, ...json } = toJsonSchema(schema as v.GenericSchema, CONVERSION) as JsonSchema & { $schema?: string; description?: string }
  return { name, in: 'query', description: description ?? '', required: (schema as { type?: string }).type !== 'optional', schema: json }
}
