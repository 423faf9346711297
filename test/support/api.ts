// Helpers for HTTP API tests: an app over a FakeService, JSON posts, and reading the error body.
import { createApp, type AppOptions, type Logger } from '../../server/app.ts'
import { FakeService } from './fake-service.ts'

export const KEY = 'test-key-0123456789abcdef'
export const OTHER_KEY = 'other-key-0123456789abcdef'
export const silent: Logger = { error: () => {} }

/** An app over a fresh FakeService; tokens are `token-for-<session>`, rate limiting is off unless given. */
export function setup(opts: Partial<AppOptions> = {}) {
  const service = new FakeService()
  const issued: string[] = []
  const app = createApp(service, {
    tokens: { issue: (sessionId) => (issued.push(sessionId), `token-for-${sessionId}`) },
    rateLimit: null,
    logger: silent,
    ...opts,
  })
  return { app, service, issued }
}

export type TestApp = ReturnType<typeof setup>['app']

export function postJson(app: TestApp, url: string, body: unknown, headers: Record<string, string> = {}) {
  return app.request(url, { method: 'POST', headers: { 'content-type': 'application/json', ...headers }, body: typeof body === 'string' ? body : JSON.stringify(body) })
}

export interface ErrorJson {
  error: { code: string; message: string; issues?: Array<{ path: string; message: string; code?: string }> }
}

export const errorOf = async (res: Response) => ((await res.json()) as ErrorJson).error
