// The pipelines resource: the ones the server offers, the source of one, and validation of a draft.
import { Hono } from 'hono'
import { accept, JSON_TYPES, mediaType, parse, readJson, readText, YAML_TYPES } from '../request-body.ts'
import { ValidateBodySchema } from '../schemas.ts'
import type { Env, RouteKit } from './kit.ts'

/** Routes under /api/v2/pipelines. */
export function pipelineRoutes({ service, limitBody, perCallerValidate }: RouteKit): Hono<Env> {
  const r = new Hono<Env>()

  r.get('/', async (c) => c.json(await service.listPipelines()))

  r.get('/:name/source', async (c) => {
    const text = await service.pipelineSource(c.req.param('name'))
    c.header('Content-Type', 'text/yaml; charset=utf-8')
    return c.body(text)
  })

  r.post('/validate', perCallerValidate, accept([...YAML_TYPES, ...JSON_TYPES]), limitBody, async (c) => {
    const text = JSON_TYPES.includes(mediaType(c) ?? '') ? parse(ValidateBodySchema, await readJson(c)).text : await readText(c)
    return c.json(await service.validatePipeline(text))
  })

  return r
}
