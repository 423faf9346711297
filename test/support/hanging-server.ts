// An HTTP server on 127.0.0.1 that reads each request and never answers; records when each came and when the client gave up.
import { createServer, type IncomingHttpHeaders } from 'node:http'
import type { AddressInfo } from 'node:net'
import { onBody } from './model-server.ts'

export interface HeldRequest {
  method: string
  url: string
  headers: IncomingHttpHeaders
  body: any
  /** `performance.now()` when the whole request body had arrived. */
  receivedAt: number
  /** `performance.now()` when the client closed the connection; undefined while it still waits. */
  closedAt?: number
}

export interface HangingServer {
  /** Base URL of an OpenAI-style API root (`http://127.0.0.1:port/v1`); any path is held the same way. */
  baseUrl: string
  requests: HeldRequest[]
  close(): Promise<void>
}

export async function startHangingServer(): Promise<HangingServer> {
  const requests: HeldRequest[] = []
  const server = createServer((req, res) => {
    onBody(req, (body) => {
      const held: HeldRequest = { method: req.method ?? '', url: req.url ?? '', headers: req.headers, body, receivedAt: performance.now() }
      requests.push(held)
      // no answer, ever: only the client ends this exchange
      res.on('close', () => (held.closedAt = performance.now()))
    })
  })
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  const { port } = server.address() as AddressInfo
  return {
    baseUrl: `http://127.0.0.1:${port}/v1`,
    requests,
    close: () => {
      server.closeAllConnections()
      return new Promise((resolve) => server.close(() => resolve()))
    },
  }
}
