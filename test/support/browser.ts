// Debian's Chromium driven by playwright-core, for the console's browser tests; screenshots kept as test output.
import { existsSync, mkdirSync } from 'node:fs'
import path from 'node:path'
import { chromium, type Browser, type Page } from 'playwright-core'

const root = path.resolve(import.meta.dirname, '..', '..')
/** Where the browser tests leave their screenshots (one per step). */
export const SHOTS_DIR = path.join(root, 'test-results', 'console')

/** The Chromium binary: `CHROMIUM_PATH`, else Debian's. Undefined when neither is there. */
export function chromiumPath(): string | undefined {
  for (const p of [process.env.CHROMIUM_PATH, '/usr/bin/chromium', '/usr/bin/chromium-browser']) if (p && existsSync(p)) return p
  return undefined
}

export async function launch(): Promise<Browser> {
  const executablePath = chromiumPath()
  if (!executablePath) throw new Error('no Chromium: apt-get install -y chromium, or set CHROMIUM_PATH')
  return chromium.launch({ executablePath, args: ['--no-sandbox', '--disable-dev-shm-usage', '--autoplay-policy=no-user-gesture-required'] })
}

/** Saves a full-page screenshot as `<name>.png` in SHOTS_DIR. */
export async function shot(page: Page, name: string): Promise<void> {
  mkdirSync(SHOTS_DIR, { recursive: true })
  await page.screenshot({ path: path.join(SHOTS_DIR, `${name}.png`), fullPage: true })
}

/** Every console error and page error of `page`, for asserting that a flow ran clean. */
export function collectErrors(page: Page): string[] {
  const errors: string[] = []
  page.on('pageerror', (err) => errors.push(`pageerror: ${err.message}`))
  page.on('console', (m) => {
    if (m.type() === 'error') errors.push(`console: ${m.text()}`)
  })
  page.on('response', (r) => {
    if (r.status() >= 400) errors.push(`${r.status()} ${r.request().method()} ${r.url()}`)
  })
  return errors
}

/**
 * Waits until `expression` (page JavaScript, as text) is truthy in `page`. Polled from here through the debugging
 * protocol, because Playwright's in-page polling evaluates strings, which the console's CSP forbids.
 */
export async function waitForExpression(page: Page, expression: string, timeoutMs = 30_000): Promise<void> {
  const deadline = Date.now() + timeoutMs
  for (;;) {
    if (await page.evaluate(expression)) return
    if (Date.now() > deadline) throw new Error(`${expression} was not true within ${timeoutMs} ms`)
    await new Promise((resolve) => setTimeout(resolve, 100))
  }
}
