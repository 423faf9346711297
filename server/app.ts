// The HTTP API (Hono): what every route shares (errors, CORS, the Host check, auth, limits), the docs, the
// console, and a sub-app per resource (server/routes/) over a GenerationService.
import { getConnInfo } from '@hono/node-server/conninfo'
import { Hono, type Context, type MiddlewareHandler } from 'hono'
import { bodyLimit } from 'hono/body-limit'
import { cors } from 'hono/cors'
import { apiKeyAuth, type ApiKey } from './auth.ts'
import { findConsoleDir, mountConsole } from './console-files.ts'
import { loopbackHost } from './hosts.ts'
import { DOCS_CSP, renderDocsPage } from './docs-page.ts'
import { errorResponse, HTTP_CODES, serviceErrorResponse, serviceIssues } from './errors.ts'
import { openApiDocument } from './openapi.ts'
import { DEFAULT_RATE_LIMIT, rateLimit, TOKEN_RATE_LIMIT, VALIDATE_RATE_LIMIT, type RateLimit } from './rate-limit.ts'
import { generationRoutes } from './routes/generations.ts'
import type { Env, RouteKit } from './routes/kit.ts'
import { pipelineRoutes } from './routes/pipelines.ts'
import { sessionRoutes } from './routes/sessions.ts'
import { uploadRoutes } from './routes/uploads.ts'
import type { GenerationService } from './service.ts'
import { MAX_UPLOAD_BYTES } from './uploads.ts'

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

/** The default logger: one JSON line per entry on stderr. */
const stderrLogger: Logger = {
  error: (message, meta) => process.stderr.write(JSON.stringify({ level: 'error', message, ...meta }) + '\n'),
  warn: (message, meta) => process.stderr.write(JSON.stringify({ level: 'warn', message, ...meta }) + '\n'),
}

const MIB = 1024 * 1024

/** Builds the HTTP API over `service`. Handlers call only the service; they never reach the store or a run's driver. */
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

  const kit: RouteKit = { service, opts, limitBody, limitUpload, perCaller, perCallerUpload, perCallerToken, perCallerValidate }
  app.route('/api/v2', generationRoutes(kit))
  app.route('/api/v2/uploads', uploadRoutes(kit))
  app.route('/api/v2/sessions', sessionRoutes(kit))
  app.route('/api/v2/pipelines', pipelineRoutes(kit))

  return app
}

function defaultClientIp(c: Context, trustProxy: boolean): string {
  if (trustProxy) {
    const xff = c.req.header('x-forwarded-for')?.split(',')[0]?.trim()
    if (xff) return xff
  }
  // Hono's connection info, where the request came over a Node socket (not in `app.request()` tests)
  return (c.env as { incoming?: unknown } | undefined)?.incoming ? (getConnInfo(c).remote.address ?? 'unknown') : 'unknown'
}
