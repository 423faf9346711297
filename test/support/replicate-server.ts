// A scriptable Replicate predictions server on 127.0.0.1: create (idempotent by key), poll, cancel, and the output files.
import { createServer, type IncomingHttpHeaders, type ServerResponse } from 'node:http'
import type { AddressInfo } from 'node:net'

type Status = 'starting' | 'processing' | 'succeeded' | 'failed' | 'canceled'

/** How one prediction goes. */
export interface PredictionPlan {
  /** What successive polls answer: a status, or an HTTP status number to fail that poll with. The last entry repeats. Default `['processing', 'succeeded']`. */
  polls?: Array<Status | number>
  /** The output file's bytes (default 'fake-media-bytes'). */
  output?: Buffer | string
  /** Serve the output URL inside a list (as image models with several outputs do). */
  outputAsList?: boolean
  /** Answer this output URL (a file on another host) instead of one served here. */
  outputUrl?: string
  /** Succeed with no output URL at all. */
  noOutput?: boolean
  /** The prediction's `error` text when it fails. */
  error?: string
}

/** What the server does with one create request whose Idempotency-Key it has not seen. */
export type CreateStep =
  /** Creates the prediction; `answerDelayMs`: answers only that much later (a slow network, `Prefer: wait`). */
  | { kind: 'accept'; plan?: PredictionPlan; answerDelayMs?: number }
  /** Records the prediction under its Idempotency-Key, then answers 500 as if the answer was lost. */
  | { kind: 'accept-then-500'; plan?: PredictionPlan }
  /** Answers this status without creating anything (429 with Retry-After, 500, 422 with a detail). */
  | { kind: 'status'; status: number; body?: unknown; headers?: Record<string, string> }

export interface RecordedRequest {
  method: string
  path: string
  headers: IncomingHttpHeaders
  body: any
}

interface Prediction {
  id: string
  model: string
  input: unknown
  status: Status
  plan: PredictionPlan
  polls: number
}

export interface ReplicateServer {
  /** API root to give the adapter (`http://127.0.0.1:port/v1`). */
  baseUrl: string
  requests: RecordedRequest[]
  /** Predictions created, in order (one per distinct Idempotency-Key). */
  predictions: Prediction[]
  /** Queues create steps; a create with none left is accepted with the default plan. */
  script(...steps: CreateStep[]): void
  /** Requests with this method whose path starts with `prefix`. */
  calls(method: string, prefix: string): RecordedRequest[]
  /** Forgets queued steps, recorded requests and predictions. */
  reset(): void
  close(): Promise<void>
}

export async function startReplicateServer(): Promise<ReplicateServer> {
  const queue: CreateStep[] = []
  const requests: RecordedRequest[] = []
  const predictions: Prediction[] = []
  const byKey = new Map<string, Prediction>()
  let origin = ''

  const view = (p: Prediction) => {
    const out: Record<string, unknown> = {
      id: p.id,
      model: p.model,
      version: 'v1',
      input: p.input,
      status: p.status,
      logs: '',
      error: null,
      output: null,
      urls: { get: `${origin}/v1/predictions/${p.id}`, cancel: `${origin}/v1/predictions/${p.id}/cancel` },
    }
    if (p.status === 'succeeded' && !p.plan.noOutput) {
      const url = p.plan.outputUrl ?? `${origin}/files/${p.id}.bin`
      out.output = p.plan.outputAsList ? [url, `${origin}/files/other.bin`] : url
    }
    if (p.status === 'failed') out.error = p.plan.error ?? 'prediction failed'
    return out
  }

  const create = (res: ServerResponse, model: string, body: any, key: string | undefined): void => {
    const known = key ? byKey.get(key) : undefined
    if (known) return json(res, 200, view(known))
    const step = queue.shift() ?? { kind: 'accept' }
    if (step.kind === 'status') return json(res, step.status, step.body ?? { detail: `status ${step.status}` }, step.headers)
    const p: Prediction = { id: `p${predictions.length + 1}`, model, input: body?.input, status: 'starting', plan: step.plan ?? {}, polls: 0 }
    predictions.push(p)
    if (key) byKey.set(key, p)
    if (step.kind === 'accept-then-500') return json(res, 500, { detail: 'internal error' })
    if (step.answerDelayMs) setTimeout(() => json(res, 201, view(p)), step.answerDelayMs)
    else json(res, 201, view(p))
  }

  const poll = (res: ServerResponse, p: Prediction): void => {
    if (p.status !== 'canceled') {
      const plan = p.plan.polls ?? ['processing', 'succeeded']
      const next = plan[Math.min(p.polls, plan.length - 1)]!
      p.polls++
      if (typeof next === 'number') return json(res, next, { detail: `poll failed with ${next}` })
      p.status = next
    }
    json(res, 200, view(p))
  }

  const server = createServer((req, res) => {
    const chunks: Buffer[] = []
    req.on('data', (c: Buffer) => chunks.push(c))
    req.on('end', () => {
      const raw = Buffer.concat(chunks).toString('utf8')
      let body: any = raw
      try {
        body = raw ? JSON.parse(raw) : undefined
      } catch {
        // keep the text
      }
      const path = req.url ?? ''
      const method = req.method ?? ''
      requests.push({ method, path, headers: req.headers, body })
      const key = typeof req.headers['idempotency-key'] === 'string' ? req.headers['idempotency-key'] : undefined
      let m: RegExpExecArray | null
      if (method === 'POST' && (m = /^\/v1\/models\/([^/]+\/[^/]+)\/predictions$/.exec(path))) return create(res, m[1]!, body, key)
      if (method === 'POST' && path === '/v1/predictions') return create(res, `version:${body?.version}`, body, key)
      if (method === 'GET' && (m = /^\/v1\/predictions\/([^/]+)$/.exec(path))) {
        const p = predictions.find((x) => x.id === m![1])
        return p ? poll(res, p) : json(res, 404, { detail: 'not found' })
      }
      if (method === 'POST' && (m = /^\/v1\/predictions\/([^/]+)\/cancel$/.exec(path))) {
        const p = predictions.find((x) => x.id === m![1])
        if (!p) return json(res, 404, { detail: 'not found' })
        if (p.status === 'starting' || p.status === 'processing') p.status = 'canceled'
        return json(res, 200, view(p))
      }
      if (method === 'GET' && (m = /^\/files\/([^/.]+)\.bin$/.exec(path))) {
        const p = predictions.find((x) => x.id === m![1])
        if (!p) return json(res, 404, { detail: 'not found' })
        const bytes = Buffer.from(p.plan.output ?? 'fake-media-bytes')
        res.writeHead(200, { 'content-type': 'application/octet-stream', 'content-length': bytes.length })
        return void res.end(bytes)
      }
      json(res, 404, { detail: `no route ${method} ${path}` })
    })
  })
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  origin = `http://127.0.0.1:${(server.address() as AddressInfo).port}`
  return {
    baseUrl: `${origin}/v1`,
    requests,
    predictions,
    script: (...steps) => void queue.push(...steps),
    calls: (method, prefix) => requests.filter((r) => r.method === method && r.path.startsWith(prefix)),
    reset: () => {
      queue.length = 0
      requests.length = 0
      predictions.length = 0
      byKey.clear()
    },
    close: () => {
      server.closeAllConnections()
      return new Promise((resolve) => server.close(() => resolve()))
    },
  }
}

function json(res: ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}): void {
  res.writeHead(status, { 'content-type': 'application/json', ...headers })
  res.end(JSON.stringify(body))
}
