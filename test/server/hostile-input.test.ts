// Hostile and careless input, each case as it arrives over a real socket: refused with a precise code, never a 500,
// never reinterpreted into something else.
import assert from 'node:assert/strict'
import { mkdirSync, writeFileSync } from 'node:fs'
import http from 'node:http'
import path from 'node:path'
import { after, before, describe, it } from 'node:test'
import { startServer, type RunningServer } from '../../server/serve.ts'
import { silent } from '../support/api.ts'
import { FakeService, generation } from '../support/fake-service.ts'

/** A request whose path goes out byte for byte as given (no URL normalising on this side). */
function raw(base: string, method: string, rawPath: string, body?: Buffer, type?: string): Promise<{ status: number; body: string }> {
  const u = new URL(base)
  return new Promise((resolve, reject) => {
    const req = http.request(
      { host: u.hostname, port: u.port, method, path: rawPath, headers: { ...(type ? { 'content-type': type } : {}), ...(body ? { 'content-length': body.length } : {}) } },
      (res) => {
        let text = ''
        res.setEncoding('utf8')
        res.on('data', (d: string) => (text += d))
        res.on('end', () => resolve({ status: res.statusCode!, body: text }))
      },
    )
    req.on('error', reject)
    req.end(body)
  })
}

describe('hostile input over a real socket', () => {
  const service = new FakeService()
  let server: RunningServer
  before(async () => {
    service.generations.set('g1', generation('g1'))
    const dir = service.artifactsDir('g1')
    mkdirSync(path.join(dir, 'clips'), { recursive: true })
    writeFileSync(path.join(dir, 'final.mp4'), 'video bytes')
    writeFileSync(path.join(dir, 'clips', 'a.mp4'), 'clip bytes')
    server = await startServer({ service, port: 0, host: '127.0.0.1', logger: silent, rateLimit: null })
  })
  after(() => server.close())

  it('refuses `.`, `..` and `\\` in an artifact path as sent, instead of serving what they would resolve to', async () => {
    for (const p of [
      '/api/v2/generations/g1/artifacts/./final.mp4',
      '/api/v2/generations/g1/artifacts/clips/../final.mp4',
      '/api/v2/generations/g1/artifacts/%2e/final.mp4',
      '/api/v2/generations/g1/artifacts/clips%5Ca.mp4',
    ]) {
      const r = await raw(server.url, 'GET', p)
      assert.equal(r.status, 400, p)
      assert.equal(JSON.parse(r.body).error.code, 'PATH_INVALID', p)
    }
    // a bare backslash never reaches the routes: the request itself is refused, in the API's error shape
    const slash = await raw(server.url, 'GET', '/api/v2/generations/g1/artifacts/clips\\a.mp4')
    assert.equal(slash.status, 400)
    assert.equal(JSON.parse(slash.body).error.code, 'REQUEST_MALFORMED')
    // the plain spellings are served
    assert.equal((await raw(server.url, 'GET', '/api/v2/generations/g1/artifacts/final.mp4')).body, 'video bytes')
    assert.equal((await raw(server.url, 'GET', '/api/v2/generations/g1/artifacts/clips/a.mp4')).body, 'clip bytes')
  })

  it('refuses a body that is not UTF-8, saying where, for YAML and JSON alike', async () => {
    const yaml = Buffer.concat([Buffer.from('pipeline: x\nnodes:\n  a: { description: "caf'), Buffer.from([0xe9]), Buffer.from('" }\n')])
    const v = await raw(server.url, 'POST', '/api/v2/pipelines/validate', yaml, 'text/yaml')
    assert.equal(v.status, 400)
    assert.deepEqual(JSON.parse(v.body).error, { code: 'ENCODING_INVALID', message: 'the body is not UTF-8 text: byte 0xe9 at line 3, column 25' })
    const json = Buffer.concat([Buffer.from('{"prompt": "caf'), Buffer.from([0xff]), Buffer.from('"}')])
    const g = await raw(server.url, 'POST', '/api/v2/generate', json, 'application/json')
    assert.equal(g.status, 400)
    assert.equal(JSON.parse(g.body).error.code, 'ENCODING_INVALID')
    assert.equal(service.argsOf('start').length, 0, 'nothing was started')
  })

  it('refuses a config that is a list, and names unknown keys in a sentence', async () => {
    const r = await raw(server.url, 'POST', '/api/v2/generate', Buffer.from(JSON.stringify({ prompt: 'x', config: [], colour: 'red' })), 'application/json')
    assert.equal(r.status, 400)
    const issues = JSON.parse(r.body).error.issues as Array<{ path: string; message: string }>
    assert.deepEqual(issues.map((i) => i.path).sort(), ['colour', 'config'])
    assert.equal(issues.find((i) => i.path === 'colour')!.message, '"colour" is not a known key')
  })

  it('answers 404 for ids no generation can have, on every route under them, before the store is asked', async () => {
    for (const p of ['/api/v2/generations/%00', '/api/v2/generations/%00/cancel', '/api/v2/generations/a%5Cb/graph']) {
      const r = await raw(server.url, p.endsWith('cancel') ? 'POST' : 'GET', p)
      assert.equal(r.status, 404, p)
    }
    assert.equal(service.argsOf('get').filter(([id]) => id === '\0').length, 0)
  })
})
