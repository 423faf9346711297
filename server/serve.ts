// Listening: the HTTP API and the WebSocket endpoint on one node:http server, refusing an open address without API keys.
import type { Server } from 'node:http'
import type { AddressInfo } from 'node:net'
import type { Duplex } from 'node:stream'
import { createServer } from 'node:http'
import { getRequestListener, RequestError } from '@hono/node-server'
import ipaddr from 'ipaddr.js'
import { WeftError } from '../engine/errors.ts'
import { createApp, type AppOptions } from './app.ts'
import { matchKey, type ApiKey } from './auth.ts'
import type { GenerationService } from './service.ts'
import { createTokens, type Tokens } from './tokens.ts'
import { attachWebSocket, type WsEndpoint, type WsOptions } from './ws.ts'

export interface ServeOptions extends Omit<AppOptions, 'tokens' | 'apiKeys'> {
  service: GenerationService
  /** Port to listen on (default 8080; 0 picks a free one — read it from `url`). */
  port?: number
  /** Address to listen on (default 127.0.0.1). Anything but loopback needs `apiKeys`. */
  host?: string
  /** Accepted API keys (see `parseApiKeys`); none means no authentication, allowed on loopback only. */
  apiKeys?: readonly ApiKey[]
  /** WebSocket tokens (default: `createTokens()`, a random secret per process). */
  tokens?: Tokens
  /** The WebSocket endpoint's settings; `false` serves no WebSocket. */
  websocket?: Omit<WsOptions, 'tokens' | 'checkKey'> | false
  /** How long `close()` lets open requests finish before cutting their connections (default 10 s). */
  shutdownGraceMs?: number
}

export interface RunningServer {
  /** `http://<host>:<port>` as bound. */
  url: string
  server: Server
  /** Stops accepting, closes WebSocket clients, lets requests finish (up to the grace period). Leaves the service open. */
  close(): Promise<void>
}

/** True for an address only this machine can reach: 127.0.0.0/8, ::1 (also IPv4-mapped), `localhost`. */
export function isLoopback(host: string): boolean {
  const h = host
    .trim()
    .toLowerCase()
    .replace(/^\[(.*)\]$/, '$1')
  if (h === 'localhost') return true
  if (!ipaddr.isValid(h)) return false
  const addr = ipaddr.process(h)
  return addr.range() === 'loopback'
}

/** The adapter could not read the request (RequestError), or the app failed outside its own error handling. */
function requestErrorResponse(err: unknown): Response {
  const bad = err instanceof RequestError
  const body = bad
    ? {
        error: {
          code: 'REQUEST_MALFORMED',
          message: /backslash/i.test(err.message) ? 'the request path holds a "\\"; percent-encode it (%5C) if it is part of a name' : `the request could not be read: ${err.message}`,
        },
      }
    : { error: { code: 'INTERNAL', message: 'internal error' } }
  return new Response(JSON.stringify(body), { status: bad ? 400 : 500, headers: { 'content-type': 'application/json' } })
}

/**
 * A request Node's HTTP parser refuses (a `\\` or a space in the path, a malformed header) never reaches the app:
 * it is answered here, in the API's error shape, instead of with an empty 400.
 */
function answerUnparsable(err: NodeJS.ErrnoException & { rawPacket?: unknown }, socket: Duplex): void {
  if (!socket.writable || (socket as Duplex & { _httpMessage?: unknown })._httpMessage) return void socket.destroy()
  const tooLarge = err.code === 'HPE_HEADER_OVERFLOW'
  const [status, reason, code, message] = tooLarge
    ? [431, 'Request Header Fields Too Large', 'HEADERS_TOO_LARGE', 'the request headers are too large']
    : [
        400,
        'Bad Request',
        'REQUEST_MALFORMED',
        err.code === 'HPE_INVALID_URL' ? 'the request path is not a valid URL path (a "\\\\" or a space must be percent-encoded)' : 'the request could not be parsed as HTTP',
      ]
  const body = JSON.stringify({ error: { code, message } })
  socket.end(`HTTP/1.1 ${status} ${reason}\r\nContent-Type: application/json\r\nContent-Length: ${Buffer.byteLength(body)}\r\nConnection: close\r\n\r\n${body}`)
}

/**
 * Starts the server. Refuses (AUTH_REQUIRED) to listen on a non-loopback address without API keys; a port in use
 * or an address that cannot be bound → LISTEN_FAILED.
 */
export async function startServer(opts: ServeOptions): Promise<RunningServer> {
  const host = opts.host ?? '127.0.0.1'
  const keys = opts.apiKeys ?? []
  if (keys.length === 0 && !isLoopback(host)) {
    throw new WeftError('AUTH_REQUIRED', `refusing to listen on ${host} without API keys: set WEFT_API_KEYS (id:key pairs, comma-separated) or listen on 127.0.0.1`, { retryable: false })
  }
  const tokens = opts.tokens ?? createTokens()
  const { service, port: _port, host: _host, apiKeys: _keys, tokens: _tokens, websocket, shutdownGraceMs, ...appOpts } = opts
  const app = createApp(service, { ...appOpts, apiKeys: keys, tokens })

  const server = await new Promise<Server>((resolve, reject) => {
    // the adapter's listener with an error handler: a request it cannot turn into a Request (a backslash in the
    // path, a bad Host) is answered in the API's error shape, not with an empty 400
    const s = createServer(getRequestListener(app.fetch, { hostname: host, errorHandler: requestErrorResponse }))
    s.on('clientError', answerUnparsable)
    s.listen(opts.port ?? 8080, host)
    const onError = (err: NodeJS.ErrnoException) =>
      reject(new WeftError('LISTEN_FAILED', `cannot listen on ${host}:${opts.port ?? 8080}: ${err.code ?? err.message}`, { cause: err, retryable: false }))
    s.once('error', onError)
    s.once('listening', () => {
      s.off('error', onError)
      resolve(s)
    })
  })
  const ws: WsEndpoint | undefined =
    websocket === false
      ? undefined
      : attachWebSocket(server, service, {
          ...(appOpts.publicUrl ? { publicUrl: appOpts.publicUrl } : {}),
          ...websocket,
          tokens,
          ...(keys.length ? { checkKey: (key: string) => matchKey(keys, key) } : { localHostsOnly: true }),
        })
  const { port } = server.address() as AddressInfo
  const url = `http://${host.includes(':') && !host.startsWith('[') ? `[${host}]` : host}:${port}`

  let closing: Promise<void> | undefined
  const close = () =>
    (closing ??= (async () => {
      const stopped = new Promise<void>((resolve) => server.close(() => resolve()))
      server.closeIdleConnections()
      await ws?.close()
      const grace = setTimeout(() => server.closeAllConnections(), shutdownGraceMs ?? 10_000)
      grace.unref()
      await stopped
      clearTimeout(grace)
    })())
  return { url, server, close }
}
