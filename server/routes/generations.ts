// The generations resource: start one, list them, read one (its record, graph and files), cancel it,
// re-run it, and decide its gates.
import { Hono, type MiddlewareHandler } from 'hono'
import { WeftError } from '../../engine/errors.ts'
import type { Decision } from '../../engine/ports.ts'
import { runUsage } from '../../engine/usage.ts'
import { artifactLinks, artifactResponse, decodeSegments, lookupArtifact } from '../artifacts.ts'
import { accept, JSON_TYPES, jsonObject, mediaTypeRefusal, parse, readJson, readText } from '../request-body.ts'
import { CancelRequestSchema, DecisionSchema, flatConfig, GenerationRequestSchema, ListQuerySchema, RerunRequestSchema, toStartGeneration } from '../schemas.ts'
import type { GenerationService } from '../service.ts'
import { accepted, type Env, type RouteKit } from './kit.ts'

/** Routes under /api/v2: `POST /generate` and `/generations/…`. */
export function generationRoutes(kit: RouteKit): Hono<Env> {
  const { service, opts, limitBody, perCaller } = kit
  const r = new Hono<Env>()

  r.post('/generate', perCaller, accept(JSON_TYPES), limitBody, async (c) => {
    const body = parse(GenerationRequestSchema, await readJson(c))
    return accepted(c, opts, await service.start(toStartGeneration(body, c.get('principal'))))
  })

  r.get('/generations', async (c) => {
    const q = parse(ListQuerySchema, c.req.query())
    const page = await service.list({ limit: q.limit, ...(q.status ? { status: q.status } : {}), ...(q.cursor ? { cursor: q.cursor } : {}) })
    return c.json({ items: page.items, next: page.next ?? null })
  })

  // ids are made by weft (UUIDs): anything else (NUL, a backslash, 200 characters) is unknown, said before the store sees it
  r.use('/generations/:id', knownId)
  r.use('/generations/:id/*', knownId)

  r.get('/generations/:id', async (c) => {
    const id = c.req.param('id')
    const record = await mustGet(service, id)
    // a hint beside the record: the record is answered without it when it cannot be read
    const waiting = record.status === 'running' || record.status === 'awaiting_approval' ? await service.waitingForWorker(id).catch(() => undefined) : undefined
    return c.json({
      ...record,
      usage: runUsage(Object.values(record.nodes)),
      artifacts: artifactLinks(id, service.artifactsDir(id), record),
      ...(waiting ? { waiting_for_worker: waiting } : {}),
    })
  })

  r.get('/generations/:id/graph', async (c) => {
    const id = c.req.param('id')
    const nodes = await service.graph(id)
    if (!nodes) throw new WeftError('NOT_FOUND', `no generation ${id}`)
    return c.json({ nodes })
  })

  r.post('/generations/:id/cancel', limitBody, async (c) => {
    const id = c.req.param('id')
    // a body is optional; one that comes is JSON, checked like any other
    const text = await readText(c)
    const refused = text === '' ? undefined : mediaTypeRefusal(c, JSON_TYPES)
    if (refused) throw new WeftError('UNSUPPORTED_MEDIA_TYPE', refused)
    const body = text === '' ? {} : parse(CancelRequestSchema, jsonObject(text))
    await mustGet(service, id)
    await service.cancel(id, body.reason)
    const record = await mustGet(service, id)
    const ended = record.status === 'completed' || record.status === 'failed' || record.status === 'cancelled'
    return c.json(record, ended ? 200 : 202)
  })

  r.post('/generations/:id/rerun', perCaller, accept(JSON_TYPES), limitBody, async (c) => {
    const body = parse(RerunRequestSchema, await readJson(c))
    const config = body.config === undefined ? undefined : Object.fromEntries(flatConfig(body.config))
    return accepted(
      c,
      opts,
      await service.rerun(c.req.param('id'), {
        ...(body.from ? { from: body.from } : {}),
        ...(config ? { config } : {}),
        ...(body.interactive !== undefined ? { interactive: body.interactive } : {}),
      }),
    )
  })

  r.post('/generations/:id/approvals/:gate', accept(JSON_TYPES), limitBody, async (c) => {
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

  r.get('/generations/:id/artifacts/*', async (c) => {
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

  return r
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
