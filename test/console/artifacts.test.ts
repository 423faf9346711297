import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import { artifactUrl, mediaOf } from '../../console/src/artifacts.ts'

const ID = 'a1dad943-f96b-4c2f-8c12-14adb7515010'

describe('console artifact URLs', () => {
  it('turns a recorded server path into the artifacts route, each segment encoded', () => {
    assert.equal(artifactUrl(ID, `/data/.weft/runs/${ID}/clips/scene 1.mp4`), `/api/v2/generations/${ID}/artifacts/clips/scene%201.mp4`)
    assert.equal(artifactUrl(ID, `C:\\weft\\runs\\${ID}\\final.mp4`), `/api/v2/generations/${ID}/artifacts/final.mp4`)
  })

  it("refuses paths outside the generation's folder", () => {
    assert.equal(artifactUrl(ID, '/data/.weft/runs/other/final.mp4'), undefined)
    assert.equal(artifactUrl(ID, `/x/${ID}/../secret`), undefined)
    assert.equal(artifactUrl(ID, `/x/${ID}/`), undefined)
    assert.equal(artifactUrl(ID, 42), undefined)
  })

  it('finds the media of a fan-out, with quality scores, and of a single render', () => {
    const out = {
      results: [
        { path: `/r/${ID}/clips/scene-1.mp4`, kind: 'video', label: 1, quality: { score: 91, breakdown: { black: 100, frozen: 82, note: 'x' } } },
        null,
        { path: `/r/${ID}/references/product.png`, kind: 'image', role: 'product' },
      ],
    }
    assert.deepEqual(mediaOf(ID, out), [
      { kind: 'video', url: `/api/v2/generations/${ID}/artifacts/clips/scene-1.mp4`, label: 'scene 1', score: 91, breakdown: { black: 100, frozen: 82 } },
      { kind: 'image', url: `/api/v2/generations/${ID}/artifacts/references/product.png`, label: 'product' },
    ])
    assert.deepEqual(
      mediaOf(ID, { path: `/r/${ID}/final.mp4`, kind: 'video' }).map((m) => m.url),
      [`/api/v2/generations/${ID}/artifacts/final.mp4`],
    )
    assert.deepEqual(mediaOf(ID, { text: 'hello' }), [])
  })
})
