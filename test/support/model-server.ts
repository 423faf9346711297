// A scriptable model server on 127.0.0.1 speaking one provider's wire protocol (OpenAI Chat Completions, Anthropic
// Messages or Google generateContent, in the shapes their API references document) for the model adapter tests:
// each request takes the next scripted step.
import { createServer, type IncomingHttpHeaders, type IncomingMessage, type ServerResponse } from 'node:http'
import type { AddressInfo } from 'node:net'

export type WireProtocol = 'openai' | 'anthropic' | 'google'

/** What the server does with one request. */
export type OpenAIStep =
  /** 200 with an answer whose text is `content` (finish reason and usage in Chat Completions terms, mapped per protocol). */
  | { kind: 'ok'; content: string | null; finish_reason?: string; usage?: { prompt_tokens: number; completion_tokens: number }; model?: string }
  /** Any status with a JSON (or given text) body and extra headers: 429 with Retry-After, 500, 400 with an error body. */
  | { kind: 'status'; status: number; body?: unknown; headers?: Record<string, string> }
  /** 200 with this exact body text (malformed JSON, a completion without choices). */
  | { kind: 'raw'; body: string; status?: number }
  /** A 200 completion whose body is cut in half: headers promise the whole, then the socket is destroyed. */
  | { kind: 'truncate'; content: string }
  /** The connection is dropped before any answer. */
  | { kind: 'reset' }
  /** Answers `then` only after `ms` (beyond the client's timeout). */
  | { kind: 'slow'; ms: number; then?: OpenAIStep }

export interface RecordedRequest {
  method: string
  url: string
  headers: IncomingHttpHeaders
  body: any
}

export interface OpenAIServer {
  /** Base URL to give the adapter (`http://127.0.0.1:port/v1`, `/v1beta` for Google). */
  baseUrl: string
  requests: RecordedRequest[]
  /** Queues steps; a request with none left gets a 500 saying so. */
  script(...steps: OpenAIStep[]): void
  /** Forgets the queued steps and the recorded requests. */
  reset(): void
  close(): Promise<void>
}

type Usage = { prompt_tokens: number; completion_tokens: number }

/**
 * An answer body in the protocol's shape. `request` decides how Anthropic carries JSON: in a `json` tool call when
 * the request offered that tool, else as text.
 */
export function completion(content: string | null, opts: { finish_reason?: string; usage?: Usage; model?: string } = {}, protocol: WireProtocol = 'openai', request?: any): string {
  const usage = opts.usage ?? { prompt_tokens: 11, completion_tokens: 7 }
  const model = opts.model ?? 'test-model'
  const length = opts.finish_reason === 'length'
  if (protocol === 'anthropic') {
    const tool = Array.isArray(request?.tools) && request.tools.some((t: { name?: string }) => t.name === 'json')
    const block = content === null ? [] : tool ? [{ type: 'tool_use', id: 'toolu_test', name: 'json', input: JSON.parse(content) }] : [{ type: 'text', text: content }]
    return JSON.stringify({
      id: 'msg_test',
      type: 'message',
      role: 'assistant',
      model,
      content: block,
      stop_reason: length ? 'max_tokens' : tool ? 'tool_use' : 'end_turn',
      stop_sequence: null,
      usage: { input_tokens: usage.prompt_tokens, output_tokens: usage.completion_tokens },
    })
  }
  if (protocol === 'google') {
    return JSON.stringify({
      candidates: [{ content: { role: 'model', parts: content === null ? [] : [{ text: content }] }, finishReason: length ? 'MAX_TOKENS' : 'STOP', index: 0 }],
      usageMetadata: { promptTokenCount: usage.prompt_tokens, candidatesTokenCount: usage.completion_tokens, totalTokenCount: usage.prompt_tokens + usage.completion_tokens },
      modelVersion: model,
    })
  }
  return JSON.stringify({
    id: 'chatcmpl-test',
    object: 'chat.completion',
    created: 0,
    model,
    choices: [{ index: 0, message: { role: 'assistant', content }, finish_reason: opts.finish_reason ?? 'stop' }],
    usage: { ...usage, total_tokens: usage.prompt_tokens + usage.completion_tokens },
  })
}

/** The one route that answers, per protocol. */
function route(protocol: WireProtocol, url: string): boolean {
  if (protocol === 'anthropic') return url === '/v1/messages'
  if (protocol === 'google') return /^\/v1beta\/models\/[^/]+:generateContent$/.test(url)
  return url === '/v1/chat/completions'
}

/** Calls `then` with a request's whole body: parsed JSON, or the text when it is not JSON. */
export function onBody(req: IncomingMessage, then: (body: unknown) => void): void {
  let raw = ''
  req.setEncoding('utf8')
  req.on('data', (chunk: string) => (raw += chunk))
  req.on('end', () => {
    let body: unknown = raw
    try {
      body = JSON.parse(raw)
    } catch {
      // keep the text
    }
    then(body)
  })
}

export async function startModelServer(protocol: WireProtocol = 'openai'): Promise<OpenAIServer> {
  const queue: OpenAIStep[] = []
  const requests: RecordedRequest[] = []
  const timers = new Set<NodeJS.Timeout>()

  const answer = (res: ServerResponse, step: OpenAIStep | undefined, request: unknown): void => {
    if (!step) return void send(res, 500, JSON.stringify({ error: { message: 'test server: no scripted response left' } }))
    switch (step.kind) {
      case 'ok':
        return void send(res, 200, completion(step.content, step, protocol, request))
      case 'status':
        return void send(res, step.status, typeof step.body === 'string' ? step.body : JSON.stringify(step.body ?? {}), step.headers)
      case 'raw':
        return void send(res, step.status ?? 200, step.body)
      case 'truncate': {
        const body = completion(step.content, {}, protocol, request)
        res.writeHead(200, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) })
        res.write(body.slice(0, Math.floor(body.length / 2)), () => res.socket?.destroy())
        return
      }
      case 'reset':
        return void res.socket?.destroy()
      case 'slow': {
        const t = setTimeout(() => {
          timers.delete(t)
          if (!res.destroyed) answer(res, step.then ?? { kind: 'ok', content: 'late' }, request)
        }, step.ms)
        timers.add(t)
      }
    }
  }

  const server = createServer((req, res) => {
    onBody(req, (body) => {
      requests.push({ method: req.method ?? '', url: req.url ?? '', headers: req.headers, body })
      if (req.method !== 'POST' || !route(protocol, req.url ?? '')) return send(res, 404, JSON.stringify({ error: { message: `no route ${req.url}` } }))
      answer(res, queue.shift(), body)
    })
  })
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  const { port } = server.address() as AddressInfo
  return {
    baseUrl: `http://127.0.0.1:${port}/${protocol === 'google' ? 'v1beta' : 'v1'}`,
    requests,
    script: (...steps) => void queue.push(...steps),
    reset: () => {
      queue.length = 0
      requests.length = 0
    },
    close: () => {
      for (const t of timers) clearTimeout(t)
      server.closeAllConnections()
      return new Promise((resolve) => server.close(() => resolve()))
    },
  }
}

function send(res: ServerResponse, status: number, body: string, headers: Record<string, string> = {}): void {
  res.writeHead(status, { 'content-type': 'application/json', ...headers })
  res.end(body)
}
