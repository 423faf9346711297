// Figures for the web console, in Debian's Chromium against a `weft serve` child process on loopback:
// 1. what the first page ships: the bytes of its scripts, styles and document as transferred (gzip);
// 2. the delay from a node's completion (its record's finished_at, which is its event's timestamp) to the node's
//    new state on the page (a MutationObserver in the page notes when its box turns "succeeded");
// 3. whether the page stays responsive with a 1,000-item fan-out run open while it runs: long tasks (over 50 ms,
//    the browser's own measure) and the longest, from a PerformanceObserver in the page.
// Prints figures, asserts nothing. After `npm run build`: node dist/bench/console.js [--chain 60] [--items 1000]
import { mkdtempSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import path from 'node:path'
import { parseArgs } from 'node:util'
import { chromium } from 'playwright-core'
import { root, startServe } from './serve.ts'

const { values } = parseArgs({
  options: { chain: { type: 'string', default: '60' }, items: { type: 'string', default: '1000' }, chromium: { type: 'string', default: process.env.CHROMIUM_PATH ?? '/usr/bin/chromium' } },
})
const chainLength = Number(values.chain)
const items = Number(values.items)
const pipelines = mkdtempSync(path.join(tmpdir(), 'weft-bench-console-'))
const plugin = path.join(root, 'bench', 'nodes', 'work.mjs')
// a chain whose first node waits while the page connects, then one node completing every 100 ms
writeFileSync(
  path.join(pipelines, 'chain.yaml'),
  `pipeline: chain
plugins: [${plugin}]
inputs:
  prompt: { type: string, required: true }
nodes:
  n0: { type: bench_sleep, ms: 3000 }
${Array.from({ length: chainLength - 1 }, (_, i) => `  n${i + 1}: { type: bench_sleep, ms: 100, needs: [n${i}] }`).join('\n')}
`,
)
writeFileSync(
  path.join(pipelines, 'wide.yaml'),
  `pipeline: wide
plugins: [${plugin}]
inputs:
  prompt: { type: string, required: true }
config:
  items: [${Array.from({ length: items }, (_, i) => i).join(', ')}]
nodes:
  wait: { type: bench_sleep, ms: 2000 }
  many:
    type: fan_out
    needs: [wait]
    items: \${{ config.items }}
    concurrency: 20
    node: { type: bench_sleep, ms: 20 }
  after: { type: bench_noop, needs: [many] }
`,
)

const serve = () =>
  startServe(['--pipelines', pipelines], {
    ...process.env,
    WEFT_DATA_DIR: mkdtempSync(path.join(tmpdir(), 'weft-bench-console-data-')),
    WEFT_RATE_LIMIT: 'off',
    DATABASE_URL: '',
    WEFT_PLUGIN_DIRS: path.join(root, 'bench', 'nodes'),
  })

async function start(url: string, pipeline: string): Promise<string> {
  const res = await fetch(`${url}/api/v2/generate`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ prompt: 'bench', pipeline }) })
  if (res.status !== 202) throw new Error(`generate: ${res.status} ${await res.text()}`)
  return ((await res.json()) as { generation_id: string }).generation_id
}

const pct = (xs: number[], p: number) => [...xs].sort((a, b) => a - b)[Math.min(xs.length - 1, Math.ceil((p / 100) * xs.length) - 1)]!

// page scripts as text: this file is type-checked without the DOM's types
const OBSERVE = `
window.__seen = {}; window.__long = [];
new PerformanceObserver((l) => { for (const e of l.getEntries()) window.__long.push(e.duration) }).observe({ type: 'longtask', buffered: true });
new MutationObserver((ms) => { for (const m of ms) { const el = m.target; if (el.dataset && el.dataset.node && el.classList.contains('s-succeeded') && !(el.dataset.node in window.__seen)) window.__seen[el.dataset.node] = Date.now() } })
  .observe(document, { subtree: true, attributes: true, attributeFilter: ['class'], childList: true });`

const { url, child } = await serve()
const browser = await chromium.launch({ executablePath: values.chromium, args: ['--no-sandbox', '--disable-dev-shm-usage'] })
try {
  // 1. the first page
  const first = await browser.newPage()
  await first.goto(`${url}/`, { waitUntil: 'networkidle' })
  const sizes = await first.evaluate<Array<{ name: string; type: string; encoded: number; decoded: number }>>(
    `performance.getEntriesByType('resource').map((e) => ({ name: e.name, type: e.initiatorType, encoded: e.encodedBodySize, decoded: e.decodedBodySize }))`,
  )
  const nav = await first.evaluate<{ encoded: number; decoded: number }>(
    `(() => { const e = performance.getEntriesByType('navigation')[0]; return { encoded: e.encodedBodySize, decoded: e.decodedBodySize } })()`,
  )
  const js = sizes.filter((s) => s.name.endsWith('.js'))
  const css = sizes.filter((s) => s.name.endsWith('.css'))
  const kb = (n: number) => (n / 1024).toFixed(1)
  console.log(
    `first page: JS ${kb(js.reduce((a, s) => a + s.encoded, 0))} KB gzip (${kb(js.reduce((a, s) => a + s.decoded, 0))} KB) in ${js.length} file(s); CSS ${kb(css.reduce((a, s) => a + s.encoded, 0))} KB; HTML ${kb(nav.encoded)} KB`,
  )
  await first.goto(`${url}/#/pipelines/edit/chain`)
  await first.getByRole('textbox', { name: 'Pipeline YAML' }).waitFor()
  const editorJs = (await first.evaluate<Array<{ name: string; encoded: number }>>(`performance.getEntriesByType('resource').map((e) => ({ name: e.name, encoded: e.encodedBodySize }))`)).filter(
    (s) => s.name.endsWith('.js') && !js.some((j) => j.name === s.name),
  )
  console.log(`editor page, loaded on demand: JS ${kb(editorJs.reduce((a, s) => a + s.encoded, 0))} KB gzip more`)
  await first.close()

  // 2. node.completed → the page
  const id = await start(url, 'chain')
  const page = await browser.newPage({ viewport: { width: 1280, height: 800 } })
  await page.addInitScript(OBSERVE)
  await page.goto(`${url}/#/runs/${id}`)
  await page.getByText('live', { exact: true }).waitFor({ timeout: 10_000 })
  const liveAt = Date.now()
  await page.getByTestId('run-status').filter({ hasText: 'completed' }).waitFor({ timeout: 120_000 })
  const seen = await page.evaluate<Record<string, number>>('window.__seen')
  const record = (await (await fetch(`${url}/api/v2/generations/${id}`)).json()) as { nodes: Record<string, { finished_at: string }> }
  const delays = Object.entries(record.nodes)
    .filter(([, n]) => Date.parse(n.finished_at) > liveAt)
    .map(([nid, n]) => seen[nid]! - Date.parse(n.finished_at))
  if (delays.some((d) => !Number.isFinite(d))) console.log('some nodes never showed as succeeded on the page')
  console.log(`node.completed → page (${delays.length} nodes completed while the page was live): p50 ${pct(delays, 50)} ms, p95 ${pct(delays, 95)} ms, max ${Math.max(...delays)} ms`)
  await page.close()

  // 3. a 1,000-item fan-out open while it runs
  const wide = await start(url, 'wide')
  const big = await browser.newPage({ viewport: { width: 1280, height: 800 } })
  await big.addInitScript(OBSERVE)
  const opened = Date.now()
  await big.goto(`${url}/#/runs/${wide}`)
  await big.getByRole('button', { name: /^many:/ }).waitFor()
  await big.getByRole('button', { name: /^many:/ }).click()
  await big.getByTestId('run-status').filter({ hasText: 'completed' }).waitFor({ timeout: 300_000 })
  const took = Date.now() - opened
  const itemsShown = await big.locator('.items li').count()
  const long = await big.evaluate<number[]>('window.__long')
  const events = await big.evaluate<number>(
    `Number((document.querySelector('[aria-label="Event log"]')?.closest('section')?.querySelector('p.muted')?.textContent ?? '').match(/of (\\d+)/)?.[1] ?? 0)`,
  )
  console.log(
    `${items}-item fan-out open while running (${(took / 1000).toFixed(1)} s, ${itemsShown} items listed, ${events} events in the log): ${long.length} long tasks, longest ${long.length ? Math.round(Math.max(...long)) : 0} ms, over 200 ms: ${long.filter((d) => d > 200).length}`,
  )
  await big.close()
  // the same run opened after it ended: every event comes at once, as a replay
  const late = await browser.newPage({ viewport: { width: 1280, height: 800 } })
  await late.addInitScript(OBSERVE)
  const lateAt = Date.now()
  await late.goto(`${url}/#/runs/${wide}`)
  await late.getByTestId('run-status').filter({ hasText: 'completed' }).waitFor({ timeout: 60_000 })
  await late.getByRole('button', { name: /^after: succeeded/ }).waitFor()
  const shown = Date.now() - lateAt
  await new Promise((resolve) => setTimeout(resolve, 1000))
  const lateLong = await late.evaluate<number[]>('window.__long')
  console.log(
    `the same run opened after it ended (replay of every event): shown in ${shown} ms; ${lateLong.length} long tasks, longest ${lateLong.length ? Math.round(Math.max(...lateLong)) : 0} ms, over 200 ms: ${lateLong.filter((d) => d > 200).length}`,
  )
  await late.close()
} finally {
  await browser.close()
  child.kill('SIGTERM')
}
