import { describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { mkdtempSync } from 'node:fs'
import { tmpdir } from 'node:os'
import path from 'node:path'
import type { MediaProvider, MediaRequest } from '../../engine/ports.ts'
import { runNode } from '../support/node-task.ts'

/** A media provider that keeps each request and answers with the file it was asked for. */
function recording(): MediaProvider & { requests: MediaRequest[] } {
  const requests: MediaRequest[] = []
  return {
    name: 'recording',
    requests,
    async render(req) {
      requests.push(req)
      return { path: req.out, kind: req.kind === 'image' ? 'image' : 'video', width: 640, height: 360, duration_s: 4, source: 'recording' }
    },
  }
}

describe('render node: stitch', () => {
  const workDir = mkdtempSync(path.join(tmpdir(), 'weft-render-'))
  const stitch = async (clips: unknown[], transitions?: unknown[]) => {
    const media = recording()
    const out = await runNode('render', { kind: 'stitch', out: 'final.mp4', clips, ...(transitions ? { transitions } : {}) }, { providers: { media }, workDir })
    return { out, req: media.requests[0] as Extract<MediaRequest, { kind: 'stitch' }> | undefined }
  }

  it("keeps each join's own transition, and a missing one is a cut", async () => {
    const { out, req } = await stitch(['a.mp4', { path: 'b.mp4' }, 'c.mp4'], ['crossfade'])
    assert.equal(out.ok, true)
    assert.deepEqual(
      req!.clips,
      ['a.mp4', 'b.mp4', 'c.mp4'].map((f) => path.join(workDir, f)),
    )
    assert.deepEqual(req!.transitions, [
      { type: 'crossfade', duration_s: 0.5 },
      { type: 'cut', duration_s: 0 },
    ])
  })

  it("leaves out a failed clip (null), and the join across it fades through black instead of borrowing a neighbour's", async () => {
    const { req } = await stitch(['a.mp4', null, 'c.mp4', 'd.mp4'], ['crossfade', { type: 'crossfade', duration_s: 0.3 }, 'cut'])
    assert.deepEqual(
      req!.clips,
      ['a.mp4', 'c.mp4', 'd.mp4'].map((f) => path.join(workDir, f)),
    )
    assert.deepEqual(req!.transitions, [
      { type: 'fade', duration_s: 0.8 },
      { type: 'cut', duration_s: 0 },
    ])
  })

  it('a missing first clip needs no join; nothing left to stitch is MEDIA_INPUT_INVALID', async () => {
    const { req } = await stitch([null, 'b.mp4', 'c.mp4'], ['fade', 'crossfade'])
    assert.deepEqual(req!.transitions, [{ type: 'crossfade', duration_s: 0.5 }])
    const { out } = await stitch([null, null])
    assert.equal(out.ok, false)
    assert.equal(!out.ok && out.error.code, 'MEDIA_INPUT_INVALID')
  })
})
