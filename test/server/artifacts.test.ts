import { describe, it, before } from 'node:test'
import assert from 'node:assert/strict'
import { mkdirSync, symlinkSync, writeFileSync } from 'node:fs'
import path from 'node:path'
import { decodeSegments, parseRange } from '../../server/artifacts.ts'
import { generation } from '../support/fake-service.ts'
import { errorOf, setup } from '../support/api.ts'

const SECRET = 'TOP-SECRET-CONTENT'
const video = Buffer.from(Array.from({ length: 1000 }, (_, i) => i % 251))

describe('GET /api/v2/generations/:id/artifacts/*', () => {
  const { app, service } = setup()
  before(() => {
    const dir = service.artifactsDir('gen-1')
    mkdirSync(path.join(dir, 'clips'), { recursive: true })
    writeFileSync(path.join(dir, 'final.mp4'), video)
    writeFileSync(path.join(dir, 'clips', 'scene 1.png'), 'png-bytes')
    writeFileSync(path.join(dir, 'ref.JPG'), 'jpg-bytes')
    writeFileSync(path.join(dir, 'notes.html'), '<script>alert(1)</script>')
    writeFileSync(path.join(service.root, 'secret.txt'), SECRET)
    mkdirSync(path.join(service.root, 'gen-2'))
    writeFileSync(path.join(service.root, 'gen-2', 'final.mp4'), SECRET)
    symlinkSync(path.join(service.root, 'secret.txt'), path.join(dir, 'link-out.txt'))
    symlinkSync(service.root, path.join(dir, 'dir-out'))
    writeFileSync(path.join(dir, 'clips', 'inside.txt'), 'inside')
    symlinkSync(path.join(dir, 'clips', 'inside.txt'), path.join(dir, 'link-in.txt'))
    service.generations.set('gen-1', generation('gen-1'))
  })

  it('200: the whole file with its type, length and Accept-Ranges', async () => {
    const res = await app.request('/api/v2/generations/gen-1/artifacts/final.mp4')
    assert.equal(res.status, 200)
    assert.equal(res.headers.get('content-type'), 'video/mp4')
    assert.equal(res.headers.get('content-length'), '1000')
    assert.equal(res.headers.get('accept-ranges'), 'bytes')
    assert.deepEqual(Buffer.from(await res.arrayBuffer()), video)
  })

  it('content types for png (nested, encoded name) and jpg; octet-stream and nosniff otherwise', async () => {
    const png = await app.request('/api/v2/generations/gen-1/artifacts/clips/scene%201.png')
    assert.equal(png.status, 200)
    assert.equal(png.headers.get('content-type'), 'image/png')
    assert.equal(await png.text(), 'png-bytes')
    const jpg = await app.request('/api/v2/generations/gen-1/artifacts/ref.JPG')
    assert.equal(jpg.headers.get('content-type'), 'image/jpeg')
    const html = await app.request('/api/v2/generations/gen-1/artifacts/notes.html')
    assert.equal(html.headers.get('content-type'), 'application/octet-stream')
    assert.equal(html.headers.get('x-content-type-options'), 'nosniff')
  })

  it('206: a byte range is exactly that slice of the file, with Content-Range', async () => {
    const cases: Array<[string, number, number]> = [
      ['bytes=100-199', 100, 199],
      ['bytes=900-', 900, 999],
      ['bytes=-10', 990, 999],
      ['bytes=990-5000', 990, 999],
      ['bytes=0-0', 0, 0],
    ]
    for (const [range, start, end] of cases) {
      const res = await app.request('/api/v2/generations/gen-1/artifacts/final.mp4', { headers: { range } })
      assert.equal(res.status, 206, range)
      assert.equal(res.headers.get('content-range'), `bytes ${start}-${end}/1000`, range)
      assert.equal(res.headers.get('content-length'), String(end - start + 1), range)
      assert.deepEqual(Buffer.from(await res.arrayBuffer()), video.subarray(start, end + 1), range)
    }
  })

  it('416 for a range past the end, with Content-Range bytes */size', async () => {
    for (const range of ['bytes=1000-', 'bytes=5000-6000', 'bytes=-0']) {
      const res = await app.request('/api/v2/generations/gen-1/artifacts/final.mp4', { headers: { range } })
      assert.equal(res.status, 416, range)
      assert.equal(res.headers.get('content-range'), 'bytes */1000')
      assert.equal((await errorOf(res)).code, 'RANGE_NOT_SATISFIABLE')
    }
  })

  it('HEAD: headers without a body', async () => {
    const res = await app.request('/api/v2/generations/gen-1/artifacts/final.mp4', { method: 'HEAD', headers: { range: 'bytes=0-9' } })
    assert.equal(res.status, 206)
    assert.equal(res.headers.get('content-length'), '10')
    assert.equal((await res.arrayBuffer()).byteLength, 0)
  })

  it("never serves a file outside the generation's folder, however the path is spelled", async () => {
    const attempts = [
      '../secret.txt',
      '..%2fsecret.txt',
      '..%2Fsecret.txt',
      '%2e%2e/secret.txt',
      '%2E%2E%2Fsecret.txt',
      '%2e%2e%2f%2e%2e%2fsecret.txt',
      '..%5csecret.txt',
      '..\\secret.txt',
      'clips/../../secret.txt',
      'clips/%2e%2e/%2e%2e/secret.txt',
      '%252e%252e/secret.txt',
      '/' + path.join(service.root, 'secret.txt'),
      '%2F' + encodeURIComponent(path.join(service.root, 'secret.txt')).slice(3),
      encodeURIComponent(path.join(service.root, 'secret.txt')),
      '..%2fgen-2%2ffinal.mp4',
      '%2e%2e/gen-2/final.mp4',
      'link-out.txt',
      'dir-out/secret.txt',
      'dir-out/gen-2/final.mp4',
      'final.mp4%00.png',
      '.',
      '%2e',
      '',
      'clips',
    ]
    for (const attempt of attempts) {
      const res = await app.request(`/api/v2/generations/gen-1/artifacts/${attempt}`)
      const text = await res.text()
      assert.ok(res.status === 400 || res.status === 404, `${attempt} → ${res.status}`)
      assert.ok(!text.includes(SECRET), `${attempt} leaked the secret`)
      assert.match(JSON.parse(text).error.code, /^(PATH_INVALID|NOT_FOUND)$/, attempt)
    }
  })

  it('a symlink that stays inside the folder is served', async () => {
    const res = await app.request('/api/v2/generations/gen-1/artifacts/link-in.txt')
    assert.equal(res.status, 200)
    assert.equal(await res.text(), 'inside')
  })

  it('404 for an unknown generation even when its folder exists, and for a missing file', async () => {
    const other = await app.request('/api/v2/generations/gen-2/artifacts/final.mp4')
    assert.equal(other.status, 404)
    assert.ok(!(await other.text()).includes(SECRET))
    const missing = await app.request('/api/v2/generations/gen-1/artifacts/nope.mp4')
    assert.equal(missing.status, 404)
    assert.equal((await errorOf(missing)).code, 'NOT_FOUND')
  })
})

describe('decodeSegments', () => {
  it('decodes once and refuses empty, dot, dot-dot and separator-bearing segments', () => {
    assert.deepEqual(decodeSegments(['clips', 'scene%201.png']), ['clips', 'scene 1.png'])
    assert.deepEqual(decodeSegments(['%252e%252e']), ['%2e%2e'])
    for (const bad of [[], [''], ['.'], ['..'], ['%2e%2e'], ['a%2fb'], ['a%5cb'], ['a%00'], ['%E0%A4%A'], ['a', '', 'b']]) {
      assert.equal(decodeSegments(bad), undefined, JSON.stringify(bad))
    }
  })
})

describe('parseRange', () => {
  it('reads one range; ignores malformed, multiple and other units; flags unsatisfiable ones', () => {
    assert.deepEqual(parseRange(undefined, 100), { kind: 'full' })
    assert.deepEqual(parseRange('bytes=10-19', 100), { kind: 'partial', start: 10, end: 19 })
    assert.deepEqual(parseRange('bytes=-150', 100), { kind: 'partial', start: 0, end: 99 })
    assert.deepEqual(parseRange('bytes=0-1,5-6', 100), { kind: 'full' })
    assert.deepEqual(parseRange('items=0-1', 100), { kind: 'full' })
    assert.deepEqual(parseRange('bytes=9-3', 100), { kind: 'full' })
    assert.deepEqual(parseRange('bytes=-', 100), { kind: 'full' })
    assert.deepEqual(parseRange('bytes=100-', 100), { kind: 'unsatisfiable' })
    assert.deepEqual(parseRange('bytes=0-', 0), { kind: 'unsatisfiable' })
  })
})
