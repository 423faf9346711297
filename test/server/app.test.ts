import { describe, it } from 'node:test'
import assert from 'node:assert/strict'
import path from 'node:path'
import { WeftError } from '../../engine/errors.ts'
import { generation } from '../support/fake-service.ts'
import { errorOf, KEY, postJson, setup } from '../support/api.ts'

describe('POST /api/v2/generate', () => {
  it('202: starts the mapped generation and answers with ids, URLs and a WebSocket token', async () => {
    const { app, service, issued } = setup({ apiKeys: [{ id: 'studio', key: KEY }] })
    const res = await postJson(
      app,
      'http://weft.example:8080/api/v2/generate',
      {
        prompt: '  Meet Fizz, the lemon soda.  ',
        framework: 'PAS',
        duration_s: 24,
        product: 'Fizz',
        audience: 'students',
        tone: 'playful',
        brand_assets: { product_images: ['https://cdn.example/p1.png'], logo: 'https://cdn.example/logo.png' },
        quality_threshold: 70,
        parallel_variants: 2,
        enable_vbench: false,
        config: { stages: { videos: false }, 'critic.story_threshold': 90 },
        interactive: true,
        session_id: 'sess_1',
      },
      { authorization: `Bearer ${KEY}` },
    )
    assert.equal(res.status, 202)
    const body = (await res.json()) as Record<string, string>
    assert.deepEqual(body, {
      generation_id: 'gen-1',
      session_id: 'sess_1',
      websocket_url: 'ws://weft.example:8080/ws/sess_1',
      status_url: '/api/v2/generations/gen-1',
      ws_token: 'token-for-sess_1',
    })
    assert.equal(res.headers.get('location'), '/api/v2/generations/gen-1')
    assert.deepEqual(issued, ['sess_1'])
    assert.deepEqual(service.argsOf('start'), [
      [
        {
          pipeline: 'default',
          inputs: { prompt: 'Meet Fizz, the lemon soda.', framework: 'PAS', duration_s: 24, product: 'Fizz', audience: 'students', tone: 'playful' },
          config: {
            'stages.videos': false,
            'critic.story_threshold': 90,
            'quality.threshold_acceptable': 70,
            'parallel.max_concurrent': 2,
            'quality.vbench_enabled': false,
          },
          interactive: true,
          sessionId: 'sess_1',
          principal: 'studio',
          brandAssets: { product_images: ['https://cdn.example/p1.png'], logo: 'https://cdn.example/logo.png' },
        },
      ],
    ])
  })

  it('defaults: pipeline "default", not interactive, a new session, no config; wss behind https', async () => {
    const { app, service } = setup({ publicUrl: 'https://weft.example' })
    const res = await postJson(app, 'https://weft.example/api/v2/generate', { prompt: 'an ad' })
    assert.equal(res.status, 202)
    const body = (await res.json()) as Record<string, string>
    assert.equal(body.websocket_url, 'wss://weft.example/ws/session-gen-1')
    assert.deepEqual(service.argsOf('start'), [[{ pipeline: 'default', inputs: { prompt: 'an ad' }, config: {}, interactive: false }]])
  })

  it('403 HOST_FORBIDDEN without API keys for a Host that does not name this machine (DNS rebinding)', async () => {
    const { app, service } = setup()
    for (const url of ['http://attacker.example/api/v2/generations', 'http://127.0.0.1.attacker.example/api/v2/generations', 'http://localhost.attacker.example:8080/api/v2/generations']) {
      const res = await app.request(url)
      assert.equal(res.status, 403, url)
      assert.equal((await errorOf(res)).code, 'HOST_FORBIDDEN')
    }
    for (const url of ['http://localhost:8080/api/v2/generations', 'http://127.0.0.1/api/v2/generations', 'http://[::1]:9000/api/v2/generations']) {
      assert.equal((await app.request(url)).status, 200, url)
    }
    assert.equal(service.calls.filter((c) => c.method === 'list').length, 3)
  })

  it('derives the WebSocket URL from publicUrl when set, and records the key id as principal', async () => {
    const { app, service } = setup({ publicUrl: 'https://ads.example.com/weft/', apiKeys: [{ id: 'studio', key: KEY }] })
    const res = await postJson(app, 'http://10.0.0.5:8080/api/v2/generate', { prompt: 'an ad' }, { 'x-api-key': KEY })
    const body = (await res.json()) as Record<string, string>
    assert.equal(body.websocket_url, 'wss://ads.example.com/weft/ws/session-gen-1')
    assert.equal(body.status_url, '/weft/api/v2/generations/gen-1')
    assert.equal((service.argsOf('start')[0]![0] as { principal: string }).principal, 'studio')
  })

  it('400 REQUEST_INVALID lists every problem at its dotted path, and the service is not called', async () => {
    const { app, service } = setup()
    const res = await postJson(app, '/api/v2/generate', {
      prompt: '   ',
      framework: 'BOGUS',
      brand_assets: { product_images: ['https://ok.example/a.png', 'ftp://files.example/b.png'], logo: 'not a url', extra: 1 },
      duration_s: 12.5,
      quality_threshold: 101,
      config: { 'bad key': 1, quality: { 'ok.key': { '9nope': 2 } } },
      pipeline: '../etc',
      session_id: 'a b',
      interactive: 'yes',
      surprise: true,
    })
    assert.equal(res.status, 400)
    const error = await errorOf(res)
    assert.equal(error.code, 'REQUEST_INVALID')
    const paths = new Set(error.issues!.map((i) => i.path))
    for (const p of [
      'prompt',
      'framework',
      'brand_assets.product_images.1',
      'brand_assets.logo',
      'brand_assets.extra',
      'duration_s',
      'quality_threshold',
      'config.bad key',
      'config.quality.ok.key.9nope',
      'pipeline',
      'session_id',
      'interactive',
      'surprise',
    ]) {
      assert.ok(paths.has(p), `expected an issue at ${p}; got ${[...paths].join(', ')}`)
    }
    assert.equal(service.argsOf('start').length, 0)
  })

  it('400 for a missing prompt and for a body that is not an object', async () => {
    const { app } = setup()
    const missing = await errorOf(await postJson(app, '/api/v2/generate', { framework: 'AIDA' }))
    assert.deepEqual(
      missing.issues!.map((i) => i.path),
      ['prompt'],
    )
    const array = await postJson(app, '/api/v2/generate', [1, 2])
    assert.equal(array.status, 400)
    assert.deepEqual(
      (await errorOf(array)).issues!.map((i) => i.path),
      [''],
    )
  })

  it('400 JSON_INVALID for malformed JSON; REQUEST_INVALID for absurd nesting', async () => {
    const { app } = setup()
    const res = await postJson(app, '/api/v2/generate', '{"prompt": ')
    assert.equal(res.status, 400)
    assert.equal((await errorOf(res)).code, 'JSON_INVALID')
    const deep = await postJson(app, '/api/v2/generate', `{"prompt":"x","config":${'{"a":'.repeat(100)}1${'}'.repeat(100)}}`)
    assert.equal(deep.status, 400)
    assert.equal((await errorOf(deep)).code, 'REQUEST_INVALID')
    // U+0000, which the Postgres store cannot keep, in a value or a key
    for (const body of [{ prompt: 'an\u0000ad' }, { prompt: 'an ad', config: { 'x\u0000': 1 } }]) {
      const nul = await postJson(app, '/api/v2/generate', body)
      assert.equal(nul.status, 400)
      const error = await errorOf(nul)
      assert.deepEqual([error.code, error.message], ['REQUEST_INVALID', 'the body is invalid: text must not contain the NUL character (U+0000)'])
    }
  })

  it("400 with the service's own code and issues (CONFIG_UNKNOWN, INPUT_INVALID, ASSET_UNREADABLE)", async () => {
    for (const code of ['CONFIG_UNKNOWN', 'INPUT_INVALID', 'ASSET_UNREADABLE']) {
      const { app, service } = setup()
      service.fail('start', new WeftError(code, 'nope', { details: { issues: [{ path: 'qualty.threshold', message: 'unknown key' }] } }))
      const res = await postJson(app, '/api/v2/generate', { prompt: 'x', config: { qualty: { threshold: 1 } } })
      assert.equal(res.status, 400, code)
      const error = await errorOf(res)
      assert.equal(error.code, code)
      assert.deepEqual(
        error.issues!.map((i) => i.path),
        ['qualty.threshold'],
      )
    }
  })

  it('404 PIPELINE_NOT_FOUND from the service', async () => {
    const { app, service } = setup()
    service.fail('start', new WeftError('PIPELINE_NOT_FOUND', 'no pipeline "nope"'))
    const res = await postJson(app, '/api/v2/generate', { prompt: 'x', pipeline: 'nope' })
    assert.equal(res.status, 404)
    assert.equal((await errorOf(res)).code, 'PIPELINE_NOT_FOUND')
  })

  it('415 UNSUPPORTED_MEDIA_TYPE for a body that is not JSON', async () => {
    const { app, service } = setup()
    for (const type of ['text/plain', 'application/x-www-form-urlencoded', '']) {
      const res = await app.request('/api/v2/generate', { method: 'POST', headers: type ? { 'content-type': type } : {}, body: '{"prompt":"x"}' })
      assert.equal(res.status, 415, type)
      assert.equal((await errorOf(res)).code, 'UNSUPPORTED_MEDIA_TYPE')
    }
    const charset = await app.request('/api/v2/generate', { method: 'POST', headers: { 'content-type': 'application/json; charset=utf-8' }, body: '{"prompt":"x"}' })
    assert.equal(charset.status, 202)
    assert.equal(service.argsOf('start').length, 1)
  })

  it('413 PAYLOAD_TOO_LARGE by Content-Length, and for a chunked body without one', async () => {
    const { app, service } = setup({ bodyLimitBytes: 1024 })
    const big = JSON.stringify({ prompt: 'x'.repeat(2000) })
    const sized = await postJson(app, '/api/v2/generate', big)
    assert.equal(sized.status, 413)
    assert.equal((await errorOf(sized)).code, 'PAYLOAD_TOO_LARGE')

    const chunks = [new TextEncoder().encode('{"prompt":"'), new TextEncoder().encode('y'.repeat(700)), new TextEncoder().encode('y'.repeat(700) + '"}')]
    const stream = new ReadableStream<Uint8Array>({
      pull(ctrl) {
        const c = chunks.shift()
        if (c) ctrl.enqueue(c)
        else ctrl.close()
      },
    })
    const req = new Request('http://localhost/api/v2/generate', { method: 'POST', headers: { 'content-type': 'application/json' }, body: stream, duplex: 'half' } as RequestInit)
    assert.equal(req.headers.get('content-length'), null)
    const chunked = await app.request(req)
    assert.equal(chunked.status, 413)
    assert.equal((await errorOf(chunked)).code, 'PAYLOAD_TOO_LARGE')
    assert.equal(service.argsOf('start').length, 0)

    const small = new ReadableStream<Uint8Array>({
      start(ctrl) {
        ctrl.enqueue(new TextEncoder().encode('{"prompt":"small"}'))
        ctrl.close()
      },
    })
    const ok = await app.request(new Request('http://localhost/api/v2/generate', { method: 'POST', headers: { 'content-type': 'application/json' }, body: small, duplex: 'half' } as RequestInit))
    assert.equal(ok.status, 202)
  })
})

describe('generations', () => {
  it('GET /api/v2/generations/:id: the record with status, stage, nodes, config, error and session', async () => {
    const { app, service } = setup()
    const usage = { model_calls: 2, input_tokens: 2000, output_tokens: 900, images: 0, video_s: 0, cost_usd: 0.00084, unpriced: 0 }
    const g = generation('g1', {
      status: 'failed',
      error: { code: 'NODE_FAILED', message: 'boom' },
      nodes: { story: { id: 'story', type: 'critic_loop', status: 'failed', attempts: 1, started_at: null, finished_at: null, duration_ms: null, output: null, error: null, stage: 'story', usage } },
    })
    service.generations.set('g1', g)
    const res = await app.request('/api/v2/generations/g1')
    assert.equal(res.status, 200)
    // what the run used, in all and per stage, beside the record
    assert.deepEqual(await res.json(), { ...g, usage: { total: usage, by_stage: { story: usage } }, artifacts: { final_video_url: null, files: [] } })
    assert.equal(res.headers.get('cache-control'), 'no-store')
  })

  it('GET /api/v2/generations/:id: a fleet run says which of its running nodes wait for a worker, while it runs', async () => {
    const { app, service } = setup()
    const running = { id: 'story', type: 'critic_loop', status: 'running' as const, attempts: 1, started_at: null, finished_at: null, duration_ms: null, output: null, error: null }
    service.generations.set('g1', generation('g1', { nodes: { story: running } }))
    service.waiting.set('g1', ['story'])
    assert.deepEqual(((await (await app.request('/api/v2/generations/g1')).json()) as { waiting_for_worker?: unknown }).waiting_for_worker, ['story'])
    // taken: none left waiting
    service.waiting.set('g1', [])
    assert.deepEqual(((await (await app.request('/api/v2/generations/g1')).json()) as { waiting_for_worker?: unknown }).waiting_for_worker, [])
    // a run no fleet drives, and a run that has ended, have no such field
    service.generations.set('g2', generation('g2', { nodes: { story: running } }))
    assert.equal('waiting_for_worker' in ((await (await app.request('/api/v2/generations/g2')).json()) as object), false)
    service.generations.set('g1', generation('g1', { status: 'completed' }))
    assert.equal('waiting_for_worker' in ((await (await app.request('/api/v2/generations/g1')).json()) as object), false)
  })

  it("GET /api/v2/generations/:id lists the files the nodes made, with their URLs, and the final video's", async () => {
    const { app, service } = setup()
    const dir = service.artifactsDir('g2')
    const out = (p: string, kind: string) => ({ path: path.join(dir, p), kind })
    const node = (id: string, output: unknown) => ({ id, type: 'render', status: 'succeeded' as const, attempts: 1, started_at: null, finished_at: null, duration_ms: null, output, error: null })
    service.generations.set(
      'g2',
      generation('g2', {
        status: 'completed',
        outputs: { final_video: path.join(dir, 'final.mp4') },
        nodes: {
          videos: node('videos', { results: [out('clips/scene 1.mp4', 'video'), null, out('clips/scene-3.mp4', 'video')] }),
          final: node('final', out('final.mp4', 'video')),
          stray: node('stray', { path: '/etc/passwd', kind: 'image' }),
        },
      }),
    )
    const body = (await (await app.request('/api/v2/generations/g2')).json()) as { artifacts: unknown }
    assert.deepEqual(body.artifacts, {
      final_video_url: '/api/v2/generations/g2/artifacts/final.mp4',
      files: [
        { node: 'videos', item: 0, kind: 'video', path: 'clips/scene 1.mp4', url: '/api/v2/generations/g2/artifacts/clips/scene%201.mp4' },
        { node: 'videos', item: 2, kind: 'video', path: 'clips/scene-3.mp4', url: '/api/v2/generations/g2/artifacts/clips/scene-3.mp4' },
        { node: 'final', kind: 'video', path: 'final.mp4', url: '/api/v2/generations/g2/artifacts/final.mp4' },
      ],
    })
  })

  it('404 NOT_FOUND for an unknown generation and an unknown route', async () => {
    const { app } = setup()
    const res = await app.request('/api/v2/generations/nope')
    assert.equal(res.status, 404)
    assert.equal((await errorOf(res)).code, 'NOT_FOUND')
    const route = await app.request('/api/v2/nothing-here')
    assert.equal(route.status, 404)
    assert.equal((await errorOf(route)).code, 'NOT_FOUND')
  })

  it('GET /api/v2/generations pages with limit and cursor, filters by status', async () => {
    const { app, service } = setup()
    for (const id of ['a', 'b', 'c']) service.generations.set(id, generation(id, { status: id === 'b' ? 'completed' : 'running' }))
    const first = (await (await app.request('/api/v2/generations?limit=2')).json()) as { items: Array<{ id: string }>; next: string | null }
    assert.deepEqual(
      first.items.map((g) => g.id),
      ['a', 'b'],
    )
    assert.equal(first.next, '2')
    const second = (await (await app.request(`/api/v2/generations?limit=2&cursor=${first.next}`)).json()) as { items: Array<{ id: string }>; next: string | null }
    assert.deepEqual(
      second.items.map((g) => g.id),
      ['c'],
    )
    assert.equal(second.next, null)
    const done = (await (await app.request('/api/v2/generations?status=completed')).json()) as { items: Array<{ id: string }> }
    assert.deepEqual(
      done.items.map((g) => g.id),
      ['b'],
    )
    assert.deepEqual(
      service.argsOf('list').map(([q]) => q),
      [{ limit: 2 }, { limit: 2, cursor: '2' }, { limit: 20, status: 'completed' }],
    )
  })

  it('400 for a bad limit or status, at their paths', async () => {
    const { app } = setup()
    for (const [query, path] of [
      ['limit=0', 'limit'],
      ['limit=abc', 'limit'],
      ['limit=101', 'limit'],
      ['status=done', 'status'],
    ] as const) {
      const res = await app.request(`/api/v2/generations?${query}`)
      assert.equal(res.status, 400, query)
      const error = await errorOf(res)
      assert.equal(error.code, 'REQUEST_INVALID')
      assert.deepEqual(
        error.issues!.map((i) => i.path),
        [path],
        query,
      )
    }
  })

  it('POST …/cancel: 200 with the record once cancelled, 202 while it is stopping', async () => {
    const { app, service } = setup()
    service.generations.set('g1', generation('g1'))
    const done = await app.request('/api/v2/generations/g1/cancel', { method: 'POST' })
    assert.equal(done.status, 200)
    assert.equal(((await done.json()) as { status: string }).status, 'cancelled')
    service.cancelTo = 'running'
    service.generations.set('g2', generation('g2'))
    const stopping = await app.request('/api/v2/generations/g2/cancel', { method: 'POST' })
    assert.equal(stopping.status, 202)
    assert.equal(((await stopping.json()) as { id: string }).id, 'g2')
    assert.deepEqual(service.argsOf('cancel'), [['g1'], ['g2']])
  })

  it('POST …/cancel takes an optional reason; a body that is not JSON, malformed or with other fields is refused before anything is cancelled', async () => {
    const { app, service } = setup()
    service.generations.set('g1', generation('g1'))
    const why = await postJson(app, '/api/v2/generations/g1/cancel', { reason: '  wrong brief ' })
    assert.equal(why.status, 200)
    const refused: Array<[RequestInit, number, string]> = [
      [{ body: '{"reason": ', headers: { 'content-type': 'application/json' } }, 400, 'JSON_INVALID'],
      [{ body: JSON.stringify({ reason: 'x', force: true }), headers: { 'content-type': 'application/json' } }, 400, 'REQUEST_INVALID'],
      [{ body: JSON.stringify({ reason: '   ' }), headers: { 'content-type': 'application/json' } }, 400, 'REQUEST_INVALID'],
      [{ body: 'reason=x', headers: { 'content-type': 'application/x-www-form-urlencoded' } }, 415, 'UNSUPPORTED_MEDIA_TYPE'],
      [{ body: JSON.stringify({ reason: 'a\u0000b' }), headers: { 'content-type': 'application/json' } }, 400, 'REQUEST_INVALID'],
    ]
    for (const [init, status, code] of refused) {
      const res = await app.request('/api/v2/generations/g1/cancel', { method: 'POST', ...init })
      assert.equal(res.status, status, String(init.body))
      assert.equal((await errorOf(res)).code, code)
    }
    assert.deepEqual(service.argsOf('cancel'), [['g1', 'wrong brief']], 'trimmed; the refused requests cancelled nothing')
  })

  it('409 RUN_FINISHED when cancelling a finished generation; 404 for an unknown one', async () => {
    const { app, service } = setup()
    service.generations.set('g1', generation('g1', { status: 'completed' }))
    service.fail('cancel', new WeftError('RUN_FINISHED', 'already completed'))
    const res = await app.request('/api/v2/generations/g1/cancel', { method: 'POST' })
    assert.equal(res.status, 409)
    assert.equal((await errorOf(res)).code, 'RUN_FINISHED')
    const unknown = await app.request('/api/v2/generations/zzz/cancel', { method: 'POST' })
    assert.equal(unknown.status, 404)
    service.fail('cancel', new WeftError('RUN_LEASED', 'driven elsewhere'))
    const leased = await app.request('/api/v2/generations/g1/cancel', { method: 'POST' })
    assert.equal(leased.status, 409)
    assert.equal((await errorOf(leased)).code, 'RUN_LEASED')
  })

  it('404 for a generation id that no generation can have (NUL, backslash, too long), without asking the store', async () => {
    const { app, service } = setup()
    // a database refuses some of these (Postgres: NUL in text); the service is never asked
    for (const m of ['get', 'cancel', 'decide'] as const) service.fail(m, new Error(`the store was asked (${m})`))
    for (const id of ['%00', 'a%00b', 'a%5Cb', '..', `${'a'.repeat(129)}`, '%E2%80%AE']) {
      for (const [method, path] of [
        ['GET', ''],
        ['POST', '/cancel'],
        ['POST', '/approvals/review'],
        ['GET', '/artifacts/final.mp4'],
      ] as const) {
        const res = await app.request(`/api/v2/generations/${id}${path}`, { method, headers: { 'content-type': 'application/json' }, ...(method === 'POST' ? { body: '{"decision":"approve"}' } : {}) })
        assert.equal(res.status, 404, `${method} ${id}${path}`)
        assert.equal((await errorOf(res)).code, 'NOT_FOUND')
      }
    }
  })

  it('POST /sessions/:id/token gives a new WebSocket token for a known session; 404 for an unknown one', async () => {
    const { app, service } = setup()
    const started = (await (await postJson(app, '/api/v2/generate', { prompt: 'an ad' })).json()) as { session_id: string }
    const res = await app.request(`/api/v2/sessions/${started.session_id}/token`, { method: 'POST' })
    assert.equal(res.status, 200)
    const body = (await res.json()) as { session_id: string; websocket_url: string; ws_token: string }
    assert.equal(body.session_id, started.session_id)
    assert.match(body.websocket_url, new RegExp(`/ws/${started.session_id}$`))
    assert.equal(body.ws_token, `token-for-${started.session_id}`, "issued by the server's token issuer")
    for (const unknown of ['no-such-session', 'bad%00id']) {
      const r = await app.request(`/api/v2/sessions/${unknown}/token`, { method: 'POST' })
      assert.equal(r.status, 404, unknown)
      assert.equal((await errorOf(r)).code, 'SESSION_NOT_FOUND')
    }
    void service
  })

  it('400 CURSOR_INVALID from the service, at path cursor', async () => {
    const { app, service } = setup()
    service.fail('list', new WeftError('CURSOR_INVALID', 'bad cursor', { details: { issues: [{ path: 'cursor', message: 'invalid cursor' }] } }))
    const res = await app.request('/api/v2/generations?cursor=forged')
    assert.equal(res.status, 400)
    const error = await errorOf(res)
    assert.equal(error.code, 'CURSOR_INVALID')
    assert.deepEqual(
      error.issues!.map((i) => i.path),
      ['cursor'],
    )
  })
})

describe('POST /api/v2/generations/:id/approvals/:gate', () => {
  it('200 { applied, decision }: the decision goes to the service with who decided', async () => {
    const { app, service } = setup({ apiKeys: [{ id: 'editor', key: KEY }] })
    const res = await postJson(app, '/api/v2/generations/g1/approvals/approve_story', { decision: 'approve', edits: { draft: 'new story' } }, { authorization: `Bearer ${KEY}` })
    assert.equal(res.status, 200)
    assert.deepEqual(await res.json(), { applied: true, decision: { decision: 'approve', by: 'editor', edits: { draft: 'new story' } } })
    assert.deepEqual(service.argsOf('decide'), [['g1', 'approve_story', { decision: 'approve', by: 'editor', edits: { draft: 'new story' } }]])
  })

  it('400 at the field: revise without feedback, edits with reject, unknown keys, a bad decision', async () => {
    const { app, service } = setup()
    const cases: Array<[unknown, string[]]> = [
      [{ decision: 'revise' }, ['feedback']],
      [{ decision: 'revise', feedback: '   ' }, ['feedback']],
      [{ decision: 'reject', edits: 'x' }, ['edits']],
      [{ decision: 'approve', by: 'mallory' }, ['by']],
      [{ decision: 'maybe' }, ['decision']],
    ]
    for (const [body, paths] of cases) {
      const res = await postJson(app, '/api/v2/generations/g1/approvals/approve_story', body)
      assert.equal(res.status, 400, JSON.stringify(body))
      const error = await errorOf(res)
      assert.equal(error.code, 'REQUEST_INVALID')
      assert.deepEqual(
        error.issues!.map((i) => i.path),
        paths,
        JSON.stringify(body),
      )
    }
    assert.equal(service.argsOf('decide').length, 0)
  })

  it('409 for a gate that is not waiting or a decision not allowed now; 404 for an unknown generation or gate name', async () => {
    for (const code of ['GATE_NOT_WAITING', 'DECISION_NOT_ALLOWED']) {
      const { app, service } = setup()
      service.fail('decide', new WeftError(code, 'no'))
      const res = await postJson(app, '/api/v2/generations/g1/approvals/approve_story', { decision: 'approve' })
      assert.equal(res.status, 409, code)
      assert.equal((await errorOf(res)).code, code)
    }
    const { app, service } = setup()
    service.fail('decide', new WeftError('NOT_FOUND', 'no generation g9'))
    assert.equal((await postJson(app, '/api/v2/generations/g9/approvals/approve_story', { decision: 'approve' })).status, 404)
    service.fail('decide', undefined)
    assert.equal((await postJson(app, '/api/v2/generations/g1/approvals/not%20a%20gate', { decision: 'approve' })).status, 404)
    assert.equal(service.argsOf('decide').length, 1)
  })

  it("a fan-out item's gate is addressed `<fan_out>[<index>].<step>` (URL-encoded or not); anything else shaped like it is 404", async () => {
    const { app, service } = setup()
    assert.equal((await postJson(app, '/api/v2/generations/g1/approvals/videos%5B3%5D.review', { decision: 'approve' })).status, 200)
    assert.equal((await postJson(app, '/api/v2/generations/g1/approvals/videos[12].review', { decision: 'reject', feedback: 'no' })).status, 200)
    assert.deepEqual(
      service.argsOf('decide').map((a) => a[1]),
      ['videos[3].review', 'videos[12].review'],
    )
    for (const bad of ['videos%5B%5D.review', 'videos%5Bx%5D.review', 'videos%5B3%5D', 'videos.review', 'videos%5B3%5D.review.more']) {
      assert.equal((await postJson(app, `/api/v2/generations/g1/approvals/${bad}`, { decision: 'approve' })).status, 404, bad)
    }
    assert.equal(service.argsOf('decide').length, 2)
  })

  it('415 for a decision that is not JSON', async () => {
    const { app } = setup()
    const res = await app.request('/api/v2/generations/g1/approvals/approve_story', { method: 'POST', headers: { 'content-type': 'text/plain' }, body: 'approve' })
    assert.equal(res.status, 415)
  })
})

describe('pipelines', () => {
  it("GET /api/v2/pipelines lists the service's pipelines", async () => {
    const { app, service } = setup()
    const res = await app.request('/api/v2/pipelines')
    assert.equal(res.status, 200)
    assert.deepEqual(await res.json(), service.pipelines)
  })

  it('POST /api/v2/pipelines/validate takes YAML text or JSON { text } and answers { valid, diagnostics }', async () => {
    const { app, service } = setup()
    service.validation = { valid: false, diagnostics: [{ code: 'UNKNOWN_NODE', message: 'no node x', file: '<request>', line: 3, col: 5, path: 'nodes.a.needs.0', severity: 'error' }] }
    const yaml = 'pipeline: p\nnodes: {}\n'
    const fromYaml = await app.request('/api/v2/pipelines/validate', { method: 'POST', headers: { 'content-type': 'text/yaml' }, body: yaml })
    assert.equal(fromYaml.status, 200)
    assert.deepEqual(await fromYaml.json(), service.validation)
    const fromJson = await postJson(app, '/api/v2/pipelines/validate', { text: yaml })
    assert.equal(fromJson.status, 200)
    assert.deepEqual(service.argsOf('validatePipeline'), [[yaml], [yaml]])
    const bad = await postJson(app, '/api/v2/pipelines/validate', { yaml })
    assert.equal(bad.status, 400)
    assert.deepEqual(
      (await errorOf(bad)).issues!.map((i) => i.path),
      ['text', 'yaml'],
    )
    const image = await app.request('/api/v2/pipelines/validate', { method: 'POST', headers: { 'content-type': 'image/png' }, body: 'x' })
    assert.equal(image.status, 415)
  })
})

describe('errors', () => {
  it('500 INTERNAL without the stack or message for anything unexpected; the log gets the stack', async () => {
    const logged: Array<Record<string, unknown> | undefined> = []
    const { app, service } = setup({ logger: { error: (_m, meta) => logged.push(meta) } })
    service.fail('get', new Error('db password is hunter2'))
    const res = await app.request('/api/v2/generations/g1')
    assert.equal(res.status, 500)
    const text = await res.text()
    assert.deepEqual(JSON.parse(text), { error: { code: 'INTERNAL', message: 'internal error' } })
    assert.ok(!text.includes('hunter2'))
    assert.equal(logged.length, 1)
    assert.match(String(logged[0]!.error), /hunter2[\s\S]*at /)
  })

  it("500 INTERNAL for a WeftError whose code is not a client's problem", async () => {
    const { app, service } = setup()
    service.fail('listPipelines', new WeftError('NODE_FAILED', 'internal detail'))
    const res = await app.request('/api/v2/pipelines')
    assert.equal(res.status, 500)
    assert.deepEqual(await res.json(), { error: { code: 'INTERNAL', message: 'internal error' } })
  })

  it('GET /healthz answers { ok: true }', async () => {
    const { app } = setup({ apiKeys: [{ id: 'a', key: KEY }] })
    const res = await app.request('/healthz')
    assert.equal(res.status, 200)
    assert.deepEqual(await res.json(), { ok: true })
  })
})

describe('CORS for the allowed browser origins', () => {
  const UI = 'https://studio.example'
  it('answers a preflight from an allowed origin before auth, and marks its responses', async () => {
    const { app } = setup({ apiKeys: [{ id: 'studio', key: KEY }], allowedOrigins: [`${UI}/`] })
    const pre = await app.request('http://localhost/api/v2/generate', {
      method: 'OPTIONS',
      headers: { origin: UI, 'access-control-request-method': 'POST', 'access-control-request-headers': 'authorization, content-type' },
    })
    assert.equal(pre.status, 204)
    assert.equal(pre.headers.get('access-control-allow-origin'), UI)
    assert.match(pre.headers.get('access-control-allow-headers') ?? '', /Authorization/)
    assert.match(pre.headers.get('access-control-allow-methods') ?? '', /POST/)
    const res = await app.request('http://localhost/api/v2/generations', { headers: { origin: UI, authorization: `Bearer ${KEY}` } })
    assert.equal(res.status, 200)
    assert.equal(res.headers.get('access-control-allow-origin'), UI)
    assert.match(res.headers.get('access-control-expose-headers') ?? '', /Retry-After/)
    assert.match(res.headers.get('vary') ?? '', /Origin/)
    // auth still applies to the real request
    const anon = await app.request('http://localhost/api/v2/generations', { headers: { origin: UI } })
    assert.equal(anon.status, 401)
  })

  it('gives other origins, and every origin when none is configured, no CORS grant', async () => {
    const { app } = setup({ apiKeys: [{ id: 'studio', key: KEY }], allowedOrigins: [UI] })
    const pre = await app.request('http://localhost/api/v2/generate', { method: 'OPTIONS', headers: { origin: 'https://evil.example', 'access-control-request-method': 'POST' } })
    assert.equal(pre.headers.get('access-control-allow-origin'), null)
    const closed = setup({ apiKeys: [{ id: 'studio', key: KEY }] }).app
    const res = await closed.request('http://localhost/api/v2/generations', { headers: { origin: UI, authorization: `Bearer ${KEY}` } })
    assert.equal(res.status, 200)
    assert.equal(res.headers.get('access-control-allow-origin'), null)
  })
})

describe('POST /api/v2/generations/:id/rerun', () => {
  it('202: a new generation in the same session, with the node to re-run from and dotted config overrides', async () => {
    const { app, service } = setup()
    await postJson(app, 'http://127.0.0.1/api/v2/generate', { prompt: 'an ad', session_id: 'sess_9' })
    const res = await postJson(app, 'http://127.0.0.1/api/v2/generations/gen-1/rerun', { from: 'scenes', config: { critic: { scene_threshold: 70 } } })
    assert.equal(res.status, 202)
    const body = (await res.json()) as Record<string, string>
    assert.equal(body.generation_id, 'gen-2')
    assert.equal(body.session_id, 'sess_9')
    assert.equal(body.status_url, '/api/v2/generations/gen-2')
    assert.deepEqual(service.argsOf('rerun'), [['gen-1', { from: 'scenes', config: { 'critic.scene_threshold': 70 } }]])
  })

  it('400 for unknown keys or a node id that cannot be one, 404 for an unknown generation; the service is not asked to re-run', async () => {
    const { app, service } = setup()
    await postJson(app, 'http://127.0.0.1/api/v2/generate', { prompt: 'an ad' })
    const unknown = await postJson(app, 'http://127.0.0.1/api/v2/generations/gen-1/rerun', { from: 'scenes', seed: 3 })
    assert.equal(unknown.status, 400)
    assert.equal((await errorOf(unknown)).code, 'REQUEST_INVALID')
    const badNode = await postJson(app, 'http://127.0.0.1/api/v2/generations/gen-1/rerun', { from: '../x' })
    assert.equal(badNode.status, 400)
    assert.deepEqual(
      (await errorOf(badNode)).issues?.map((i) => i.path),
      ['from'],
    )
    const missing = await postJson(app, 'http://127.0.0.1/api/v2/generations/gen-404/rerun', {})
    assert.equal(missing.status, 404)
    assert.deepEqual(
      service.argsOf('rerun').map((a) => a[0]),
      ['gen-404'],
    )
  })
})
