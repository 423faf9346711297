import { describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { stitchGraph } from '../../../engine/media/stitch-graph.ts'

const size = { width: 320, height: 180 }
const clip = (duration_s: number, has_audio = true) => ({ duration_s, has_audio })

describe('media/stitch-graph', () => {
  it('places clips frame-exactly: crossfades overlap, fades and cuts do not', () => {
    const g = stitchGraph({ transitions: [{ type: 'crossfade', duration_s: 0.5 }, { type: 'fade', duration_s: 0.8 }, { type: 'cut', duration_s: 0 }] },
      [clip(4), clip(6), clip(6), clip(8)], size, 24)
    assert.deepEqual(g.frames, [96, 144, 144, 192])
    assert.deepEqual(g.starts, [0, 84, 228, 372])
    assert.equal(g.totalFrames, 564)
    assert.equal(g.duration_s, 23.5)
  })

  it('treats missing transitions and zero-length ones as cuts', () => {
    const g = stitchGraph({ transitions: [{ type: 'crossfade', duration_s: 0 }] }, [clip(1), clip(1), clip(1, false)], size, 24)
    assert.deepEqual(g.starts, [0, 24, 48])
    assert.equal(g.duration_s, 3)
    // the clip without sound gets generated silence instead of an [2:a] input
    assert.ok(!g.filter.includes('[2:a]'))
    assert.ok(g.filter.includes('[1:a]'))
  })

  it('rejects a crossfade longer than a clip, or crossfades that do not fit a clip between them', () => {
    const invalid = (err: unknown) => (err as { code?: unknown }).code === 'MEDIA_INPUT_INVALID'
    assert.throws(() => stitchGraph({ transitions: [{ type: 'crossfade', duration_s: 2 }] }, [clip(1), clip(4)], size, 24), invalid)
    assert.throws(() => stitchGraph({ transitions: [{ type: 'crossfade', duration_s: 0.6 }, { type: 'crossfade', duration_s: 0.6 }] }, [clip(2), clip(1), clip(2)], size, 24), invalid)
  })
})
