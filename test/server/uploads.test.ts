import { offlineSettings } from '../../engine/providers.ts'
import { describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { createHash } from 'node:crypto'
import { copyFileSync, mkdtempSync, readdirSync, readFileSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import path from 'node:path'
import { createApp } from '../../server/app.ts'
import { createGenerationService } from '../../server/generation-service.ts'
import { openApiDocument } from '../../server/openapi.ts'
import { MAX_UPLOAD_BYTES } from '../../server/uploads.ts'
import { MemoryRunStore } from '../../engine/adapters/memory-store.ts'
import { InlineExecutor } from '../../engine/adapters/inline-executor.ts'
import { fixtures } from '../helpers.ts'
import { errorOf, KEY, OTHER_KEY, postJson, setup, silent, type TestApp } from '../support/api.ts'

/** A 1×1 PNG. */
const PNG = Buffer.from('iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR4nGNgYGD4DwABBAEAwS2OUAAAAABJRU5ErkJggg==', 'base64')
/** The start of a JPEG (SOI and a JFIF APP0 segment): enough for the type to be read from it. */
const JPEG = Buffer.concat([Buffer.from([0xff, 0xd8, 0xff, 0xe0, 0x00, 0x10]), Buffer.from('JFIF\0'), Buffer.alloc(32, 7)])
const sha256 = (b: Uint8Array) => createHash('sha256').update(b).digest('hex')

/** The pipeline the ref tests run: it takes the brand asset inputs the default pipeline takes. */
const ASSETS_PIPELINE = `pipeline: assets
inputs:
  prompt: { type: string, required: true }
  product_images: { type: list, default: [] }
  character_images: { type: list, default: [] }
  logo: { type: string, default: "" }
plugins: [./drafts.mjs]
nodes:
  story:
    type: drafter
    text: \${{ inputs.prompt }}
outputs:
  draft: \${{ nodes.story.output.draft }}
`

/** The HTTP API over the real service, with its data in a fresh folder. */
async function realApp() {
  const dataDir = mkdtempSync(path.join(tmpdir(), 'weft-uploads-'))
  const pipelinesDir = mkdtempSync(path.join(tmpdir(), 'weft-uploads-pipelines-'))
  writeFileSync(path.join(pipelinesDir, 'assets.yaml'), ASSETS_PIPELINE)
  copyFileSync(path.join(fixtures, 'plugins', 'drafts.mjs'), path.join(pipelinesDir, 'drafts.mjs'))
  const svc = await createGenerationService({
    store: new MemoryRunStore(),
    dataDir,
    pipelinesDir,
    owner: 'test-owner',
    executor: new InlineExecutor(),
    providers: offlineSettings,
  })
  const app = createApp(svc, { tokens: { issue: (s) => `token-for-${s}` }, rateLimit: null, logger: silent })
  return { app, svc, dataDir, uploadsDir: path.join(dataDir, 'uploads'), runsDir: path.join(dataDir, 'runs') }
}

async function upload(app: TestApp, body: Uint8Array | null, type?: string, headers: Record<string, string> = {}): Promise<Response> {
  return app.request('http://localhost/api/v2/uploads', { method: 'POST', headers: { ...(type ? { 'content-type': type } : {}), ...headers }, body })
}

/** The files in a folder, hidden ones included; none when it does not exist. */
const filesIn = (dir: string) => {
  try {
    return readdirSync(dir).sort()
  } catch {
    return []
  }
}

interface UploadJson {
  upload_id: string
  ref: string
  content_type: string
  size: number
}

describe('POST /api/v2/uploads', () => {
  it('201: stores a PNG as <data dir>/uploads/<sha256>.png; the same bytes again give the same id and one file', async () => {
    const { app, svc, uploadsDir } = await realApp()
    const first = await upload(app, PNG, 'image/png')
    assert.equal(first.status, 201)
    const body = (await first.json()) as UploadJson
    const id = sha256(PNG)
    assert.deepEqual(body, { upload_id: id, ref: `upload:${id}`, content_type: 'image/png', size: PNG.length })
    assert.deepEqual(filesIn(uploadsDir), [`${id}.png`])
    assert.deepEqual(readFileSync(path.join(uploadsDir, `${id}.png`)), PNG)

    const again = await upload(app, PNG, 'image/png; charset=binary')
    assert.equal(again.status, 201)
    assert.deepEqual(await again.json(), body)
    assert.deepEqual(filesIn(uploadsDir), [`${id}.png`], 'one file, no temporary files left')
    await svc.close()
  })

  it('takes the type from the bytes, not the Content-Type: a JPEG sent as image/png is stored as .jpg', async () => {
    const { app, svc, uploadsDir } = await realApp()
    const res = await upload(app, JPEG, 'image/png')
    assert.equal(res.status, 201)
    const body = (await res.json()) as UploadJson
    assert.equal(body.content_type, 'image/jpeg')
    assert.deepEqual(filesIn(uploadsDir), [`${sha256(JPEG)}.jpg`])
    await svc.close()
  })

  it('400 ASSET_UNREADABLE for bytes that are not a PNG, JPEG or WebP image, and stores nothing', async () => {
    const { app, svc, uploadsDir } = await realApp()
    for (const bytes of [Buffer.from('this is a text file, not a picture\n'), Buffer.from('GIF89a\x01\x00\x01\x00\x00\x00\x00;'), Buffer.alloc(0), PNG.subarray(0, 8)]) {
      const res = await upload(app, bytes, 'image/png')
      assert.equal(res.status, 400, `${bytes.length} bytes`)
      const error = await errorOf(res)
      assert.equal(error.code, 'ASSET_UNREADABLE')
      assert.match(error.message, /not a PNG, JPEG or WebP image/)
    }
    assert.deepEqual(filesIn(uploadsDir), [])
    await svc.close()
  })

  it('415 UNSUPPORTED_MEDIA_TYPE for a Content-Type that is not a supported image type, or none, before reading the body', async () => {
    const { app, svc, uploadsDir } = await realApp()
    for (const type of ['text/plain', 'application/json', 'image/gif', 'image/svg+xml', 'application/octet-stream', undefined]) {
      const res = await upload(app, PNG, type)
      assert.equal(res.status, 415, String(type))
      assert.equal((await errorOf(res)).code, 'UNSUPPORTED_MEDIA_TYPE')
    }
    assert.deepEqual(filesIn(uploadsDir), [])
    await svc.close()
  })

  it('413 PAYLOAD_TOO_LARGE over the asset cap (by Content-Length, and chunked); bodies over the JSON limit but under the cap are taken', async () => {
    const { app, svc, uploadsDir } = await realApp()
    assert.equal(MAX_UPLOAD_BYTES, 10 * 1024 * 1024)
    const declared = await upload(app, PNG, 'image/png', { 'content-length': String(MAX_UPLOAD_BYTES + 1) })
    assert.equal(declared.status, 413)
    assert.equal((await errorOf(declared)).code, 'PAYLOAD_TOO_LARGE')

    // a PNG head followed by a mebibyte at a time, without Content-Length
    let sent = 0
    const stream = new ReadableStream<Uint8Array>({
      pull(ctrl) {
        if (sent > MAX_UPLOAD_BYTES) return ctrl.close()
        const chunk = sent === 0 ? Buffer.concat([PNG, Buffer.alloc(1024 * 1024 - PNG.length)]) : Buffer.alloc(1024 * 1024)
        sent += chunk.length
        ctrl.enqueue(chunk)
      },
    })
    const req = new Request('http://localhost/api/v2/uploads', { method: 'POST', headers: { 'content-type': 'image/png' }, body: stream, duplex: 'half' } as RequestInit)
    assert.equal(req.headers.get('content-length'), null)
    const chunked = await app.request(req)
    assert.equal(chunked.status, 413)
    assert.equal((await errorOf(chunked)).code, 'PAYLOAD_TOO_LARGE')
    assert.deepEqual(filesIn(uploadsDir), [])

    // 3 MiB: over the 1 MiB JSON body limit, under the asset cap
    const big = Buffer.concat([PNG, Buffer.alloc(3 * 1024 * 1024)])
    const taken = await upload(app, big, 'image/png')
    assert.equal(taken.status, 201)
    assert.equal(((await taken.json()) as UploadJson).size, big.length)
    await svc.close()
  })

  it('429 RATE_LIMITED per caller, on a budget apart from POST /generate', async () => {
    const { app } = setup({
      apiKeys: [
        { id: 'a', key: KEY },
        { id: 'b', key: OTHER_KEY },
      ],
      rateLimit: { points: 2, durationS: 60 },
    })
    const as = (key: string) => ({ authorization: `Bearer ${key}` })
    assert.equal((await upload(app, PNG, 'image/png', as(KEY))).status, 201)
    // a refused upload counts too
    assert.equal((await upload(app, PNG, 'text/plain', as(KEY))).status, 415)
    const limited = await upload(app, PNG, 'image/png', as(KEY))
    assert.equal(limited.status, 429)
    assert.equal((await errorOf(limited)).code, 'RATE_LIMITED')
    assert.ok(Number(limited.headers.get('retry-after')) >= 1)
    assert.equal((await upload(app, PNG, 'image/png', as(OTHER_KEY))).status, 201)
    assert.equal((await postJson(app, '/api/v2/generate', { prompt: 'an ad' }, as(KEY))).status, 202)
  })

  it('is in the OpenAPI document: image bodies, 201 Upload, its errors', () => {
    const doc = openApiDocument() as {
      paths: Record<string, { post: { requestBody: { content: Record<string, unknown> }; responses: Record<string, unknown> } }>
      components: { schemas: Record<string, { required?: string[] }> }
    }
    const op = doc.paths['/api/v2/uploads']!.post
    assert.deepEqual(Object.keys(op.requestBody.content).sort(), ['image/jpeg', 'image/png', 'image/webp'])
    assert.deepEqual(Object.keys(op.responses).sort(), ['201', '400', '401', '413', '415', '429', '500'])
    assert.deepEqual(doc.components.schemas.Upload!.required, ['upload_id', 'ref', 'content_type', 'size'])
  })

  it('401 without a key when keys are configured', async () => {
    const { app, service } = setup({ apiKeys: [{ id: 'a', key: KEY }] })
    assert.equal((await upload(app, PNG, 'image/png')).status, 401)
    assert.equal(service.argsOf('saveUpload').length, 0)
  })
})

describe('upload refs in POST /api/v2/generate', () => {
  it("copies each uploaded file into the generation's folder where a fetched asset goes, and gives the pipeline its path", async () => {
    const { app, svc, runsDir, uploadsDir } = await realApp()
    const png = await upload(app, PNG, 'image/png').then((r) => r.json() as Promise<UploadJson>)
    const jpeg = await upload(app, JPEG, 'image/jpeg').then((r) => r.json() as Promise<UploadJson>)
    const res = await postJson(app, 'http://localhost/api/v2/generate', {
      prompt: 'Fizz',
      pipeline: 'assets',
      brand_assets: { product_images: [png.ref, jpeg.ref], logo: png.ref.toUpperCase().replace('UPLOAD:', 'upload:') },
    })
    assert.equal(res.status, 202, JSON.stringify(await res.clone().json()))
    const { generation_id: id } = (await res.json()) as { generation_id: string }
    const assets = path.join(runsDir, id, 'assets')
    assert.deepEqual(filesIn(assets), ['logo.png', 'product-1.png', 'product-2.jpg'])
    assert.deepEqual(readFileSync(path.join(assets, 'product-1.png')), PNG)
    assert.deepEqual(readFileSync(path.join(assets, 'product-2.jpg')), JPEG)
    assert.deepEqual(readFileSync(path.join(assets, 'logo.png')), PNG)
    const record = await svc.get(id)
    assert.deepEqual(record?.inputs.product_images, [path.join(assets, 'product-1.png'), path.join(assets, 'product-2.jpg')])
    assert.equal(record?.inputs.logo, path.join(assets, 'logo.png'))
    // the uploads stay where they are
    assert.deepEqual(filesIn(uploadsDir), [`${png.upload_id}.png`, `${jpeg.upload_id}.jpg`].sort())
    await svc.close()
  })

  it('400 ASSET_UNREADABLE naming the field for an unknown or malformed ref; nothing is recorded or left on disk', async () => {
    const { app, svc, runsDir } = await realApp()
    const png = await upload(app, PNG, 'image/png').then((r) => r.json() as Promise<UploadJson>)
    const unknown = `upload:${sha256(Buffer.from('never uploaded'))}`
    const cases: Array<[Record<string, unknown>, string]> = [
      [{ product_images: [png.ref, unknown] }, 'brand_assets.product_images.1'],
      [{ character_images: ['upload:not-a-sha'] }, 'brand_assets.character_images.0'],
      [{ product_images: [png.ref], logo: `upload:${png.upload_id.slice(1)}` }, 'brand_assets.logo'],
    ]
    for (const [brand_assets, field] of cases) {
      const res = await postJson(app, 'http://localhost/api/v2/generate', { prompt: 'Fizz', pipeline: 'assets', brand_assets })
      assert.equal(res.status, 400, field)
      const error = await errorOf(res)
      assert.equal(error.code, 'ASSET_UNREADABLE', field)
      assert.deepEqual(
        error.issues?.map((i) => i.path),
        [field],
      )
      assert.ok(error.message.startsWith(`${field}: `), error.message)
    }
    assert.deepEqual((await svc.list({ limit: 10 })).items, [])
    assert.deepEqual(filesIn(runsDir), [])
    await svc.close()
  })

  it('a ref that is neither a URL nor upload: is still REQUEST_INVALID at its path', async () => {
    const { app, service } = setup()
    const res = await postJson(app, '/api/v2/generate', { prompt: 'x', brand_assets: { logo: 'uploads:abc', product_images: ['file:///etc/passwd'] } })
    assert.equal(res.status, 400)
    const error = await errorOf(res)
    assert.equal(error.code, 'REQUEST_INVALID')
    assert.deepEqual(error.issues?.map((i) => i.path).sort(), ['brand_assets.logo', 'brand_assets.product_images.0'])
    assert.equal(service.argsOf('start').length, 0)
  })
})
