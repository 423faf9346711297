// The HTTP API (Hono): routes, validation, auth, limits and error mapping over a GenerationService.
import { getConnInfo } from '@hono/node-server/conninfo'
import { Hono, type Context, type MiddlewareHandler } from 'hono'
import { bodyLimit } from 'hono/body-limit'
import { cors } from 'hono/cors'
import * as v from 'valibot'
import { decodeUtf8 } from '../engine/utf8.ts'
import { WeftError } from '../engine/errors.ts'
import type { Decision } from '../engine/ports.ts'
import { runUsage } from '../engine/usage.ts'
import { apiKeyAuth, type ApiKey, type AuthVariables } from './auth.ts'
import { artifactLinks, artifactResponse, decodeSegments, lookupArtifact } from './artifacts.ts'
import { findConsoleDir, mountConsole } from './console-files.ts'
import { loopbackHost } from './hosts.ts'
import { DOCS_CSP, renderDocsPage } from './docs-page.ts'
import { errorResponse, HTTP_CODES, serviceErrorResponse, serviceIssues, valibotIssues } from './errors.ts'
import { openApiDocument } from './openapi.ts'
import { DEFAULT_RATE_LIMIT, rateLimit, TOKEN_RATE_LIMIT, VALIDATE_RATE_LIMIT, type RateLimit } from './rate-limit.ts'
import { DecisionSchema, flatConfig, GenerationRequestSchema, ListQuerySchema, RerunRequestSchema, SessionIdSchema, toStartGeneration, ValidateBodySchema } from './schemas.ts'
import type { GenerationService, Started } from './service.ts'
import { MAX_UPLOAD_BYTES, UPLOAD_MEDIA_TYPES } from './uploads.ts'

/** Issues WebSocket tokens for a session (`createTokens()` in server/tokens.ts has this shape). */
interface TokenIssuer {
  issue(sessionId: string): string
}

/** Where the server writes what it has to say (errors with their stacks never reach a client). */
export interface Logger {
  error(message: string, meta?: Record<string, unknown>): void
  warn?(message: string, meta?: Record<string, unknown>): void
}

export interface AppOptions {
  /** Tokens for the WebSocket URL handed out by `POST /api/v2/generate`. */
  tokens: TokenIssuer
  /** Accepted keys; none (the default) means no authentication — `startServer` then listens on loopback only. */
  apiKeys?: readonly ApiKey[]
  /**
   * `POST /api/v2/generate` per caller (key id, or client IP without keys); `null` turns it off. Default 30/min.
   * `POST /api/v2/uploads` has a budget of its own of the same size.
   */
  rateLimit?: RateLimit | null
  /** Limit of `POST /api/v2/sessions/:id/token` per caller (default 120/min); off when `rateLimit` is null. */
  tokenRateLimit?: RateLimit
  /** Limit of `POST /api/v2/pipelines/validate` per caller (default 120/min); off when `rateLimit` is null. */
  validateRateLimit?: RateLimit
  /** Largest request body in bytes (default 1 MiB); larger → 413, chunked bodies included. */
  bodyLimitBytes?: number
  /** The public base URL (`https://weft.example.com[/prefix]`): the WebSocket URL is derived from it, not from Host. */
  publicUrl?: string
  /** Behind a proxy: honour `X-Forwarded-For` / `-Proto` / `-Host`. Default false. */
  trustProxy?: boolean
  /**
   * Browser origins (`https://app.example.com`) whose pages may call the API (CORS): the same list that may open
   * the WebSocket. Default none: browsers on other origins are refused by their own same-origin policy.
   */
  allowedOrigins?: readonly string[]
  /** The caller's address for rate limiting without keys; default the socket's remote address. */
  clientIp?: (c: Context) => string
  logger?: Logger
  /** The built web console served at `/` (default: dist/console when built); null serves none. */
  consoleDir?: string | null
}

type Env = { Variables: AuthVariables }

/** The default logger: one JSON line per entry on stderr. */
const stderrLogger: Logger = {
  error: (message, meta) => process.stderr.write(JSON.stringify({ level: 'error', message, ...meta }) + '\n'),
  warn: (message, meta) => process.stderr.write(JSON.stringify({ level: 'warn', message, ...meta }) + '\n'),
}

const MIB = 1024 * 1024
const JSON_TYPES = ['application/json']
const YAML_TYPES = ['text/yaml', 'application/yaml', 'application/x-yaml', 'text/x-yaml', 'text/plain']
/** Deepest JSON nesting a body may have (bounds the recursive config schema's work). */
const MAX_JSON_DEPTH = 32

/** Builds the HTTP API over `service`. Handlers call only the service; they never reach the store or run loop. */
export function createApp(service: GenerationService, opts: AppOptions): Hono<Env> {
  const logger = opts.logger ?? stderrLogger
  const limit = opts.bodyLimitBytes ?? MIB
  const app = new Hono<Env>()

  app.onError((err, c) => {
    const e = err as { code?: unknown; message?: unknown; details?: unknown }
    const status = typeof e.code === 'string' && e.code !== 'INTERNAL' && Object.hasOwn(HTTP_CODES, e.code) ? HTTP_CODES[e.code] : undefined
    if (status !== undefined) return errorResponse(c, status, e.code as string, String(e.message), serviceIssues(e.details))
    const mapped = typeof e.code === 'string' ? serviceErrorResponse(c, { code: e.code, message: String(e.message), details: e.details }) : undefined
    if (mapped) return mapped
    logger.error('request failed', {
      method: c.req.method,
      path: c.req.path,
      code: typeof e.code === 'string' ? e.code : undefined,
      error: err instanceof Error ? (err.stack ?? err.message) : String(err),
    })
    return errorResponse(c, 500, 'INTERNAL', 'internal error')
  })
  app.notFound((c) => errorResponse(c, 404, 'NOT_FOUND', `no route ${c.req.method} ${c.req.path}`))

  const origins = new Set((opts.allowedOrigins ?? []).map((o) => o.trim().toLowerCase().replace(/\/+$/, '')))
  if (origins.size) {
    // before auth: a browser's preflight carries no key
    app.use(
      '/api/*',
      cors({
        origin: (origin) => (origins.has(origin.toLowerCase()) ? origin : null),
        allowMethods: ['GET', 'POST', 'OPTIONS'],
        allowHeaders: ['Authorization', 'Content-Type', 'Range'],
        exposeHeaders: ['Retry-After', 'Content-Range', 'Accept-Ranges', 'Content-Length', 'ETag'],
        maxAge: 600,
      }),
    )
  }

  app.get('/healthz', (c) => c.json({ ok: true as const }))
  let doc: Record<string, unknown> | undefined
  const openapi = () => (doc ??= openApiDocument(opts.publicUrl ? { serverUrl: opts.publicUrl } : {}))
  app.get('/openapi.json', (c) => c.json(openapi()))
  app.get('/docs', (c) => {
    c.header('Content-Security-Policy', DOCS_CSP)
    return c.html(renderDocsPage(openapi()))
  })

  // the web console: same origin as the API, so it needs no CORS and its WebSocket passes the Origin check
  if (opts.consoleDir !== null) mountConsole(app, opts.consoleDir ?? findConsoleDir())

  if (!opts.apiKeys?.length) {
    // without keys the API trusts the machine it runs on: a page elsewhere that rebinds its DNS name to
    // 127.0.0.1 must not reach it, so the Host must name this machine (or the configured public URL)
    const publicHost = opts.publicUrl ? new URL(opts.publicUrl).host.toLowerCase() : undefined
    app.use('/api/*', async (c, next) => {
      // the node server builds the request URL from the Host header
      const host = (c.req.header('host') ?? new URL(c.req.url).host).toLowerCase()
      if (host !== publicHost && !loopbackHost(host))
        return errorResponse(c, 403, 'HOST_FORBIDDEN', `requests must name this machine (localhost, 127.0.0.1 or [::1]) in Host when no API keys are set; got "${host}"`)
      await next()
    })
  }
  app.use('/api/*', apiKeyAuth(opts.apiKeys ?? []))
  app.use('/api/*', async (c, next) => {
    await next()
    if (!c.res.headers.has('Cache-Control')) c.header('Cache-Control', 'no-store')
  })

  const limitBody = bodyLimit({ maxSize: limit, onError: (c) => errorResponse(c, 413, 'PAYLOAD_TOO_LARGE', `the body is over the limit of ${limit} bytes`) })
  const clientIp = opts.clientIp ?? ((c: Context) => defaultClientIp(c, opts.trustProxy ?? false))
  const callerKey = (c: Context) => {
    const principal = (c as Context<Env>).get('principal')
    return principal === undefined ? `ip:${clientIp(c)}` : `key:${principal}`
  }
  const limited = (limit: RateLimit): MiddlewareHandler<Env> => (opts.rateLimit === null ? (_c, next) => next() : rateLimit(limit, callerKey))
  const perCaller = limited(opts.rateLimit ?? DEFAULT_RATE_LIMIT)
  // validation as an editor types: more calls than generations, but not without end (a big file costs seconds)
  const perCallerValidate = limited(opts.validateRateLimit ?? VALIDATE_RATE_LIMIT)
  // a budget of its own: each page that shows a run (and each of its reconnects) asks for a token
  const perCallerToken = limited(opts.tokenRateLimit ?? TOKEN_RATE_LIMIT)
  // a budget apart from generate's: a form attaching several files before it starts one generation
  const perCallerUpload = limited(opts.rateLimit ?? DEFAULT_RATE_LIMIT)
  // uploads may be as big as a fetched asset, not just a JSON body
  const limitUpload = bodyLimit({ maxSize: MAX_UPLOAD_BYTES, onError: (c) => errorResponse(c, 413, 'PAYLOAD_TOO_LARGE', `the file is over the ${MAX_UPLOAD_BYTES}-byte limit of a brand asset`) })

  /** The 202 of a generation recorded and started: where to follow it, and a WebSocket token. */
  const accepted = (c: Context, started: Started) => {
    const base = publicBase(c, opts)
    const statusUrl = `${base.path}/api/v2/generations/${encodeURIComponent(started.generationId)}`
    c.header('Location', statusUrl)
    return c.json(
      {
        generation_id: started.generationId,
        session_id: started.sessionId,
        websocket_url: `${base.wsOrigin}${base.path}/ws/${encodeURIComponent(started.sessionId)}`,
        status_url: statusUrl,
        ws_token: opts.tokens.issue(started.sessionId),
      },
      202,
    )
  }

  app.post('/api/v2/generate', perCaller, accept(JSON_TYPES), limitBody, async (c) => {
    const body = parse(GenerationRequestSchema, await readJson(c))
    return accepted(c, await service.start(toStartGeneration(body, c.get('principal'))))
  })

  // the raw bytes of a brand asset image, for `upload:<sha256>` refs in brand_assets
  app.post('/api/v2/uploads', perCallerUpload, accept(UPLOAD_MEDIA_TYPES), limitUpload, async (c) => {
    const saved = await service.saveUpload(new Uint8Array(await c.req.arrayBuffer()))
    return c.json({ upload_id: saved.uploadId, ref: saved.ref, content_type: saved.contentType, size: saved.size }, 201)
  })

  app.get('/api/v2/generations', async (c) => {
    const q = parse(ListQuerySchema, c.req.query())
    const page = await service.list({ limit: q.limit, ...(q.status ? { status: q.status } : {}), ...(q.cursor ? { cursor: q.cursor } : {}) })
    return c.json({ items: page.items, next: page.next ?? null })
  })

  // ids are made by weft (UUIDs): anything else (NUL, a backslash, 200 characters) is unknown, said before the store sees it
  app.use('/api/v2/generations/:id', knownId)
  app.use('/api/v2/generations/:id/*', knownId)

  app.get('/api/v2/generations/:id', async (c) => {
    const id = c.req.param('id')
    const record = await mustGet(service, id)
    return c.json({ ...record, usage: runUsage(Object.values(record.nodes)), artifacts: artifactLinks(id, service.artifactsDir(id), record) })
  })

  app.get('/api/v2/generations/:id/graph', async (c) => {
    const id = c.req.param('id')
    const nodes = await service.graph(id)
    if (!nodes) throw new WeftError('NOT_FOUND', `no generation ${id}`)
    return c.json({ nodes })
  })

  app.post('/api/v2/generations/:id/cancel', async (c) => {
    const id = c.req.param('id')
    await mustGet(service, id)
    await service.cancel(id)
    const record = await mustGet(service, id)
    const ended = record.status === 'completed' || record.status === 'failed' || record.status === 'cancelled'
    return c.json(record, ended ? 200 : 202)
  })

  app.post('/api/v2/generations/:id/rerun', perCaller, accept(JSON_TYPES), limitBody, async (c) => {
    const body = parse(RerunRequestSchema, await readJson(c))
    const config = body.config === undefined ? undefined : Object.fromEntries(flatConfig(body.config))
    return accepted(
      c,
      await service.rerun(c.req.param('id'), {
        ...(body.from ? { from: body.from } : {}),
        ...(config ? { config } : {}),
        ...(body.interactive !== undefined ? { interactive: body.interactive } : {}),
      }),
    )
  })

  app.post('/api/v2/generations/:id/approvals/:gate', accept(JSON_TYPES), limitBody, async (c) => {
    const gate = c.req.param('gate')
    // a gate node's id, or a fan-out item's gate: `videos[3].review`
    if (!/^[A-Za-z_][A-Za-z0-9_]{0,127}(\[\d{1,6}\]\.[A-Za-z_][A-Za-z0-9_]{0,127})?$/.test(gate)) throw new WeftError('NOT_FOUND', `no approval gate "${gate}"`)
    const body = parse(DecisionSchema, await readJson(c))
    const principal = c.get('principal')
    const decision: Decision = { decision: body.decision, by: principal ?? 'human' }
    if (body.feedback !== undefined) decision.feedback = body.feedback
    if (body.edits !== undefined) decision.edits = body.edits
    const result = await service.decide(c.req.param('id'), gate, body.revision === undefined ? decision : { ...decision, revision: body.revision })
    return c.json({ applied: result.applied, decision: result.decision })
  })

  app.get('/api/v2/generations/:id/artifacts/*', async (c) => {
    const id = c.req.param('id')
    // the raw (still encoded) segments after ['', 'api', 'v2', 'generations', id, 'artifacts']: each is decoded once, here.
    // Read from the request line as sent where the server has it: the URL parser would already have removed `.`
    // and `..` segments and turned `\` into `/`, which the docs say are refused, not reinterpreted.
    const sent = (c.env as { incoming?: { url?: unknown } } | undefined)?.incoming?.url
    const raw = (typeof sent === 'string' && sent.startsWith('/') ? sent.split('?')[0]! : new URL(c.req.url).pathname).split('/').slice(6)
    const segments = decodeSegments(raw)
    if (!segments) throw new WeftError('PATH_INVALID', 'the artifact path must be relative, without empty, "." or ".." segments')
    await mustGet(service, id)
    const found = await lookupArtifact(service.artifactsDir(id), segments)
    if (!found.ok) {
      throw found.code === 'PATH_INVALID'
        ? new WeftError('PATH_INVALID', "the artifact path leaves the generation's folder")
        : new WeftError('NOT_FOUND', `generation ${id} has no file ${segments.join('/')}`)
    }
    return artifactResponse(found, c.req.header('range'), c.req.method)
  })

  // a new WebSocket token for a session (the one from POST /generate expires after 15 minutes)
  app.post('/api/v2/sessions/:session_id/token', perCallerToken, async (c) => {
    const sessionId = c.req.param('session_id')
    if (!v.is(SessionIdSchema, sessionId) || (await service.sessionGenerations(sessionId)).length === 0) {
      throw new WeftError('SESSION_NOT_FOUND', `no session ${JSON.stringify(sessionId.slice(0, 64))}`)
    }
    const base = publicBase(c, opts)
    return c.json({ session_id: sessionId, websocket_url: `${base.wsOrigin}${base.path}/ws/${encodeURIComponent(sessionId)}`, ws_token: opts.tokens.issue(sessionId) })
  })

  app.get('/api/v2/pipelines', async (c) => c.json(await service.listPipelines()))

  app.get('/api/v2/pipelines/:name/source', async (c) => {
    const text = await service.pipelineSource(c.req.param('name'))
    c.header('Content-Type', 'text/yaml; charset=utf-8')
    return c.body(text)
  })

  app.post('/api/v2/pipelines/validate', perCallerValidate, accept([...YAML_TYPES, ...JSON_TYPES]), limitBody, async (c) => {
    const text = JSON_TYPES.includes(mediaType(c) ?? '') ? parse(ValidateBodySchema, await readJson(c)).text : await readText(c)
    return c.json(await service.validatePipeline(text))
  })

  return app
}

/** 415 UNSUPPORTED_MEDIA_TYPE unless the request's Content-Type is one of `types` (parameters such as charset are ignored). */
function accept(types: readonly string[]): MiddlewareHandler<Env> {
  return async (c, next) => {
    const type = mediaType(c)
    if (!type || !types.includes(type)) {
      return errorResponse(c, 415, 'UNSUPPORTED_MEDIA_TYPE', `expected Content-Type ${types.join(' or ')}, got ${type ?? 'none'}`)
    }
    return next()
  }
}

const mediaType = (c: Context) => c.req.header('content-type')?.split(';')[0]?.trim().toLowerCase() || undefined

/** The body as text: bytes that are not UTF-8 → ENCODING_INVALID naming where (a lossy decoding would hide them). */
async function readText(c: Context): Promise<string> {
  const decoded = decodeUtf8(new Uint8Array(await c.req.arrayBuffer()))
  if (!decoded.ok) throw new WeftError('ENCODING_INVALID', `the body is not UTF-8 text: byte 0x${decoded.byte.toString(16).padStart(2, '0')} at line ${decoded.line}, column ${decoded.col}`)
  return decoded.text
}

/** The body as a JSON object: malformed → JSON_INVALID; not an object, or nested deeper than MAX_JSON_DEPTH → REQUEST_INVALID. */
async function readJson(c: Context): Promise<unknown> {
  const text = await readText(c)
  let value: unknown
  try {
    value = JSON.parse(text)
  } catch {
    throw new WeftError('JSON_INVALID', 'the body is not valid JSON')
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    throw new WeftError('REQUEST_INVALID', 'the body must be a JSON object', { details: { issues: [{ path: '', message: 'expected a JSON object' }] } })
  }
  if (depth(value) > MAX_JSON_DEPTH) {
    throw new WeftError('REQUEST_INVALID', `the body is nested deeper than ${MAX_JSON_DEPTH} levels`, { details: { issues: [{ path: '', message: `nested deeper than ${MAX_JSON_DEPTH} levels` }] } })
  }
  return value
}

/** Nesting depth of a JSON value, iteratively (a deep body must not exhaust the stack). */
function depth(value: unknown): number {
  let max = 0
  const stack: Array<[unknown, number]> = [[value, 1]]
  while (stack.length) {
    const [x, d] = stack.pop()!
    if (typeof x !== 'object' || x === null) continue
    max = Math.max(max, d)
    if (d > MAX_JSON_DEPTH) return d
    for (const child of Object.values(x)) stack.push([child, d + 1])
  }
  return max
}

/** Validates `input`; every problem (with its dotted path) → REQUEST_INVALID. */
function parse<S extends v.GenericSchema>(schema: S, input: unknown): v.InferOutput<S> {
  const result = v.safeParse(schema, input)
  if (result.success) return result.output
  const issues = valibotIssues(result.issues)
  throw new WeftError('REQUEST_INVALID', `the request is invalid (${issues.length} problem${issues.length === 1 ? '' : 's'})`, { details: { issues } })
}

/** What a generation id may look like; a path segment that does not is answered 404 without a look-up. */
const GENERATION_ID = /^[A-Za-z0-9][A-Za-z0-9_-]{0,127}$/

const knownId: MiddlewareHandler = async (c, next) => {
  const id = c.req.param('id')
  if (id !== undefined && !GENERATION_ID.test(id)) throw new WeftError('NOT_FOUND', `no generation ${JSON.stringify(id.slice(0, 64))}`)
  await next()
}

async function mustGet(service: GenerationService, id: string) {
  const record = await service.get(id)
  if (!record) throw new WeftError('NOT_FOUND', `no generation ${id}`)
  return record
}

/** The origin the client reached (for the WebSocket URL): the public URL when set, else the request's Host and scheme. */
function publicBase(c: Context, opts: AppOptions): { wsOrigin: string; path: string } {
  if (opts.publicUrl) {
    const u = new URL(opts.publicUrl)
    return { wsOrigin: `${u.protocol === 'https:' ? 'wss:' : 'ws:'}//${u.host}`, path: u.pathname.replace(/\/+$/, '') }
  }
  const url = new URL(c.req.url)
  const forwarded = opts.trustProxy ? (name: string) => c.req.header(name)?.split(',')[0]?.trim() : () => undefined
  const proto = forwarded('x-forwarded-proto') ?? url.protocol.replace(/:$/, '')
  const hostHeader = forwarded('x-forwarded-host') ?? c.req.header('host')
  const host = hostHeader && /^[A-Za-z0-9.-]+(:\d{1,5})?$|^\[[0-9A-Fa-f:.]+\](:\d{1,5})?$/.test(hostHeader) ? hostHeader : url.host
  return { wsOrigin: `${proto === 'https' ? 'wss:' : 'ws:'}//${host}`, path: '' }
}

function defaultClientIp(c: Context, trustProxy: boolean): string {
  if (trustProxy) {
    const xff = c.req.header('x-forwarded-for')?.split(',')[0]?.trim()
    if (xff) return xff
  }
  // Hono's connection info, where the request came over a Node socket (not in `app.request()` tests)
  return (c.env as { incoming?: unknown } | undefined)?.incoming ? (getConnInfo(c).remote.address ?? 'unknown') : 'unknown'
}
