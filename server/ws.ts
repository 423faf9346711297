// The WebSocket endpoint `/ws/:session_id`: authenticated upgrades on the HTTP server, and one connection per client.
import { type Clock, every, systemClock } from '../engine/clock.ts'
import { STATUS_CODES, type IncomingMessage, type Server } from 'node:http'
import type { Duplex } from 'node:stream'
import * as v from 'valibot'
import { WebSocket, WebSocketServer, type RawData } from 'ws'
import { WeftError } from '../engine/errors.ts'
import type { Decision, RunEvent } from '../engine/ports.ts'
import { isClientError, serviceIssues } from './errors.ts'
import { loopbackHost } from './hosts.ts'
import { SessionIdSchema } from './schemas.ts'
import type { GenerationService } from './service.ts'
import type { Tokens } from './tokens.ts'
import {
  WS_CODES,
  WS_KEY_PREFIX,
  WS_PROTOCOL,
  WS_TOKEN_PREFIX,
  errorFrame,
  parseClientMessage,
  toEventFrame,
  toReannouncedFrame,
  type ClientMessage,
  type ResumeMessage,
  type ServerFrame,
} from './ws-messages.ts'

/** How the WebSocket endpoint authenticates, and the bounds it keeps each client within. */
export interface WsOptions {
  /** Checks `weft.token.<token>` subprotocols (see `createTokens`). */
  tokens: Pick<Tokens, 'verify'>
  /**
   * Also accept an API key as `weft.key.<key>`: resolves to the key's principal (recorded as the decision's `by`),
   * or undefined for a key that is not valid. Absent: keys are refused and only tokens open a socket.
   */
  checkKey?: (key: string) => string | undefined | Promise<string | undefined>
  /**
   * Browser origins allowed to connect (`https://app.example.com`), besides this server's own pages (Origin naming
   * the Host, or `publicUrl`). Requests without Origin (not browsers) are allowed. Default: none.
   */
  allowedOrigins?: readonly string[]
  /** Largest client frame in bytes; a bigger one closes the socket with 1009. Default 64 KiB. */
  maxPayload?: number
  /** Protocol-level ping interval; a client that leaves two pings unanswered is terminated. Default 30 s. */
  heartbeatMs?: number
  /** A client whose unsent backlog passes this many bytes is closed with 1013 and forgotten. Default 1 MiB. */
  maxBufferedBytes?: number
  /**
   * Per-connection message rate: `burst` messages at once, refilled at `perSecond`. Messages beyond it are dropped
   * (one RATE_LIMITED error a second); when more than `floodLimit` dropped messages pile up (they drain at
   * `perSecond`), the socket is closed with 1008. Defaults 50, 50, 200.
   */
  rateLimit?: { burst?: number; perSecond?: number; floodLimit?: number }
  /** How long a closing socket may take to finish the close handshake before it is terminated. Default 5 s. */
  closeTimeoutMs?: number
  /** The public base URL (`https://weft.example.com`): pages from its origin may connect, and its host is this machine's. */
  publicUrl?: string
  /**
   * Without API keys: refuse (403 HOST_FORBIDDEN) an upgrade whose Host is not a name of this machine or the public
   * URL's host, as the HTTP API does (a page whose DNS name was rebound to 127.0.0.1 names its own host).
   */
  localHostsOnly?: boolean
  /** Clock in epoch ms (the rate limit and re-announced frames' timestamps); default: `clock`'s. */
  now?: () => number
  /** The clock of the heartbeat (default: the system's). */
  clock?: Clock
  /** Unexpected errors (a service failure answered as INTERNAL); default: ignored. */
  onError?: (err: unknown) => void
}

/** The attached endpoint. */
export interface WsEndpoint {
  /** Stops accepting upgrades and closes every client with 1001; resolves when all sockets are closed. */
  close(): Promise<void>
  /** Connected clients that are being served (a client being dropped no longer counts). */
  clients(): number
}

type Settings = Required<Omit<WsOptions, 'checkKey' | 'rateLimit' | 'allowedOrigins' | 'publicUrl'>> & {
  publicHost: string | undefined
  checkKey: WsOptions['checkKey'] | undefined
  origins: ReadonlySet<string>
  burst: number
  perSecond: number
  floodLimit: number
}

type Admission = { ok: true; sessionId: string; by: string; replay: boolean } | { ok: false; status: number; code: string; message: string }

const PATH = /^\/ws\/([^/]+)$/
// live events held while a connection attaches or replays; past this the client cannot keep up
const MAX_HELD_EVENTS = 10_000
// client messages waiting for the service (each one is answered in order)
const MAX_QUEUED_MESSAGES = 64
const ignore = (): void => {}

/**
 * Serves `/ws/<session_id>` on `server`: checks the path (404), Origin (403), the token or key (401) and the
 * `weft.v1` subprotocol (400) before the upgrade completes, then streams the session's events to the client.
 */
export function attachWebSocket(server: Server, service: GenerationService, opts: WsOptions): WsEndpoint {
  const o = settings(opts)
  const wss = new WebSocketServer({
    noServer: true,
    clientTracking: false,
    perMessageDeflate: false,
    maxPayload: o.maxPayload,
    handleProtocols: (offered) => (offered.has(WS_PROTOCOL) ? WS_PROTOCOL : false),
  })
  const served = new Set<Connection>()
  const open = new Set<Connection>()
  let closing: Promise<void> | undefined

  const onUpgrade = (req: IncomingMessage, socket: Duplex, head: Buffer): void => {
    socket.on('error', ignore)
    admit(req, o).then(
      (admission) => {
        if (socket.destroyed) return
        if (!admission.ok) return refuse(socket, admission.status, admission.code, admission.message)
        if (closing) return refuse(socket, 503, 'UNAVAILABLE', 'the server is shutting down')
        wss.handleUpgrade(req, socket, head, (ws) => {
          socket.off('error', ignore)
          const conn = new Connection(ws, admission.sessionId, admission.by, admission.replay, service, o, () => served.delete(conn))
          if (conn.serving) served.add(conn)
          open.add(conn)
          void conn.closed.then(() => open.delete(conn))
        })
      },
      (err: unknown) => {
        o.onError(err)
        refuse(socket, 500, 'INTERNAL', 'the credentials could not be checked')
      },
    )
  }
  server.on('upgrade', onUpgrade)

  const stopHeartbeat = every(
    o.clock,
    o.heartbeatMs,
    () => {
      for (const conn of served) conn.heartbeat()
    },
    { unref: true },
  )

  return {
    close() {
      closing ??= (async () => {
        server.off('upgrade', onUpgrade)
        stopHeartbeat()
        const all = [...open]
        for (const conn of all) conn.drop(1001, 'server shutting down')
        await Promise.all(all.map((conn) => conn.closed))
        await new Promise<void>((resolve) => wss.close(() => resolve()))
      })()
      return closing
    },
    clients: () => served.size,
  }
}

function settings(opts: WsOptions): Settings {
  return {
    tokens: opts.tokens,
    checkKey: opts.checkKey,
    origins: new Set([...(opts.allowedOrigins ?? []), ...(opts.publicUrl ? [new URL(opts.publicUrl).origin] : [])].map(normalizeOrigin)),
    publicHost: opts.publicUrl ? new URL(opts.publicUrl).host.toLowerCase() : undefined,
    localHostsOnly: opts.localHostsOnly ?? false,
    maxPayload: opts.maxPayload ?? 64 * 1024,
    heartbeatMs: opts.heartbeatMs ?? 30_000,
    maxBufferedBytes: opts.maxBufferedBytes ?? 1024 * 1024,
    burst: opts.rateLimit?.burst ?? 50,
    perSecond: opts.rateLimit?.perSecond ?? 50,
    floodLimit: opts.rateLimit?.floodLimit ?? 200,
    closeTimeoutMs: opts.closeTimeoutMs ?? 5_000,
    clock: opts.clock ?? systemClock,
    now: opts.now ?? (() => (opts.clock ?? systemClock).now()),
    onError: opts.onError ?? ignore,
  }
}

const normalizeOrigin = (origin: string): string => origin.trim().toLowerCase().replace(/\/+$/, '')

/**
 * A page served by this server (the web console) connecting back to it: its Origin names the Host it reached.
 * A page whose name was rebound to this machine passes this too, but still needs a token or a key, and without
 * keys the HTTP API that hands out tokens answers loopback names only.
 */
function sameOrigin(origin: string, host: string | undefined): boolean {
  if (!host) return false
  try {
    const url = new URL(origin)
    return (url.protocol === 'http:' || url.protocol === 'https:') && url.host === host.toLowerCase()
  } catch {
    return false
  }
}

/** Decides an upgrade request from its path, Origin and subprotocols alone. */
async function admit(req: IncomingMessage, o: Settings): Promise<Admission> {
  const match = PATH.exec((req.url ?? '/').split('?')[0]!)
  let sessionId: string | undefined
  try {
    sessionId = match ? decodeURIComponent(match[1]!) : undefined
  } catch {
    /* a malformed escape is just not a session id */
  }
  if (sessionId === undefined || !v.is(SessionIdSchema, sessionId)) {
    return { ok: false, status: 404, code: 'NOT_FOUND', message: 'no WebSocket endpoint here: connect to /ws/<session_id>' }
  }
  const host = (req.headers.host ?? '').toLowerCase()
  if (o.localHostsOnly && host !== o.publicHost && !loopbackHost(host)) {
    return { ok: false, status: 403, code: 'HOST_FORBIDDEN', message: `connections must name this machine (localhost, 127.0.0.1 or [::1]) in Host when no API keys are set; got "${host}"` }
  }
  const origin = req.headers.origin
  if (origin !== undefined && !o.origins.has(normalizeOrigin(origin)) && !sameOrigin(origin, req.headers.host)) {
    return { ok: false, status: 403, code: 'ORIGIN_FORBIDDEN', message: `origin ${origin} may not connect` }
  }
  const offered = (req.headers['sec-websocket-protocol'] ?? '')
    .split(',')
    .map((p) => p.trim())
    .filter(Boolean)
    .slice(0, 8)
  let by: string | undefined
  if (offered.some((p) => p.startsWith(WS_TOKEN_PREFIX) && o.tokens.verify(p.slice(WS_TOKEN_PREFIX.length), sessionId))) by = 'human'
  else if (o.checkKey) {
    for (const p of offered) {
      if (!p.startsWith(WS_KEY_PREFIX)) continue
      by = await o.checkKey(p.slice(WS_KEY_PREFIX.length))
      if (by !== undefined) break
    }
  }
  if (by === undefined) {
    return { ok: false, status: 401, code: 'UNAUTHORIZED', message: `offer the subprotocol ${WS_TOKEN_PREFIX}<token> with the token from POST /generate (it expires after 15 minutes)` }
  }
  if (!offered.includes(WS_PROTOCOL)) {
    return { ok: false, status: 400, code: 'PROTOCOL_REQUIRED', message: `offer the subprotocol ${WS_PROTOCOL}` }
  }
  // ?replay=all (the default): every event so far, then live ones; ?replay=none: live ones only (a client that
  // knows where it stopped sends `resume { after_seq }` instead)
  const replay = new URLSearchParams((req.url ?? '').split('?')[1] ?? '').get('replay') ?? 'all'
  if (replay !== 'all' && replay !== 'none') return { ok: false, status: 400, code: 'REQUEST_INVALID', message: 'replay must be all or none' }
  return { ok: true, sessionId, by, replay: replay === 'all' }
}

/** Answers an upgrade request with a plain HTTP error (the HTTP API's `{ error: { code, message } }` body) and closes it. */
function refuse(socket: Duplex, status: number, code: string, message: string): void {
  if (socket.destroyed) return
  const body = JSON.stringify({ error: { code, message } })
  socket.once('finish', () => socket.destroy())
  socket.end(`HTTP/1.1 ${status} ${STATUS_CODES[status] ?? ''}\r\nConnection: close\r\nContent-Type: application/json; charset=utf-8\r\n` + `Content-Length: ${Buffer.byteLength(body)}\r\n\r\n${body}`)
}

/** One client: its subscription to the session, replays, replies in order, and the bounds it is held to. */
class Connection {
  /** Resolves when the socket has closed. */
  readonly closed: Promise<void>
  private readonly ws: WebSocket
  private readonly sessionId: string
  private readonly by: string
  private readonly service: GenerationService
  private readonly o: Settings
  private readonly onGone: () => void
  private readonly guard: FloodGuard
  private unsubscribe: () => void = ignore
  private gone = false
  private attached = false
  // live events that arrived before `session.attached` went out
  private early: RunEvent[] = []
  // generations being replayed: their live events wait here
  private readonly held = new Map<string, RunEvent[]>()
  // highest seq sent per generation: nothing at or below it is sent live again
  private readonly lastSent = new Map<string, number>()
  // on a `replay=none` connection, the seqs sent live per generation before its first resume: that resume replays
  // every other event after its after_seq (without this, a live event sent first would hide the ones before it)
  private readonly liveOnly = new Map<string, Set<number>>()
  private readonly resumed = new Set<string>()
  private work: Promise<void> = Promise.resolve()
  private queued = 0
  private missedPongs = 0
  private killTimer: NodeJS.Timeout | undefined

  constructor(
    ws: WebSocket,
    sessionId: string,
    by: string,
    private readonly replayAll: boolean,
    service: GenerationService,
    o: Settings,
    onGone: () => void,
  ) {
    this.ws = ws
    this.sessionId = sessionId
    this.by = by
    this.service = service
    this.o = o
    this.onGone = onGone
    this.guard = new FloodGuard(o.burst, o.perSecond, o.floodLimit, o.now)
    this.closed = new Promise((resolve) =>
      ws.once('close', () => {
        this.forget()
        clearTimeout(this.killTimer)
        resolve()
      }),
    )
    // ws closes the socket itself after a protocol error (1009 for an oversized frame, 1007 for bad UTF-8)
    ws.on('error', ignore)
    ws.on('pong', () => {
      this.missedPongs = 0
    })
    ws.on('message', (data, isBinary) => this.onMessage(data, isBinary))
    try {
      // subscribe before reading anything, so nothing falls between what is read and what is streamed
      this.unsubscribe = service.subscribe(sessionId, (event) => this.onEvent(event))
    } catch (err) {
      o.onError(err)
      this.drop(1011, 'could not follow the session')
      return
    }
    this.enqueue(() => this.attach())
  }

  /** False once the client is being dropped (or has gone). */
  get serving(): boolean {
    return !this.gone
  }

  /** Called every heartbeat interval: terminates a client that left the last two pings unanswered. */
  heartbeat(): void {
    if (this.missedPongs >= 2) return void this.ws.terminate()
    this.missedPongs++
    this.ws.ping()
  }

  /** Starts the close handshake and forgets the client now; terminates it if the handshake does not finish in time. */
  drop(code: number, reason: string): void {
    this.forget()
    if (this.killTimer !== undefined) return
    this.ws.close(code, reason)
    this.killTimer = setTimeout(() => this.ws.terminate(), this.o.closeTimeoutMs)
    this.killTimer.unref()
  }

  private forget(): void {
    if (this.gone) return
    this.gone = true
    this.unsubscribe()
    this.early = []
    this.held.clear()
    this.onGone()
  }

  /** `session.attached`, then the gates still waiting, then the live events that came in meanwhile. */
  private async attach(): Promise<void> {
    let generations: string[]
    try {
      generations = await this.service.sessionGenerations(this.sessionId)
    } catch (err) {
      this.o.onError(err)
      return this.drop(1011, 'could not read the session')
    }
    this.send({ type: 'session.attached', session_id: this.sessionId, generations })
    // the history first (live events wait in `early` until attached), so a first connection misses nothing
    if (this.replayAll) {
      for (const id of generations) {
        try {
          await this.replay(id, 0)
        } catch (err) {
          this.o.onError(err)
        }
      }
    }
    for (const id of generations) {
      try {
        const stamp = new Date(this.o.now()).toISOString()
        for (const request of await this.service.pendingApprovals(id)) this.send(toReannouncedFrame(request, stamp))
      } catch (err) {
        this.o.onError(err)
      }
    }
    this.attached = true
    const early = this.early
    this.early = []
    for (const event of early) this.deliver(event)
  }

  private onEvent(event: RunEvent): void {
    if (this.gone) return
    if (this.attached) return this.deliver(event)
    this.early.push(event)
    if (this.early.length > MAX_HELD_EVENTS) this.drop(1013, 'client too slow')
  }

  private deliver(event: RunEvent): void {
    const held = this.held.get(event.run_id)
    if (held) {
      held.push(event)
      if (held.length > MAX_HELD_EVENTS) this.drop(1013, 'client too slow')
      return
    }
    if (event.seq <= (this.lastSent.get(event.run_id) ?? -1)) return
    this.lastSent.set(event.run_id, event.seq)
    if (!this.replayAll && !this.resumed.has(event.run_id)) {
      const live = this.liveOnly.get(event.run_id) ?? new Set<number>()
      if (live.size < MAX_HELD_EVENTS) this.liveOnly.set(event.run_id, live.add(event.seq))
    }
    this.send(this.frameOf(event))
  }

  private frameOf(event: RunEvent): ServerFrame {
    if (event.type !== 'run.completed') return toEventFrame(event)
    try {
      return toEventFrame(event, this.service.artifactsDir(event.run_id))
    } catch (err) {
      this.o.onError(err)
      return toEventFrame(event)
    }
  }

  /** Sends a frame unless the client is gone; drops the client when its backlog passes the bound. */
  private send(frame: ServerFrame): void {
    if (this.gone || this.ws.readyState !== WebSocket.OPEN) return
    this.ws.send(JSON.stringify(frame))
    if (this.ws.bufferedAmount > this.o.maxBufferedBytes) this.drop(1013, 'client too slow')
  }

  /** Sends a replayed frame, waiting for the backlog to drain past half the bound (a replay may be long). */
  private async sendPaced(frame: ServerFrame): Promise<void> {
    if (this.gone || this.ws.readyState !== WebSocket.OPEN) return
    const flushed = new Promise<void>((resolve) => this.ws.send(JSON.stringify(frame), () => resolve()))
    if (this.ws.bufferedAmount > this.o.maxBufferedBytes / 2) await flushed
  }

  private onMessage(data: RawData, isBinary: boolean): void {
    if (this.gone) return
    const verdict = this.guard.take()
    if (verdict === 'close') return this.drop(1008, 'message flood')
    if (verdict === 'warn') return this.send(errorFrame(WS_CODES.RATE_LIMITED, 'too many messages: this one and the next ones are dropped until the rate falls'))
    if (verdict === 'drop') return
    if (isBinary) return this.send(errorFrame(WS_CODES.JSON_INVALID, 'binary frames are not accepted: send JSON text'))
    const parsed = parseClientMessage(textOf(data))
    if (!parsed.ok) return this.send(parsed.frame)
    const message = parsed.message
    if (this.queued >= MAX_QUEUED_MESSAGES) return this.send(errorFrame(WS_CODES.RATE_LIMITED, 'too many messages waiting for an answer', message.id))
    this.enqueue(() => this.handle(message))
  }

  /** Runs tasks one at a time, so replies (and replays) go out in the order the messages came in. */
  private enqueue(task: () => Promise<void>): void {
    this.queued++
    this.work = this.work.then(async () => {
      try {
        if (!this.gone) await task()
      } catch (err) {
        this.o.onError(err)
      } finally {
        this.queued--
      }
    })
  }

  private async handle(message: ClientMessage): Promise<void> {
    const id = message.id === undefined ? {} : { id: message.id }
    try {
      if (message.type === 'ping') return this.send({ type: 'pong', ...id })
      if (message.type === 'resume') return await this.resume(message)
      const generationId = await this.generation(message.generation_id)
      const decision: Decision = { decision: message.decision, by: this.by }
      if (message.feedback !== undefined) decision.feedback = message.feedback
      if (message.edits !== undefined) decision.edits = message.edits
      const result = await this.service.decide(generationId, message.gate, message.revision === undefined ? decision : { ...decision, revision: message.revision })
      this.send({ type: 'decision.result', ...id, generation_id: generationId, gate: message.gate, applied: result.applied, decision: result.decision })
    } catch (err) {
      this.send(this.errorOf(err, message.id))
    }
  }

  /**
   * Replays events after `after_seq`, then goes on live. Live events of the generation are held meanwhile and
   * sent afterwards unless already replayed, so the client sees each seq once, in order.
   */
  private async resume(message: ResumeMessage): Promise<void> {
    const generationId = await this.generation(message.generation_id)
    const held: RunEvent[] = []
    this.held.set(generationId, held)
    let replayed = 0
    try {
      replayed = await this.replay(generationId, message.after_seq)
    } catch (err) {
      // no replay: the held events still go out, as live ones would have
      this.held.delete(generationId)
      for (const event of held) this.deliver(event)
      throw err
    }
    this.held.delete(generationId)
    this.send({
      type: 'resume.result',
      ...(message.id === undefined ? {} : { id: message.id }),
      generation_id: generationId,
      after_seq: message.after_seq,
      replayed,
      last_seq: this.lastSent.get(generationId)!,
    })
    for (const event of held) this.deliver(event)
  }

  /**
   * Sends a generation's stored events after `afterSeq` that this client has not had yet (never one twice: a resume
   * below what was sent already sends only what is newer), paced; returns how many went out.
   */
  private async replay(generationId: string, afterSeq: number): Promise<number> {
    const events = await this.service.events(generationId, afterSeq)
    // an after_seq past the generation's last event is clamped to it: otherwise every live event, numbered
    // below it, would be taken for one already sent and the socket would go quiet
    const after = events.length || afterSeq <= 0 ? afterSeq : await this.lastSeq(generationId, afterSeq)
    // events sent live before this connection's first resume of the generation: only those are skipped
    const live = this.resumed.has(generationId) ? undefined : this.liveOnly.get(generationId)
    this.resumed.add(generationId)
    this.liveOnly.delete(generationId)
    const sentBefore = this.lastSent.get(generationId)
    this.lastSent.set(generationId, Math.max(sentBefore ?? after, after))
    let replayed = 0
    for (const event of events) {
      if (this.gone) break
      if (live && live.size < MAX_HELD_EVENTS ? live.has(event.seq) : event.seq <= (live ? sentBefore! : this.lastSent.get(generationId)!)) continue
      this.lastSent.set(generationId, Math.max(this.lastSent.get(generationId)!, event.seq))
      await this.sendPaced(this.frameOf(event))
      replayed++
    }
    return replayed
  }

  /** The seq of a generation's last event, no more than `atMost` (one event read when the client is just caught up). */
  private async lastSeq(generationId: string, atMost: number): Promise<number> {
    if ((await this.service.events(generationId, atMost - 1)).length) return atMost
    return (await this.service.events(generationId, 0)).at(-1)?.seq ?? 0
  }

  /** The generation a message is about: the one named (it must be in this session), or the session's only one. */
  private async generation(named: string | undefined): Promise<string> {
    const generations = await this.service.sessionGenerations(this.sessionId)
    if (named !== undefined) {
      if (!generations.includes(named)) throw new WeftError('NOT_FOUND', `generation "${named}" is not part of this session`)
      return named
    }
    if (generations.length === 1) return generations[0]!
    throw new WeftError(WS_CODES.GENERATION_REQUIRED, generations.length === 0 ? 'this session has no generation yet' : `this session has ${generations.length} generations: name one in generation_id`)
  }

  /** A service error the client can act on keeps its code (the HTTP layer's list); anything else is INTERNAL. */
  private errorOf(err: unknown, id: string | undefined): ServerFrame {
    const e = (err ?? {}) as { code?: unknown; message?: unknown; details?: unknown }
    if (typeof e.code === 'string' && (isClientError(e.code) || e.code === WS_CODES.GENERATION_REQUIRED)) {
      return errorFrame(e.code, typeof e.message === 'string' ? e.message : e.code, id, serviceIssues(e.details))
    }
    this.o.onError(err)
    return errorFrame(WS_CODES.INTERNAL, 'the server could not handle the message', id)
  }
}

/** Token bucket for client messages, with a second, draining count of dropped ones that decides a flood. */
class FloodGuard {
  private tokens: number
  private dropped = 0
  private last: number
  private warnedAt = -Infinity
  private readonly burst: number
  private readonly perSecond: number
  private readonly floodLimit: number
  private readonly now: () => number

  constructor(burst: number, perSecond: number, floodLimit: number, now: () => number) {
    this.burst = burst
    this.perSecond = perSecond
    this.floodLimit = floodLimit
    this.now = now
    this.tokens = burst
    this.last = now()
  }

  /** ok: handle it; warn: drop it and say so; drop: drop it silently; close: a sustained flood. */
  take(): 'ok' | 'warn' | 'drop' | 'close' {
    const t = this.now()
    const refill = (Math.max(0, t - this.last) * this.perSecond) / 1000
    this.last = t
    this.tokens = Math.min(this.burst, this.tokens + refill)
    this.dropped = Math.max(0, this.dropped - refill)
    if (this.tokens >= 1) {
      this.tokens -= 1
      return 'ok'
    }
    this.dropped += 1
    if (this.dropped > this.floodLimit) return 'close'
    if (t - this.warnedAt < 1000) return 'drop'
    this.warnedAt = t
    return 'warn'
  }
}

function textOf(data: RawData): string {
  if (Array.isArray(data)) return Buffer.concat(data).toString('utf8')
  return Buffer.isBuffer(data) ? data.toString('utf8') : Buffer.from(data).toString('utf8')
}
