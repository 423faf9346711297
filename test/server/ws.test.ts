import { manualClock } from '../helpers.ts'
import { afterEach, describe, it } from 'node:test'
import assert from 'node:assert/strict'
import http from 'node:http'
import type { AddressInfo, Socket } from 'node:net'
import { WebSocket } from 'ws'
import { createTokens, type Tokens } from '../../server/tokens.ts'
import { attachWebSocket, type WsEndpoint, type WsOptions } from '../../server/ws.ts'
import { FakeWsService, FAKE_ARTIFACTS_ROOT } from '../support/fake-ws-service.ts'

type Frame = Record<string, any>

/** A test client: every frame it received, waits on them, and how it closed. */
class Client {
  readonly frames: Frame[] = []
  readonly closed: Promise<{ code: number; reason: string }>
  private waiters: Array<() => void> = []
  private pings = 0

  constructor(readonly ws: WebSocket) {
    ws.on('message', (data) => {
      this.frames.push(JSON.parse(String(data)) as Frame)
      for (const check of [...this.waiters]) check()
    })
    this.closed = new Promise((resolve) =>
      ws.once('close', (code, reason) => {
        resolve({ code, reason: reason.toString() })
        for (const check of [...this.waiters]) check()
      }),
    )
  }

  /** How the socket closed; fails if it is still open after `ms`. */
  closedWithin(ms = 3000): Promise<{ code: number; reason: string }> {
    let timer: NodeJS.Timeout | undefined
    const late = new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new Error(`still open after ${ms} ms`)), ms)
    })
    return Promise.race([this.closed, late]).finally(() => clearTimeout(timer))
  }

  send(message: unknown): void {
    this.ws.send(typeof message === 'string' ? message : JSON.stringify(message))
  }

  /** Resolves once `done(frames)` holds; fails after `ms`. */
  until(done: (frames: Frame[]) => boolean, ms = 3000): Promise<Frame[]> {
    return new Promise((resolve, reject) => {
      const check = (): void => {
        if (!done(this.frames)) return
        clearTimeout(timer)
        this.waiters = this.waiters.filter((w) => w !== check)
        resolve(this.frames)
      }
      const timer = setTimeout(() => {
        this.waiters = this.waiters.filter((w) => w !== check)
        reject(new Error(`timed out; frames so far: ${JSON.stringify(this.frames).slice(0, 2000)}`))
      }, ms)
      this.waiters.push(check)
      check()
    })
  }

  /** The first frame (received or to come) that matches. */
  async frame(match: (f: Frame) => boolean, ms?: number): Promise<Frame> {
    await this.until((fs) => fs.some(match), ms)
    return this.frames.find(match)!
  }

  /** A reply: the frame whose `id` is `id`. */
  reply(id: string): Promise<Frame> {
    return this.frame((f) => f.id === id)
  }

  /**
   * Resolves once the server answers a ping sent now. It answers a connection's messages in order, and a
   * socket keeps order: every frame it sent for what came before is in by then.
   */
  async settled(): Promise<void> {
    const id = `settled-${++this.pings}`
    this.send({ type: 'ping', id })
    await this.reply(id)
  }

  events(generationId?: string): Frame[] {
    return this.frames.filter((f) => typeof f.seq === 'number' && (generationId === undefined || f.generation_id === generationId))
  }
}

interface Harness {
  service: FakeWsService
  tokens: Tokens
  endpoint: WsEndpoint
  base: string
  /** `replay: 'none'` connects with ?replay=none (live events only); the default replays the history first. */
  open(session: string, opts?: { protocols?: string[]; headers?: Record<string, string>; autoPong?: boolean; replay?: 'none' | 'all' }): Promise<Client>
  refused(session: string, opts?: { protocols?: string[]; headers?: Record<string, string>; path?: string }): Promise<{ status: number; body: any }>
  close(): Promise<void>
}

const secret = Buffer.alloc(32, 3)
const harnesses: Harness[] = []
afterEach(async () => {
  for (const h of harnesses.splice(0)) await h.close()
})

async function setup(opts: Partial<WsOptions> = {}, tokens: Tokens = createTokens({ secret })): Promise<Harness> {
  const service = new FakeWsService()
  const server = http.createServer((_req, res) => {
    res.statusCode = 404
    res.end()
  })
  const endpoint = attachWebSocket(server, service, { tokens, ...opts })
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  const base = `ws://127.0.0.1:${(server.address() as AddressInfo).port}`
  const protocolsFor = (session: string): string[] => ['weft.v1', `weft.token.${tokens.issue(session)}`]
  const h: Harness = {
    service,
    tokens,
    endpoint,
    base,
    open: (session, o = {}) =>
      new Promise((resolve, reject) => {
        const ws = new WebSocket(`${base}/ws/${session}${o.replay ? `?replay=${o.replay}` : ''}`, o.protocols ?? protocolsFor(session), { headers: o.headers ?? {}, autoPong: o.autoPong ?? true })
        const client = new Client(ws)
        ws.once('open', () => resolve(client))
        ws.once('unexpected-response', (_req, res) => reject(new Error(`refused with ${res.statusCode}`)))
        ws.once('error', reject)
      }),
    refused: (session, o = {}) =>
      new Promise((resolve, reject) => {
        const ws = new WebSocket(`${base}${o.path ?? `/ws/${session}`}`, o.protocols ?? protocolsFor(session), { headers: o.headers ?? {} })
        ws.once('open', () => {
          ws.terminate()
          reject(new Error('the upgrade was accepted'))
        })
        ws.once('error', () => {})
        ws.once('unexpected-response', (req, res) => {
          let body = ''
          res.on('data', (chunk: Buffer) => {
            body += chunk.toString()
          })
          res.on('end', () => {
            req.destroy()
            resolve({ status: res.statusCode ?? 0, body: body ? JSON.parse(body) : undefined })
          })
        })
      }),
    async close() {
      await endpoint.close()
      server.closeAllConnections()
      await new Promise<void>((resolve) => server.close(() => resolve()))
    },
  }
  harnesses.push(h)
  return h
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms))

/** Waits for server-side state that settles shortly after what the client saw (a socket's close). */
async function eventually(cond: () => boolean, ms = 2000): Promise<void> {
  const end = Date.now() + ms
  while (!cond()) {
    if (Date.now() > end) assert.fail('condition not reached in time')
    await sleep(5)
  }
}
const isError = (code: string) => (f: Frame) => f.type === 'error' && f.code === code

describe('ws handshake', () => {
  it('opens with a token for the session, selects weft.v1 and sends session.attached first', async () => {
    const h = await setup()
    h.service.addGeneration('s1', 'g1')
    const c = await h.open('s1')
    assert.equal(c.ws.protocol, 'weft.v1')
    const first = await c.frame(() => true)
    assert.deepEqual(first, { type: 'session.attached', session_id: 's1', generations: ['g1'] })
    assert.equal(h.endpoint.clients(), 1)
    assert.equal(h.service.subscribers('s1'), 1)
  })

  it('401 without a token, before upgrading', async () => {
    const h = await setup()
    const r = await h.refused('s1', { protocols: ['weft.v1'] })
    assert.equal(r.status, 401)
    assert.equal(r.body.error.code, 'UNAUTHORIZED')
    assert.equal(h.endpoint.clients(), 0)
  })

  it('401 with a token issued for another session', async () => {
    const h = await setup()
    const r = await h.refused('s1', { protocols: ['weft.v1', `weft.token.${h.tokens.issue('s2')}`] })
    assert.equal(r.status, 401)
  })

  it('401 with an expired token', async () => {
    let t = 0
    const h = await setup({}, createTokens({ secret, ttlMs: 1000, now: () => t }))
    const token = h.tokens.issue('s1')
    t = 1000
    const r = await h.refused('s1', { protocols: ['weft.v1', `weft.token.${token}`] })
    assert.equal(r.status, 401)
    t = 999
    await h.open('s1', { protocols: ['weft.v1', `weft.token.${token}`] })
  })

  it('403 for an Origin not on the allowlist; a listed Origin and no Origin are let in', async () => {
    const h = await setup({ allowedOrigins: ['https://app.example.com'] })
    const r = await h.refused('s1', { headers: { Origin: 'https://evil.example.com' } })
    assert.equal(r.status, 403)
    assert.equal(r.body.error.code, 'ORIGIN_FORBIDDEN')
    await h.open('s1', { headers: { Origin: 'https://app.example.com' } })
    await h.open('s1')
    assert.equal(h.endpoint.clients(), 2)
  })

  it('lets in a page of this server (Origin names the Host it reached), still only with a token', async () => {
    const h = await setup()
    // the ws client sends the Host of the URL it dials: 127.0.0.1:<port>
    const host = new URL(h.base).host
    await h.open('s1', { headers: { Origin: `http://${host}` } })
    assert.equal((await h.refused('s1', { headers: { Origin: `http://${host}.evil.example` } })).status, 403)
    assert.equal((await h.refused('s1', { headers: { Origin: 'null' } })).status, 403)
    assert.equal((await h.refused('s1', { headers: { Origin: `http://${host}` }, protocols: ['weft.v1'] })).status, 401)
  })

  it('without API keys, refuses a Host that does not name this machine or the public URL (a rebound DNS name)', async () => {
    const h = await setup({ localHostsOnly: true, publicUrl: 'https://weft.example.com' })
    const r = await h.refused('s1', { headers: { Host: 'attacker.example:8080', Origin: 'http://attacker.example:8080' } })
    assert.equal(r.status, 403)
    assert.equal(r.body.error.code, 'HOST_FORBIDDEN')
    // the public URL's host, and a page from its origin (behind a proxy that keeps Host)
    await h.open('s1', { headers: { Host: 'weft.example.com', Origin: 'https://weft.example.com' } })
    await h.open('s1', { headers: { Host: 'localhost:1234' } })
    assert.equal(h.endpoint.clients(), 2)
  })

  it('404 for other paths and malformed session ids', async () => {
    const h = await setup()
    assert.equal((await h.refused('s1', { path: '/socket' })).status, 404)
    assert.equal((await h.refused('s1', { path: '/ws/s1/extra' })).status, 404)
    assert.equal((await h.refused('s1', { path: '/ws/a%2Fb' })).status, 404)
  })

  it('400 when weft.v1 is not offered', async () => {
    const h = await setup()
    const r = await h.refused('s1', { protocols: [`weft.token.${h.tokens.issue('s1')}`] })
    assert.equal(r.status, 400)
    assert.equal(r.body.error.code, 'PROTOCOL_REQUIRED')
  })

  it('accepts an API key as weft.key.<key> only when a key check is configured; decisions record its principal', async () => {
    const without = await setup()
    assert.equal((await without.refused('s1', { protocols: ['weft.v1', 'weft.key.k-good'] })).status, 401)

    const h = await setup({ checkKey: async (key) => (key === 'k-good' ? 'key_42' : undefined) })
    assert.equal((await h.refused('s1', { protocols: ['weft.v1', 'weft.key.k-bad'] })).status, 401)
    h.service.addGeneration('s1', 'g1')
    h.service.requestApproval('g1', 'approve_story')
    const c = await h.open('s1', { protocols: ['weft.v1', 'weft.key.k-good'] })
    c.send({ type: 'approval.decision', id: 'd', gate: 'approve_story', decision: 'approve' })
    assert.equal((await c.reply('d')).type, 'decision.result')
    assert.equal(h.service.decideCalls[0]!.decision.by, 'key_42')
  })
})

describe('ws frames', () => {
  it('maps run events to { type, seq, generation_id, node, payload, timestamp }', async () => {
    const h = await setup()
    h.service.addGeneration('s1', 'g1')
    const c = await h.open('s1')
    await c.frame((f) => f.type === 'session.attached')
    const e1 = h.service.emit('g1', 'run.started', { pipeline: 'default' })
    const e2 = h.service.emit('g1', 'node.progress', { pct: 50 }, 'story')
    await c.until(() => c.events().length === 2)
    assert.deepEqual(c.events(), [
      { type: 'run.started', seq: 1, generation_id: 'g1', payload: { pipeline: 'default' }, timestamp: e1.timestamp },
      { type: 'node.progress', seq: 2, generation_id: 'g1', node: 'story', payload: { pct: 50 }, timestamp: e2.timestamp },
    ])
  })

  it('run.completed carries final_video_url for a final video inside the artifacts folder, and none for one outside', async () => {
    const h = await setup()
    h.service.addGeneration('s1', 'g1')
    h.service.addGeneration('s1', 'g2')
    const c = await h.open('s1')
    h.service.emit('g1', 'run.completed', { outputs: { final_video: `${FAKE_ARTIFACTS_ROOT}/g1/nodes/final/final video.mp4` } })
    h.service.emit('g2', 'run.completed', { outputs: { final_video: '/etc/passwd' } })
    await c.until(() => c.events().length === 2)
    assert.equal(c.events('g1')[0]!.payload.final_video_url, '/api/v2/generations/g1/artifacts/nodes/final/final%20video.mp4')
    assert.equal(c.events('g1')[0]!.payload.outputs.final_video, `${FAKE_ARTIFACTS_ROOT}/g1/nodes/final/final video.mp4`)
    assert.equal('final_video_url' in c.events('g2')[0]!.payload, false)
  })

  it('re-announces waiting gates on connect, with seq null, after session.attached', async () => {
    const h = await setup()
    h.service.addGeneration('s1', 'g1')
    h.service.addGeneration('s1', 'g2')
    h.service.requestApproval('g2', 'approve_scenes', { value: { scenes: [1, 2] }, allowed: ['approve', 'revise'], revision: 1 })
    const c = await h.open('s1', { replay: 'none' })
    await c.until((fs) => fs.length === 2)
    assert.deepEqual(c.frames[0], { type: 'session.attached', session_id: 's1', generations: ['g1', 'g2'] })
    const { timestamp, ...rest } = c.frames[1]!
    assert.deepEqual(rest, {
      type: 'approval.requested',
      seq: null,
      generation_id: 'g2',
      node: 'approve_scenes',
      payload: { gate: 'approve_scenes', value: { scenes: [1, 2] }, allowed: ['approve', 'revise'], revision: 1, reannounced: true },
    })
    assert.equal(typeof timestamp, 'string')
  })

  it('events that happen while a client attaches follow session.attached and the re-announced gates', async () => {
    const h = await setup()
    h.service.addGeneration('s1', 'g1')
    h.service.requestApproval('g1', 'approve_story')
    const { release, called } = h.service.hold('sessionGenerations')
    const opening = h.open('s1', { replay: 'none' })
    await called
    h.service.emit('g1', 'node.progress', { pct: 10 }, 'story')
    release()
    const c = await opening
    await c.until((fs) => fs.length === 3)
    assert.deepEqual(
      c.frames.map((f) => [f.type, f.seq]),
      [
        ['session.attached', undefined],
        ['approval.requested', null],
        ['node.progress', 2],
      ],
    )
  })

  it('two clients of one session see the same events in the same order', async () => {
    const h = await setup()
    h.service.addGeneration('s1', 'g1')
    h.service.addGeneration('s1', 'g2')
    const a = await h.open('s1')
    const b = await h.open('s1')
    await a.frame((f) => f.type === 'session.attached')
    await b.frame((f) => f.type === 'session.attached')
    for (let i = 0; i < 20; i++) h.service.emit(i % 3 === 0 ? 'g2' : 'g1', 'node.progress', { i }, 'n')
    await a.until(() => a.events().length === 20)
    await b.until(() => b.events().length === 20)
    assert.deepEqual(a.events(), b.events())
    assert.deepEqual(
      a.events().map((f) => f.payload.i),
      [...Array(20).keys()],
    )
    assert.deepEqual(
      a.events('g2').map((f) => f.seq),
      [1, 2, 3, 4, 5, 6, 7],
    )
  })

  it('a client of another session sees none of these events', async () => {
    const h = await setup()
    h.service.addGeneration('s1', 'g1')
    h.service.addGeneration('s2', 'g9')
    const other = await h.open('s2')
    const mine = await h.open('s1')
    h.service.emit('g1', 'run.started')
    h.service.emit('g9', 'run.started')
    await mine.until(() => mine.events().length === 1)
    await other.until(() => other.events().length === 1)
    assert.equal(other.events()[0]!.generation_id, 'g9')
  })
})

describe('ws client messages', () => {
  it('answers malformed messages with error frames and keeps the connection open', async () => {
    const h = await setup()
    h.service.addGeneration('s1', 'g1')
    const c = await h.open('s1')
    c.send('{not json')
    await c.frame(isError('JSON_INVALID'))
    c.ws.send(Buffer.from([1, 2, 3]), { binary: true })
    await c.until((fs) => fs.filter(isError('JSON_INVALID')).length === 2)
    c.send({ type: 'launch', id: 'u' })
    assert.equal((await c.reply('u')).code, 'MESSAGE_UNKNOWN')
    c.send([1, 2])
    await c.frame(isError('MESSAGE_UNKNOWN'))

    c.send({ type: 'resume', id: 'r', after_seq: -1 })
    const r = await c.reply('r')
    assert.equal(r.code, 'MESSAGE_INVALID')
    assert.deepEqual(
      r.issues.map((i: Frame) => i.path),
      ['after_seq'],
    )

    c.send({ type: 'approval.decision', id: 'd1', gate: 'g', decision: 'maybe' })
    assert.deepEqual(
      (await c.reply('d1')).issues.map((i: Frame) => i.path),
      ['decision'],
    )
    // text the Postgres store cannot keep is refused with the message, not failed on at the store
    c.send({ type: 'approval.decision', id: 'd0', gate: 'g', decision: 'revise', feedback: 'more\u0000fizz' })
    const d0 = await c.reply('d0')
    assert.equal(d0.code, 'MESSAGE_INVALID')
    assert.match(d0.message, /NUL character/)
    c.send({ type: 'approval.decision', id: 'd2', gate: 'g', decision: 'revise' })
    const d2 = await c.reply('d2')
    assert.equal(d2.code, 'MESSAGE_INVALID')
    assert.deepEqual(
      d2.issues.map((i: Frame) => i.path),
      ['feedback'],
    )
    c.send({ type: 'approval.decision', id: 'd3', gate: 'g', decision: 'approve', extra: 1 })
    assert.deepEqual(
      (await c.reply('d3')).issues.map((i: Frame) => i.path),
      ['extra'],
    )

    c.send({ type: 'ping', id: 'p' })
    assert.deepEqual(await c.reply('p'), { type: 'pong', id: 'p' })
    assert.equal(c.ws.readyState, WebSocket.OPEN)
    assert.equal(h.service.decideCalls.length, 0)
  })

  it('closes with 1009 on a frame bigger than maxPayload', async () => {
    const h = await setup({ maxPayload: 1024 })
    const c = await h.open('s1')
    c.send({ type: 'ping', pad: 'x'.repeat(2000) })
    assert.equal((await c.closedWithin()).code, 1009)
    await eventually(() => h.endpoint.clients() === 0 && h.service.subscribers('s1') === 0)
  })

  it('applies a decision once: the repeat answers applied: false with the recorded decision', async () => {
    const h = await setup()
    h.service.addGeneration('s1', 'g1')
    h.service.requestApproval('g1', 'approve_story')
    const c = await h.open('s1')
    c.send({ type: 'approval.decision', id: 'a', gate: 'approve_story', decision: 'revise', feedback: 'shorter' })
    c.send({ type: 'approval.decision', id: 'b', generation_id: 'g1', gate: 'approve_story', decision: 'approve' })
    const first = await c.reply('a')
    const second = await c.reply('b')
    const recorded = { decision: 'revise', feedback: 'shorter', by: 'human' }
    assert.deepEqual(first, { type: 'decision.result', id: 'a', generation_id: 'g1', gate: 'approve_story', applied: true, decision: recorded })
    assert.deepEqual(second, { type: 'decision.result', id: 'b', generation_id: 'g1', gate: 'approve_story', applied: false, decision: recorded })
    assert.deepEqual(
      h.service.decideCalls.map((call) => (typeof call.result === 'string' ? call.result : call.result.applied)),
      [true, false],
    )
    // the resolution is an event like any other
    const resolved = await c.frame((f) => f.type === 'approval.resolved')
    assert.equal(resolved.payload.gate, 'approve_story')
  })

  it("passes the service's codes through: RUN_FINISHED after a cancel, GATE_NOT_WAITING, DECISION_NOT_ALLOWED", async () => {
    const h = await setup()
    h.service.addGeneration('s1', 'g1')
    h.service.requestApproval('g1', 'approve_story', { allowed: ['approve', 'reject'] })
    const c = await h.open('s1')
    c.send({ type: 'approval.decision', id: 'a', gate: 'approve_story', decision: 'revise', feedback: 'x' })
    assert.equal((await c.reply('a')).code, 'DECISION_NOT_ALLOWED')
    c.send({ type: 'approval.decision', id: 'b', gate: 'nope', decision: 'approve' })
    assert.equal((await c.reply('b')).code, 'GATE_NOT_WAITING')
    await h.service.cancel('g1')
    c.send({ type: 'approval.decision', id: 'c', gate: 'approve_story', decision: 'approve' })
    const after = await c.reply('c')
    assert.equal(after.type, 'error')
    assert.equal(after.code, 'RUN_FINISHED')
    assert.equal(c.ws.readyState, WebSocket.OPEN)
  })

  it('needs generation_id when the session has several generations, and refuses one from another session', async () => {
    const h = await setup()
    h.service.addGeneration('s1', 'g1')
    h.service.addGeneration('s1', 'g2')
    h.service.addGeneration('s2', 'g9')
    h.service.requestApproval('g9', 'gate')
    const c = await h.open('s1')
    c.send({ type: 'approval.decision', id: 'a', gate: 'gate', decision: 'approve' })
    assert.equal((await c.reply('a')).code, 'GENERATION_REQUIRED')
    c.send({ type: 'approval.decision', id: 'b', generation_id: 'g9', gate: 'gate', decision: 'approve' })
    assert.equal((await c.reply('b')).code, 'NOT_FOUND')
    c.send({ type: 'resume', id: 'r', generation_id: 'g9', after_seq: 0 })
    assert.equal((await c.reply('r')).code, 'NOT_FOUND')
    assert.equal(h.service.decideCalls.length, 0)
  })

  it('answers an unexpected service failure with INTERNAL, without its message, and reports it', async () => {
    const seen: unknown[] = []
    const h = await setup({ onError: (err) => seen.push(err) })
    h.service.addGeneration('s1', 'g1')
    const c = await h.open('s1')
    h.service.failNext('decide', new Error('db password is hunter2'))
    c.send({ type: 'approval.decision', id: 'a', gate: 'g', decision: 'approve' })
    const reply = await c.reply('a')
    assert.equal(reply.code, 'INTERNAL')
    assert.doesNotMatch(reply.message, /hunter2/)
    assert.equal((seen[0] as Error).message, 'db password is hunter2')
  })

  it('rate-limits a flood: drops beyond the burst with one RATE_LIMITED, recovers, then closes 1008 on a sustained flood', async () => {
    let t = 0
    const h = await setup({ now: () => t, rateLimit: { burst: 5, perSecond: 5, floodLimit: 20 } })
    const c = await h.open('s1')
    for (let i = 0; i < 8; i++) c.send({ type: 'ping', id: `p${i}` })
    await c.until((fs) => fs.filter((f) => f.type === 'pong').length === 5 && fs.some(isError('RATE_LIMITED')))
    t += 2000
    c.send({ type: 'ping', id: 'after' })
    await c.reply('after')
    const pongs = c.frames.filter((f) => f.type === 'pong').map((f) => f.id)
    assert.deepEqual(pongs, ['p0', 'p1', 'p2', 'p3', 'p4', 'after'])
    assert.equal(c.frames.filter(isError('RATE_LIMITED')).length, 1)

    t += 2000
    for (let i = 0; i < 40; i++) c.send({ type: 'ping', id: `f${i}` })
    const closed = await c.closedWithin()
    assert.equal(closed.code, 1008)
    // one error frame for the flood, not one per dropped message
    assert.equal(c.frames.filter(isError('RATE_LIMITED')).length, 2)
    assert.equal(h.endpoint.clients(), 0)
  })
})

describe('ws resume', () => {
  it('replays the events before a live one that went out first (a reconnect where an event lands before its resume)', async () => {
    const h = await setup()
    h.service.addGeneration('s1', 'g1')
    for (let i = 0; i < 5; i++) h.service.emit('g1', 'node.progress', { i })
    const c = await h.open('s1', { replay: 'none' })
    await c.frame((f) => f.type === 'session.attached')
    // seq 6 is live before the client's resume reaches the server
    h.service.emit('g1', 'node.progress', { i: 5 })
    await c.until(() => c.events().length === 1)
    c.send({ type: 'resume', id: 'r', after_seq: 2 })
    const result = await c.reply('r')
    h.service.emit('g1', 'node.progress', { i: 6 })
    await c.until(() => c.events().length >= 5)
    await c.settled()
    // nothing lost, nothing twice: 6 first (live), then 3..5 (replayed), then 7
    assert.deepEqual(
      c.events().map((f) => f.seq),
      [6, 3, 4, 5, 7],
    )
    assert.equal(result.replayed, 3)
    // a later resume of the same generation sends only what is newer than what this connection has sent
    c.send({ type: 'resume', id: 'r2', after_seq: 4 })
    const again = await c.reply('r2')
    assert.equal(again.replayed, 0)
    assert.equal(c.events().length, 5)
  })

  for (const snapshotFirst of [false, true]) {
    it(`replays exactly the missed events, then live ones with no gap or repeat (log read ${snapshotFirst ? 'before' : 'after'} live events arrive)`, async () => {
      const h = await setup()
      h.service.addGeneration('s1', 'g1')
      for (let i = 0; i < 5; i++) h.service.emit('g1', 'node.progress', { i })
      const c = await h.open('s1', { replay: 'none' })
      await c.frame((f) => f.type === 'session.attached')
      const { release, called } = h.service.hold('events', { snapshotFirst })
      c.send({ type: 'resume', id: 'r', after_seq: 2 })
      await called
      // live while the replay is being read: held, then sent only if the replay did not include them
      h.service.emit('g1', 'node.progress', { i: 5 })
      h.service.emit('g1', 'node.progress', { i: 6 })
      await sleep(20)
      assert.deepEqual(c.events(), [])
      release()
      const result = await c.reply('r')
      h.service.emit('g1', 'node.progress', { i: 7 })
      h.service.emit('g1', 'node.progress', { i: 8 })
      await c.until(() => c.events().length >= 7)
      await c.settled()
      assert.deepEqual(
        c.events().map((f) => f.seq),
        [3, 4, 5, 6, 7, 8, 9],
      )
      assert.deepEqual(
        c.events().map((f) => f.payload.i),
        [2, 3, 4, 5, 6, 7, 8],
      )
      const replayed = snapshotFirst ? 3 : 5
      assert.deepEqual(result, { type: 'resume.result', id: 'r', generation_id: 'g1', after_seq: 2, replayed, last_seq: 2 + replayed })
      // the resume.result sits between the replayed events and the live ones
      const at = c.frames.indexOf(result)
      assert.ok(
        c.frames
          .slice(0, at)
          .filter((f) => typeof f.seq === 'number')
          .every((f) => f.seq <= 2 + replayed),
      )
      assert.ok(
        c.frames
          .slice(at + 1)
          .filter((f) => typeof f.seq === 'number')
          .every((f) => f.seq > 2 + replayed),
      )
    })
  }

  it('a first connection gets every event so far, then the live ones, each seq once; a resume below them sends nothing again', async () => {
    const h = await setup()
    h.service.addGeneration('s1', 'g1')
    h.service.addGeneration('s1', 'g2')
    for (let i = 0; i < 3; i++) h.service.emit('g1', 'node.progress', { i })
    h.service.emit('g2', 'run.started')
    const { release, called } = h.service.hold('sessionGenerations')
    const opening = h.open('s1')
    await called
    // live while the client attaches: after the history, not twice
    h.service.emit('g1', 'node.progress', { i: 3 })
    release()
    const c = await opening
    await c.until(() => c.events().length === 5)
    h.service.emit('g1', 'node.progress', { i: 4 })
    await c.until(() => c.events().length === 6)
    assert.equal(c.frames[0]!.type, 'session.attached')
    assert.deepEqual(
      c
        .events()
        .filter((f) => f.generation_id === 'g1')
        .map((f) => f.seq),
      [1, 2, 3, 4, 5],
    )
    assert.deepEqual(
      c
        .events()
        .filter((f) => f.generation_id === 'g2')
        .map((f) => f.seq),
      [1],
    )
    c.send({ type: 'resume', id: 'again', generation_id: 'g1', after_seq: 1 })
    assert.deepEqual(await c.reply('again'), { type: 'resume.result', id: 'again', generation_id: 'g1', after_seq: 1, replayed: 0, last_seq: 5 })
    assert.equal(c.events().length, 6)
    // ?replay=none: live events only; anything else is refused before the upgrade
    const quiet = await h.open('s1', { replay: 'none' })
    await quiet.frame((f) => f.type === 'session.attached')
    h.service.emit('g2', 'run.completed')
    await quiet.until(() => quiet.events().length === 1)
    assert.deepEqual(
      quiet.events().map((f) => [f.generation_id, f.seq]),
      [['g2', 2]],
    )
    const bad = await h.refused('s1', { path: '/ws/s1?replay=some' })
    assert.equal(bad.status, 400)
  })

  it('clamps an after_seq past the last event to it, so that the live events that follow still arrive', async () => {
    const h = await setup()
    h.service.addGeneration('s1', 'g1')
    for (let i = 0; i < 3; i++) h.service.emit('g1', 'node.progress', { i })
    const c = await h.open('s1', { replay: 'none' })
    await c.frame((f) => f.type === 'session.attached')
    c.send({ type: 'resume', id: 'far', after_seq: 999_999 })
    assert.deepEqual(await c.reply('far'), { type: 'resume.result', id: 'far', generation_id: 'g1', after_seq: 999_999, replayed: 0, last_seq: 3 })
    // caught up exactly: nothing to clamp
    c.send({ type: 'resume', id: 'even', after_seq: 3 })
    assert.equal((await c.reply('even')).last_seq, 3)
    h.service.emit('g1', 'node.progress', { i: 3 })
    await c.until(() => c.events().length === 1)
    assert.deepEqual(
      c.events().map((f) => f.seq),
      [4],
    )
  })

  it('a resume whose log cannot be read answers INTERNAL and still delivers the events held meanwhile', async () => {
    const h = await setup()
    h.service.addGeneration('s1', 'g1')
    const c = await h.open('s1', { replay: 'none' })
    await c.frame((f) => f.type === 'session.attached')
    h.service.failNext('events', new Error('store down'))
    c.send({ type: 'resume', id: 'r', after_seq: 0 })
    assert.equal((await c.reply('r')).code, 'INTERNAL')
    h.service.emit('g1', 'run.started')
    await c.until(() => c.events().length === 1)
    assert.equal(c.events()[0]!.seq, 1)
  })
})

describe('ws liveness', () => {
  it('drops a slow client past the send-buffer bound (1013) and forgets it; a fast one keeps going', async () => {
    const h = await setup({ maxBufferedBytes: 256 * 1024 })
    h.service.addGeneration('s1', 'g1')
    const slow = await h.open('s1')
    const fast = await h.open('s1')
    await slow.frame((f) => f.type === 'session.attached')
    await fast.frame((f) => f.type === 'session.attached')
    // stop reading: the kernel buffers fill, then the server's own backlog grows
    const socket = (slow.ws as unknown as { _socket: Socket })._socket
    socket.pause()
    const blob = 'x'.repeat(16 * 1024)
    let emitted = 0
    while (h.endpoint.clients() === 2 && emitted < 5000) {
      for (let i = 0; i < 4; i++, emitted++) h.service.emit('g1', 'node.progress', { blob })
      await new Promise((resolve) => setImmediate(resolve))
    }
    assert.equal(h.endpoint.clients(), 1, `slow client still served after ${emitted} events`)
    assert.equal(h.service.subscribers('s1'), 1)
    await fast.until(() => fast.events().length === emitted, 10_000)
    socket.resume()
    assert.equal((await slow.closedWithin()).code, 1013)
    assert.ok(slow.events().length < emitted)
  })

  it('terminates a client that leaves two pings unanswered; one that answers stays', async () => {
    const clock = manualClock()
    const h = await setup({ heartbeatMs: 30_000, clock })
    const mute = await h.open('s1', { autoPong: false })
    const alive = await h.open('s1')
    // a ping each heartbeat; the answers (or none) travel over the real sockets before the next
    for (let beat = 0; beat < 3; beat++) {
      clock.advance(30_000)
      await sleep(50)
    }
    const closed = await mute.closedWithin()
    assert.equal(closed.code, 1006)
    alive.send({ type: 'ping', id: 'p' })
    await alive.reply('p')
    assert.equal(h.endpoint.clients(), 1)
    assert.equal(h.service.subscribers('s1'), 1)
  })

  it('closes with 1011 when the session cannot be read on connect, and reports why', async () => {
    const seen: unknown[] = []
    const h = await setup({ onError: (err) => seen.push(err) })
    h.service.failNext('sessionGenerations', new Error('store down'))
    const c = await h.open('s1', { replay: 'none' })
    assert.equal((await c.closedWithin()).code, 1011)
    assert.deepEqual(c.frames, [])
    assert.equal(h.endpoint.clients(), 0)
    assert.equal(h.service.subscribers('s1'), 0)
    assert.equal((seen[0] as Error).message, 'store down')
  })

  it('close() closes every client with 1001 and unsubscribes them', async () => {
    const h = await setup()
    const a = await h.open('s1')
    const b = await h.open('s2')
    await h.endpoint.close()
    assert.equal((await a.closedWithin()).code, 1001)
    assert.equal((await b.closedWithin()).code, 1001)
    assert.equal(h.endpoint.clients(), 0)
    assert.equal(h.service.subscribers('s1') + h.service.subscribers('s2'), 0)
  })
})
