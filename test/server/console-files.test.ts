import assert from 'node:assert/strict'
import { mkdirSync, mkdtempSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import path from 'node:path'
import { describe, it } from 'node:test'
import { CONSOLE_CSP } from '../../server/console-files.ts'
import { KEY, setup } from '../support/api.ts'

function built(): string {
  const dir = mkdtempSync(path.join(tmpdir(), 'weft-console-files-'))
  mkdirSync(path.join(dir, 'assets'))
  writeFileSync(path.join(dir, 'index.html'), '<!doctype html><title>console</title>')
  writeFileSync(path.join(dir, 'assets', 'main.js'), 'console.log("weft")')
  writeFileSync(path.join(dir, 'secret.txt'), 'not an asset')
  return dir
}

describe('web console files', () => {
  it('serves the page and its assets without a key, with the CSP, even when the API needs one', async () => {
    const { app } = setup({ consoleDir: built(), apiKeys: [{ id: 'a', key: KEY }] })
    const page = await app.request('/')
    assert.equal(page.status, 200)
    assert.match(page.headers.get('content-type') ?? '', /text\/html/)
    assert.equal(page.headers.get('content-security-policy'), CONSOLE_CSP)
    assert.match(await page.text(), /<title>console<\/title>/)
    const js = await app.request('/assets/main.js', { headers: { 'accept-encoding': 'gzip' } })
    assert.equal(js.status, 200)
    assert.match(js.headers.get('content-type') ?? '', /javascript/)
    assert.equal(js.headers.get('x-content-type-options'), 'nosniff')
    // the API itself still wants the key
    assert.equal((await app.request('/api/v2/pipelines')).status, 401)
  })

  it('serves nothing outside the assets folder', async () => {
    const { app } = setup({ consoleDir: built() })
    for (const p of ['/assets/../secret.txt', '/assets/%2e%2e/secret.txt', '/assets/..%2fsecret.txt', '/secret.txt', '/assets/nope.js']) {
      const res = await app.request(p)
      assert.equal(res.status, 404, p)
      assert.doesNotMatch(await res.text(), /not an asset/, p)
    }
  })

  it('says how to build the console when it is not built, and serves none when told so', async () => {
    const missing = setup({ consoleDir: path.join(tmpdir(), 'weft-no-such-console') })
    const res = await missing.app.request('/')
    assert.equal(res.status, 503)
    assert.match(await res.text(), /npm run build/)
    assert.equal((await missing.app.request('/assets/main.js')).status, 404)
    const { app } = setup({ consoleDir: null })
    assert.equal((await app.request('/')).status, 404)
  })
})
