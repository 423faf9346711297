// The web console's built files (`npm run build` writes them to dist/console) and how they are served: the page at
// `/`, its scripts and styles under `/assets/`, compressed, with a Content-Security-Policy that allows this
// origin only.
import { existsSync } from 'node:fs'
import path from 'node:path'
import { fileURLToPath } from 'node:url'
import { serveStatic } from '@hono/node-server/serve-static'
import type { Env, Hono, MiddlewareHandler } from 'hono'
import { compress } from 'hono/compress'

/** Scripts, styles, media and sockets of this origin only; styles may be inline (the editor sets them at run time). */
export const CONSOLE_CSP = [
  "default-src 'self'",
  "script-src 'self'",
  "style-src 'self' 'unsafe-inline'",
  "img-src 'self' blob: data:",
  "media-src 'self' blob:",
  "connect-src 'self'",
  "frame-ancestors 'none'",
  "base-uri 'none'",
  "form-action 'self'",
].join('; ')

const isBuilt = (dir: string) => existsSync(path.join(dir, 'assets', 'main.js')) && existsSync(path.join(dir, 'index.html'))

/** The folder of the built console: dist/console beside the sources, or beside the built server. */
export function findConsoleDir(): string | undefined {
  const here = path.dirname(fileURLToPath(import.meta.url))
  return [path.join(here, '..', 'dist', 'console'), path.join(here, '..', 'console')].find(isBuilt)
}

/** Serves the console from `dir` on `app`; without a built console, `/` says how to build it. */
export function mountConsole<E extends Env>(app: Hono<E>, dir: string | undefined): void {
  const secure: MiddlewareHandler = async (c, next) => {
    await next()
    c.header('Content-Security-Policy', CONSOLE_CSP)
    c.header('X-Content-Type-Options', 'nosniff')
    c.header('Referrer-Policy', 'no-referrer')
    // file names carry no hash: the browser asks again (a 200 from memory is cheap) so a new build shows at once
    c.header('Cache-Control', 'no-cache')
  }
  app.use('/', secure, compress())
  app.use('/assets/*', secure, compress())
  if (!dir || !isBuilt(dir)) {
    app.get('/', (c) => c.text('The web console is not built. Run `npm run build` (npm install does it), then restart the server. The API works: see /docs.', 503))
    app.get('/assets/*', (c) => c.text('the web console is not built', 404))
    return
  }
  app.get('/', serveStatic({ root: dir, path: 'index.html' }))
  app.get('/assets/*', serveStatic({ root: dir }))
}
