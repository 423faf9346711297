import { describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { stitchGraph } from '../../../engine/media/stitch-graph.ts'

const size = { width: 320, height: 180 }
const clip = (duration_s: number, has_audio = true) => ({ duration_s, has_audio })

describe('media/stitch-graph', () => {
  it('places clips frame-exactly: crossfades overlap, fades and cuts do not', () => {
    const g = stitchGraph(
      {
        transitions: [
          { type: 'crossfade', duration_s: 0.5 },
          { type: 'fade', duration_s: 0.8 },
          { type: 'cut', duration_s: 0 },
        ],
      },
      [clip(4), clip(6), clip(6), clip(8)],
      size,
      24,
    )
    assert.deepEqual(g.frames, [96, 144, 144, 192])
    assert.deepEqual(g.starts, [0, 84, 228, 372])
    assert.equal(g.totalFrames, 564)
    assert.equal(g.duration_s, 23.5)
  })

  it("joins segments in order: each clip's own frames, and a crossfade only over the overlap", () => {
    const g = stitchGraph(
      {
        transitions: [
          { type: 'crossfade', duration_s: 0.5 },
          { type: 'fade', duration_s: 0.8 },
          { type: 'cut', duration_s: 0 },
        ],
      },
      [clip(4), clip(6), clip(6), clip(8)],
      size,
      24,
    )
    assert.deepEqual(g.segments, [
      { kind: 'clip', clip: 0, from: 0, frames: 84 },
      { kind: 'crossfade', clip: 0, frames: 12 },
      { kind: 'clip', clip: 1, from: 12, frames: 132 },
      { kind: 'clip', clip: 2, from: 0, frames: 144 },
      { kind: 'clip', clip: 3, from: 0, frames: 192 },
    ])
    assert.equal(
      g.segments.reduce((s, x) => s + x.frames, 0),
      g.totalFrames,
    )
    // one overlay, of clip 1's head on clip 0's tail (no full-length canvas under every clip); each input is read once
    assert.deepEqual(g.filter.match(/\[\w+\]\[\w+\]overlay=/g), ['[t0][h1]overlay='])
    for (let i = 0; i < 4; i++) assert.equal(g.filter.split(`[${i}:v]`).length, 2)
    // the fade through black: clip 1 fades out over its last 9 frames, clip 2 in over its first 10
    assert.ok(g.filter.includes('fade=t=out:s=135:n=9'))
    assert.ok(g.filter.includes('fade=t=in:s=0:n=10'))
    assert.ok(g.filter.includes('concat=n=5:v=1:a=0'))
  })

  it('leaves no own segment to a clip its crossfades cover, and numbers frames so a one-frame segment keeps its slot', () => {
    const cross = (frames: number) => ({ type: 'crossfade' as const, duration_s: frames / 24 })
    const covered = stitchGraph({ transitions: [cross(24), cross(24)] }, [clip(2), clip(2), clip(2)], size, 24)
    assert.deepEqual(
      covered.segments.map((s) => [s.kind, s.clip, s.frames]),
      [
        ['clip', 0, 24],
        ['crossfade', 0, 24],
        ['crossfade', 1, 24],
        ['clip', 2, 24],
      ],
    )
    assert.equal(covered.totalFrames, 96)
    const single = stitchGraph({ transitions: [cross(24), cross(23)] }, [clip(2), clip(2), clip(2)], size, 24)
    assert.deepEqual(single.segments[2], { kind: 'clip', clip: 1, from: 24, frames: 1 })
    assert.ok(single.filter.includes('setpts=N/(24*TB)'))
  })

  it('passes a lone clip through without split, overlay or joining segments', () => {
    const g = stitchGraph({ transitions: [], fade_s: 0.5 }, [clip(2)], size, 24)
    assert.deepEqual(g.segments, [{ kind: 'clip', clip: 0, from: 0, frames: 48 }])
    assert.ok(!/split|overlay/.test(g.filter))
    // the one concat pads the clip with black, should it end before its probed duration
    assert.deepEqual(g.filter.match(/concat=n=\d+:v=1/g), ['concat=n=2:v=1'])
    assert.ok(g.filter.includes('fade=t=in:s=0:n=12,fade=t=out:s=36:n=12'))
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
    assert.throws(
      () =>
        stitchGraph(
          {
            transitions: [
              { type: 'crossfade', duration_s: 0.6 },
              { type: 'crossfade', duration_s: 0.6 },
            ],
          },
          [clip(2), clip(1), clip(2)],
          size,
          24,
        ),
      invalid,
    )
  })
})
