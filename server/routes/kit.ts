// What the resource routes share: the service, the body and rate limits, and the 202 of a started generation.
import type { Context, MiddlewareHandler } from 'hono'
import type { AppOptions } from '../app.ts'
import type { AuthVariables } from '../auth.ts'
import type { GenerationService, Started } from '../service.ts'

export type Env = { Variables: AuthVariables }

export interface RouteKit {
  service: GenerationService
  opts: AppOptions
  /** JSON bodies: at most the configured limit (413 past it). */
  limitBody: MiddlewareHandler<Env>
  /** Upload bodies: at most the size of a brand asset. */
  limitUpload: MiddlewareHandler<Env>
  /** Per-caller budgets: generations (and re-runs), uploads, WebSocket tokens, validations. */
  perCaller: MiddlewareHandler<Env>
  perCallerUpload: MiddlewareHandler<Env>
  perCallerToken: MiddlewareHandler<Env>
  perCallerValidate: MiddlewareHandler<Env>
}

/** The 202 of a generation recorded and started: where to follow it, and a WebSocket token. */
export function accepted(c: Context, opts: AppOptions, started: Started) {
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

/** The origin the client reached (for the WebSocket URL): the public URL when set, else the request's Host and scheme. */
export function publicBase(c: Context, opts: AppOptions): { wsOrigin: string; path: string } {
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
