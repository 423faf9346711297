import { describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { openApiDocument, ROUTES } from '../../server/openapi.ts'
import { KEY, setup } from '../support/api.ts'

const toOpenApiPath = (p: string) => p.replace(/:([A-Za-z_]+)/g, '{$1}').replace(/\/\*$/, '/{path}')

describe('OpenAPI document', () => {
  const { app } = setup({ apiKeys: [{ id: 'a', key: KEY }] })

  it('lists every route of the app, and no route the app does not have', () => {
    const served = new Set(app.routes.filter((r) => r.method !== 'ALL').map((r) => `${r.method} ${toOpenApiPath(r.path)}`))
    const doc = openApiDocument() as { paths: Record<string, Record<string, unknown>> }
    const documented = new Set(Object.entries(doc.paths).flatMap(([p, ops]) => Object.keys(ops).map((m) => `${m.toUpperCase()} ${p}`)))
    assert.deepEqual([...served].sort(), [...documented].sort())
    assert.equal(documented.size, ROUTES.length)
  })

  it('GET /openapi.json is OpenAPI 3.1 JSON whose every $ref resolves and every operation documents its errors', async () => {
    const res = await app.request('/openapi.json')
    assert.equal(res.status, 200)
    const doc = JSON.parse(await res.text()) as {
      openapi: string
      paths: Record<string, Record<string, { responses: Record<string, unknown>; requestBody?: unknown; security?: unknown[] }>>
      components: { schemas: Record<string, unknown> }
    }
    assert.equal(doc.openapi, '3.1.0')
    const refs = JSON.stringify(doc).match(/"\$ref":"[^"]+"/g) ?? []
    assert.ok(refs.length > 10)
    for (const ref of refs) {
      const name = ref.slice(8, -1).replace('#/components/schemas/', '')
      assert.ok(name in doc.components.schemas, `unresolved ${ref}`)
    }
    const generate = doc.paths['/api/v2/generate']!.post!
    assert.deepEqual(Object.keys(generate.responses).sort(), ['202', '400', '401', '404', '413', '415', '429', '500'])
    assert.ok(generate.requestBody)
    assert.deepEqual(doc.paths['/healthz']!.get!.security, [])
    const request = doc.components.schemas.GenerationRequest as { required: string[]; additionalProperties: boolean; properties: Record<string, unknown> }
    assert.deepEqual(request.required, ['prompt'])
    assert.equal(request.additionalProperties, false)
    for (const field of [
      'prompt',
      'framework',
      'brand_assets',
      'quality_threshold',
      'parallel_variants',
      'enable_vbench',
      'config',
      'duration_s',
      'product',
      'audience',
      'tone',
      'interactive',
      'session_id',
      'pipeline',
    ]) {
      assert.ok(field in request.properties, field)
    }
  })

  it('GET /docs is one HTML page naming every operation, with no scripts and a locked-down CSP', async () => {
    const res = await app.request('/docs')
    assert.equal(res.status, 200)
    assert.match(res.headers.get('content-type') ?? '', /^text\/html/)
    assert.match(res.headers.get('content-security-policy') ?? '', /default-src 'none'/)
    const html = await res.text()
    assert.doesNotMatch(html, /<script|<link|\ssrc=|https?:\/\//i, 'no scripts and nothing fetched')
    for (const r of ROUTES) assert.ok(html.includes(`${r.method.toUpperCase()}</span> <code>${r.path}</code>`), `${r.method} ${r.path}`)
  })
})
