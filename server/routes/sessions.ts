// The sessions resource: a new WebSocket token for a session (the one from POST /generate expires after 15 minutes).
import { Hono } from 'hono'
import * as v from 'valibot'
import { WeftError } from '../../engine/errors.ts'
import { SessionIdSchema } from '../schemas.ts'
import { publicBase, type Env, type RouteKit } from './kit.ts'

/** Routes under /api/v2/sessions. */
export function sessionRoutes({ service, opts, perCallerToken }: RouteKit): Hono<Env> {
  const r = new Hono<Env>()
  r.post('/:session_id/token', perCallerToken, async (c) => {
    const sessionId = c.req.param('session_id')
    if (!v.is(SessionIdSchema, sessionId) || (await service.sessionGenerations(sessionId)).length === 0) {
      throw new WeftError('SESSION_NOT_FOUND', `no session ${JSON.stringify(sessionId.slice(0, 64))}`)
    }
    const base = publicBase(c, opts)
    return c.json({ session_id: sessionId, websocket_url: `${base.wsOrigin}${base.path}/ws/${encodeURIComponent(sessionId)}`, ws_token: opts.tokens.issue(sessionId) })
  })
  return r
}
