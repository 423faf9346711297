// The console in a real browser (Debian's Chromium through playwright-core) against a real `weft serve`:
// a person starts an interactive generation, decides both gates (one revised), and watches the video.
import assert from 'node:assert/strict'
import { execFileSync } from 'node:child_process'
import { copyFile, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import path from 'node:path'
import { after, before, describe, it } from 'node:test'
import type { Browser } from 'playwright-core'
import { ffmpegPath } from '../../engine/media/ffmpeg.ts'
import { chromiumPath, collectErrors, launch, shot, waitForExpression } from '../support/browser.ts'
import { spawn } from 'node:child_process'
import { randomBytes } from 'node:crypto'
import { serve, weftArgs, type Server } from '../support/e2e-client.ts'
import { closeAdmin, createDatabase } from '../support/pg-database.ts'

const root = path.resolve(import.meta.dirname, '..', '..')
const KEY = 'console-test-key-0123456789abcdef'
// the CI installs Chromium; elsewhere a machine without it skips these tests (and says so)
const skip = chromiumPath() ? false : process.env.CI ? false : 'no Chromium here (apt-get install -y chromium)'

/** A 64×64 red PNG, made by ffmpeg. */
let png: Buffer | undefined
function productPng(): Buffer {
  return (png ??= execFileSync(ffmpegPath(), ['-loglevel', 'error', '-f', 'lavfi', '-i', 'color=c=red:s=64x64', '-frames:v', '1', '-f', 'image2pipe', '-c:v', 'png', '-']))
}

async function pipelinesDir(): Promise<string> {
  const dir = await mkdtemp(path.join(tmpdir(), 'weft-console-pipelines-'))
  await copyFile(path.join(root, 'pipelines', 'default.yaml'), path.join(dir, 'default.yaml'))
  const failing = await readFile(path.join(root, 'test', 'fixtures', 'console', 'failing.yaml'), 'utf8')
  await writeFile(path.join(dir, 'failing.yaml'), failing.replace('../plugins/work.mjs', path.join(root, 'test', 'fixtures', 'plugins', 'work.mjs')))
  return dir
}

describe('web console in Chromium', { skip }, () => {
  let browser: Browser
  let server: Server
  let data: string
  let pipelines: string
  // the run the first test completes (the API-key test plays its video with a key)
  let completedId: string | undefined
  before(async () => {
    data = await mkdtemp(path.join(tmpdir(), 'weft-console-'))
    pipelines = await pipelinesDir()
    server = await serve({ WEFT_DATA_DIR: data, DATABASE_URL: '', WEFT_RATE_LIMIT: 'off', WEFT_PLUGIN_DIRS: path.join(root, 'test', 'fixtures', 'plugins') }, ['--pipelines', pipelines])
    browser = await launch()
  })
  after(async () => {
    await browser?.close()
    await server?.stop()
    await rm(data, { recursive: true, force: true })
    await rm(pipelines, { recursive: true, force: true })
  })

  it('starts an interactive generation, approves the story, revises the scenes, approves the revision and plays the video', async () => {
    const page = await browser.newPage({ viewport: { width: 1280, height: 800 } })
    const errors = collectErrors(page)
    await page.goto(`${server.url}/`)
    await page.getByRole('link', { name: 'New generation' }).first().click()
    await page.getByRole('textbox', { name: 'Prompt', exact: true }).fill('Meet Fizz, the sparkling lemon soda for students. Grab one today!')
    await page.getByRole('textbox', { name: 'Product', exact: true }).fill('Fizz')
    await page.getByRole('spinbutton', { name: 'Duration (seconds)' }).fill('12')
    // smaller frames render faster; the overrides field is part of what is tested
    await page.getByRole('textbox', { name: 'Config overrides' }).fill('video.width=640\nvideo.height=360')
    // a product image from "the person's computer": uploaded, then used by the run
    await page.getByLabel('Product image files').setInputFiles({ name: 'can.png', mimeType: 'image/png', buffer: productPng() })
    await shot(page, '01-new-generation')
    await page.getByRole('button', { name: 'Generate' }).click()
    await page.waitForURL(/#\/runs\/[0-9a-f-]{36}$/)
    const id = /#\/runs\/([0-9a-f-]{36})$/.exec(page.url())![1]!

    // the story gate: the story is shown (editable), approve it
    const storyGate = page.getByRole('region', { name: /^Gate approve_story/ })
    await storyGate.waitFor({ timeout: 60_000 })
    assert.ok((await storyGate.getByRole('textbox').count()) > 2, 'the story is shown as editable fields')
    assert.match(await storyGate.getByRole('textbox').first().inputValue(), /\S/)
    await shot(page, '02-story-gate')
    await storyGate.getByRole('button', { name: 'Approve', exact: true }).click()

    // the scenes gate: scenes as cards; send them back with feedback
    const scenesGate = page.getByRole('region', { name: 'Gate approve_scenes' })
    await scenesGate.waitFor({ timeout: 120_000 })
    assert.ok((await scenesGate.getByRole('group').count()) >= 3, 'one card per scene')
    await shot(page, '03-scenes-gate')
    await scenesGate.getByRole('textbox', { name: 'Feedback', exact: true }).fill('Make the last scene end on the product with the call to action.')
    await scenesGate.getByRole('button', { name: 'Revise', exact: true }).click()

    // the revision comes back as revision 1 of the same gate; approve it
    const revised = page.getByRole('region', { name: 'Gate approve_scenes (revision 1)' })
    await revised.waitFor({ timeout: 120_000 })
    await shot(page, '04-scenes-revision')
    await revised.getByRole('button', { name: 'Approve', exact: true }).click()

    await page.getByTestId('run-status').filter({ hasText: 'completed' }).waitFor({ timeout: 240_000 })
    const video = page.locator('.final video')
    await video.waitFor({ timeout: 30_000 })
    // page expressions as text: this file is type-checked without the DOM's types
    await waitForExpression(page, 'document.querySelector(".final video")?.readyState >= 2')
    const length = await page.evaluate<number>('document.querySelector(".final video").duration')
    assert.ok(length > 5, `the video has its length (${length} s)`)
    await shot(page, '05-completed')

    // the page reflects the server: both gates decided as clicked, the revision in the log
    const record = (await (await fetch(`${server.url}/api/v2/generations/${id}`)).json()) as { status: string; inputs: { product_images: string[] } }
    assert.equal(record.status, 'completed')
    assert.equal(record.inputs.product_images.length, 1)
    assert.deepEqual(await readFile(record.inputs.product_images[0]!), productPng())
    completedId = id
    const events = await page.getByRole('list', { name: 'Event log' }).innerText()
    assert.match(events, /gate approve_scenes: revise by human — “Make the last scene end on the product/)
    assert.match(events, /gate approve_scenes: approve by human/)
    assert.deepEqual(errors, [])

    // the same run on a phone-sized screen: the DAG and the video are there, nothing wider than the screen but the DAG's own scroller
    const phone = await browser.newPage({ viewport: { width: 390, height: 844 }, isMobile: true })
    await phone.goto(`${server.url}/#/runs/${id}`)
    await phone.getByTestId('run-status').filter({ hasText: 'completed' }).waitFor()
    await phone.locator('.final video').waitFor()
    assert.ok(await phone.evaluate('document.documentElement.scrollWidth <= 391'), 'no sideways scrolling of the page')
    await shot(phone, '06-phone-run')
    await phone.close()
    await page.close()
  })

  it("shows a failed node's error in the live DAG as it happens", async () => {
    const res = await fetch(`${server.url}/api/v2/generate`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ prompt: 'x', pipeline: 'failing' }) })
    assert.equal(res.status, 202)
    const { generation_id: id } = (await res.json()) as { generation_id: string }
    const page = await browser.newPage({ viewport: { width: 1280, height: 800 } })
    await page.goto(`${server.url}/#/runs/${id}`)
    // the first node takes 1.5 s: the page is following the run live before the failure
    await page.getByRole('button', { name: 'prepare: running' }).waitFor({ timeout: 10_000 })
    await page.getByTestId('run-status').filter({ hasText: 'failed' }).waitFor({ timeout: 30_000 })
    const node = page.getByRole('button', { name: /^render_clip: failed, RENDER_REFUSED$/ })
    await node.click()
    const panel = page.getByRole('region', { name: 'Node render_clip' })
    await panel.getByText('RENDER_REFUSED').first().waitFor()
    assert.match(await panel.innerText(), /planned failure on attempt 1/)
    await shot(page, '07-failed-node')
    await page.close()
  })

  it('follows a gate decided elsewhere, and cancels a run', async () => {
    const res = await fetch(`${server.url}/api/v2/generate`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ prompt: 'Meet Fizz, the sparkling lemon soda.', interactive: true, duration_s: 12 }),
    })
    const { generation_id: id } = (await res.json()) as { generation_id: string }
    const page = await browser.newPage({ viewport: { width: 1280, height: 800 } })
    const errors = collectErrors(page)
    await page.goto(`${server.url}/#/runs/${id}`)
    const storyGate = page.getByRole('region', { name: /^Gate approve_story/ })
    await storyGate.waitFor({ timeout: 60_000 })
    // another reviewer approves through the API: the page drops the gate and moves on to the next one
    const decided = await fetch(`${server.url}/api/v2/generations/${id}/approvals/approve_story`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ decision: 'approve' }),
    })
    assert.equal(decided.status, 200)
    await storyGate.waitFor({ state: 'detached', timeout: 30_000 })
    await page.getByRole('region', { name: 'Gate approve_scenes' }).waitFor({ timeout: 120_000 })
    await page.getByRole('button', { name: 'Cancel run' }).click()
    await page.getByTestId('run-status').filter({ hasText: 'cancelled' }).waitFor({ timeout: 30_000 })
    assert.equal(await page.getByRole('region', { name: /^Gate / }).count(), 0)
    assert.deepEqual(errors, [])
    await page.close()
  })

  it('marks a pipeline diagnostic at its line in the editor', async () => {
    const page = await browser.newPage({ viewport: { width: 1280, height: 800 } })
    await page.goto(`${server.url}/#/pipelines`)
    await page.getByRole('link', { name: 'Edit default' }).click()
    const editor = page.getByRole('textbox', { name: 'Pipeline YAML' })
    await editor.waitFor()
    await page.getByRole('status').filter({ hasText: 'valid: no problems' }).waitFor({ timeout: 15_000 })
    await editor.click()
    await page.keyboard.press('ControlOrMeta+a')
    await page.keyboard.insertText(['pipeline: broken', 'version: 1', 'nodes:', '  first:', '    type: agent', '    prompt: story_director', '  second:', '    type: no_such_type', ''].join('\n'))
    await page.getByRole('list', { name: 'Diagnostics' }).getByText('UNKNOWN_NODE_TYPE').waitFor({ timeout: 15_000 })
    assert.match(await page.getByRole('list', { name: 'Diagnostics' }).innerText(), /line 8:\d+ UNKNOWN_NODE_TYPE/)
    // each diagnostic is marked on its own line of the editor, the unknown type on line 8
    await page.locator('.cm-lintRange-error').first().waitFor()
    const listed = [...(await page.getByRole('list', { name: 'Diagnostics' }).innerText()).matchAll(/line (\d+):\d+/g)].map((m) => Number(m[1]))
    const marked = await page.evaluate<number[]>(
      `[...document.querySelectorAll('.cm-content .cm-line')].flatMap((l, i) => (l.querySelector('.cm-lintRange-error, .cm-lintRange-warning') ? [i + 1] : []))`,
    )
    assert.ok(marked.includes(8), `line 8 is marked (marked: ${marked.join(', ')})`)
    assert.deepEqual(
      marked,
      [...new Set(listed)].sort((a, b) => a - b),
    )
    await shot(page, '08-editor-diagnostic')
    await page.close()
  })

  it('asks for the API key once, says when it is wrong, and works with the right one', async () => {
    const keyed = await serve({ WEFT_DATA_DIR: data, DATABASE_URL: '', WEFT_API_KEYS: `console:${KEY}`, WEFT_PLUGIN_DIRS: path.join(root, 'test', 'fixtures', 'plugins') }, ['--pipelines', pipelines])
    try {
      const page = await browser.newPage({ viewport: { width: 1280, height: 800 } })
      await page.goto(`${keyed.url}/`)
      const dialog = page.getByRole('dialog', { name: 'API key' })
      await dialog.waitFor()
      await shot(page, '09-key-prompt')
      await dialog.getByLabel('API key').fill('wrong-key-0123456789')
      await dialog.getByRole('button', { name: 'Use key' }).click()
      await page.getByRole('dialog', { name: 'API key' }).getByRole('alert').filter({ hasText: 'refused that key' }).waitFor()
      await page.getByRole('dialog', { name: 'API key' }).getByLabel('API key').fill(KEY)
      await page.getByRole('dialog', { name: 'API key' }).getByRole('button', { name: 'Use key' }).click()
      // the runs of the first test are listed, read with the key
      await page.getByRole('table').getByRole('link').first().waitFor()
      assert.equal(await page.getByRole('dialog').count(), 0)
      // kept for the session: a reload does not ask again
      await page.reload()
      await page.getByRole('table').getByRole('link').first().waitFor()
      assert.equal(await page.getByRole('dialog').count(), 0)
      // media need the key too: the video plays and its download link holds the bytes fetched with it
      if (completedId) {
        await page.goto(`${keyed.url}/#/runs/${completedId}`)
        await waitForExpression(page, 'document.querySelector(".final video")?.readyState >= 2')
        assert.match((await page.getByRole('link', { name: 'Download the final video' }).getAttribute('href')) ?? '', /^blob:/)
      }
      await page.close()
    } finally {
      await keyed.stop()
    }
  })
})

describe('web console in Chromium, with a fleet on Postgres', { skip: skip || (process.env.DATABASE_URL ? false : 'DATABASE_URL is not set; this runs in CI, where it is set') }, () => {
  after(closeAdmin)
  it('shows a node no worker has taken as queued, waiting for a worker, and as running once one takes it', async () => {
    const db = await createDatabase()
    const data = await mkdtemp(path.join(tmpdir(), 'weft-console-fleet-'))
    const dir = await mkdtemp(path.join(tmpdir(), 'weft-console-fleet-pipelines-'))
    // a node that runs long enough on its worker for the page to see it running, not only ended
    const plugin = path.join(root, 'test', 'fixtures', 'plugins', 'work.mjs')
    await writeFile(
      path.join(dir, 'slow.yaml'),
      `pipeline: slow\ninputs:\n  prompt: { type: string, required: true }\nplugins: [${plugin}]\nnodes:\n  long: { type: work, ms: 20000 }\n  after: { type: work, needs: [long] }\n`,
    )
    const env = { DATABASE_URL: db.url, WEFT_DATA_DIR: data, WEFT_RATE_LIMIT: 'off', WEFT_WS_SECRET: randomBytes(32).toString('hex'), WEFT_PLUGIN_DIRS: path.dirname(plugin) }
    // the API only: no worker takes anything until one is started
    const server = await serve(env, ['--workers', '0', '--pipelines', dir])
    const browser = await launch()
    let worker: ReturnType<typeof spawn> | undefined
    try {
      const res = await fetch(`${server.url}/api/v2/generate`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ prompt: 'x', pipeline: 'slow' }) })
      const body = await res.text()
      assert.equal(res.status, 202, body)
      const { generation_id: id } = JSON.parse(body) as { generation_id: string }
      const read = async () => (await (await fetch(`${server.url}/api/v2/generations/${id}`)).json()) as { nodes: Record<string, { status: string }>; waiting_for_worker?: string[] }
      const record = await read()
      assert.equal(record.nodes.long!.status, 'running')
      assert.deepEqual(record.waiting_for_worker, ['long'])
      const page = await browser.newPage({ viewport: { width: 1280, height: 800 } })
      const errors = collectErrors(page)
      await page.goto(`${server.url}/#/runs/${id}`)
      await page.getByRole('button', { name: 'long: queued, waiting for a worker' }).waitFor({ timeout: 10_000 })
      assert.match(await page.locator('[data-node="long"]').innerText(), /queued for a worker/)
      await shot(page, '10-fleet-queued')
      worker = spawn(process.execPath, [...weftArgs, 'worker', '--concurrency', '4'], { cwd: root, env: { ...process.env, ...env }, stdio: 'ignore' })
      // no event says a worker took it: the page learns it by reading the record again, while the node still runs
      await page.getByRole('button', { name: 'long: running', exact: true }).waitFor({ timeout: 15_000 })
      const now = await read()
      assert.equal(now.nodes.long!.status, 'running', 'still running on the worker')
      assert.deepEqual(now.waiting_for_worker, [])
      await page.getByRole('button', { name: 'Cancel run' }).click()
      await page.getByTestId('run-status').filter({ hasText: 'cancelled' }).waitFor({ timeout: 30_000 })
      assert.deepEqual(errors, [])
      await page.close()
    } finally {
      if (worker && worker.exitCode === null) {
        const exited = new Promise((resolve) => worker!.once('exit', resolve))
        worker.kill('SIGTERM')
        await exited
      }
      await browser.close()
      await server.stop()
      await db.drop()
      await rm(data, { recursive: true, force: true })
      await rm(dir, { recursive: true, force: true })
    }
  })
})
