import { describe, it } from 'node:test'
import assert from 'node:assert/strict'
import http from 'node:http'
import { WebSocket } from 'ws'
import { isLoopback, startServer } from '../../server/serve.ts'
import { FakeService } from '../support/fake-service.ts'
import { KEY, silent } from '../support/api.ts'

describe('startServer', () => {
  it('listens on 127.0.0.1:0, serves the API and the WebSocket, and closes', async () => {
    const service = new FakeService()
    const running = await startServer({ service, port: 0, host: '127.0.0.1', logger: silent })
    try {
      assert.match(running.url, /^http:\/\/127\.0\.0\.1:\d+$/)
      const health = await fetch(`${running.url}/healthz`)
      assert.deepEqual(await health.json(), { ok: true })

      const res = await fetch(`${running.url}/api/v2/generate`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ prompt: 'an ad' }) })
      assert.equal(res.status, 202)
      const started = (await res.json()) as { websocket_url: string; ws_token: string; status_url: string }
      assert.equal(started.websocket_url, `${running.url.replace('http:', 'ws:')}/ws/session-gen-1`)
      assert.equal((await fetch(running.url + started.status_url)).status, 200)

      const ws = new WebSocket(started.websocket_url, ['weft.v1', `weft.token.${started.ws_token}`])
      await new Promise<void>((resolve, reject) => {
        ws.once('open', () => resolve())
        ws.once('error', reject)
      })
      assert.equal(ws.protocol, 'weft.v1')
      const closed = new Promise<number>((resolve) => ws.once('close', (code) => resolve(code)))
      await running.close()
      assert.equal(await closed, 1001)
    } finally {
      await running.close()
    }
    await assert.rejects(fetch(`${running.url}/healthz`))
    assert.equal(running.server.listening, false)
  })

  it('413 for a chunked body (no Content-Length) over the limit', async () => {
    const running = await startServer({ service: new FakeService(), port: 0, host: '127.0.0.1', bodyLimitBytes: 1024, logger: silent })
    try {
      const { status, headers, body } = await new Promise<{ status: number; headers: http.IncomingHttpHeaders; body: string }>((resolve, reject) => {
        const req = http.request(`${running.url}/api/v2/generate`, { method: 'POST', headers: { 'content-type': 'application/json' } }, (res) => {
          let text = ''
          res
            .setEncoding('utf8')
            .on('data', (c: string) => (text += c))
            .on('end', () => resolve({ status: res.statusCode!, headers: res.headers, body: text }))
        })
        req.on('error', reject)
        req.write('{"prompt":"')
        for (let i = 0; i < 4; i++) req.write('z'.repeat(500))
        req.end('"}')
      })
      assert.equal(status, 413)
      assert.equal(headers['content-type']?.startsWith('application/json'), true)
      assert.equal(JSON.parse(body).error.code, 'PAYLOAD_TOO_LARGE')
    } finally {
      await running.close()
    }
  })

  it('refuses a non-loopback address without API keys (AUTH_REQUIRED), and listens there with keys', async () => {
    for (const host of ['0.0.0.0', '::', '192.0.2.10', 'example.com']) {
      await assert.rejects(startServer({ service: new FakeService(), port: 0, host }), { code: 'AUTH_REQUIRED' }, host)
    }
    const running = await startServer({ service: new FakeService(), port: 0, host: '0.0.0.0', apiKeys: [{ id: 'a', key: KEY }], logger: silent })
    try {
      const port = new URL(running.url).port
      assert.equal((await fetch(`http://127.0.0.1:${port}/api/v2/pipelines`)).status, 401)
      assert.equal((await fetch(`http://127.0.0.1:${port}/api/v2/pipelines`, { headers: { authorization: `Bearer ${KEY}` } })).status, 200)
    } finally {
      await running.close()
    }
  })

  it('LISTEN_FAILED when the port is taken', async () => {
    const first = await startServer({ service: new FakeService(), port: 0, host: '127.0.0.1', websocket: false })
    try {
      const port = Number(new URL(first.url).port)
      await assert.rejects(startServer({ service: new FakeService(), port, host: '127.0.0.1' }), { code: 'LISTEN_FAILED' })
    } finally {
      await first.close()
    }
  })
})

describe('isLoopback', () => {
  it('127.0.0.0/8, ::1, IPv4-mapped loopback and localhost only', () => {
    for (const h of ['127.0.0.1', '127.1.2.3', '::1', '[::1]', '::ffff:127.0.0.1', 'localhost', 'LOCALHOST']) assert.equal(isLoopback(h), true, h)
    for (const h of ['0.0.0.0', '::', '10.0.0.1', '192.168.1.1', '::ffff:10.0.0.1', 'example.com', '']) assert.equal(isLoopback(h), false, h)
  })
})
