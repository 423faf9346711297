import { describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { audioBed, audioBedFilter } from '../../../engine/media/audio-bed.ts'

describe('audio bed', () => {
  const palette = ['#b8703f', '#f5d547', '#1f2f5c']
  const scenes = ['A café at noon.', 'The mug steams.', 'Ines smiles.', 'The end card.', 'Jo takes a sip.', 'Rain outside.']

  it('plays every scene of one ad in one key, on chords of one progression', () => {
    const beds = scenes.map((s) => audioBed(palette, s))
    assert.equal(new Set(beds.map((b) => b.key)).size, 1)
    assert.equal(new Set(beds.map((b) => b.bpm)).size, 1)
    for (const b of beds) {
      assert.equal(b.notes.length, 4)
      // the bass is the chord's root an octave down, and the chord is a triad above it
      assert.ok(Math.abs(b.notes[1]! / b.notes[0]! - 2) < 1e-9)
      assert.ok(Math.abs(b.notes[3]! / b.notes[1]! - 2 ** (7 / 12)) < 1e-9)
    }
    assert.ok(new Set(beds.map((b) => b.notes[1]!.toFixed(2))).size > 1, 'scenes differ in chord')
    assert.deepEqual(audioBed(palette, scenes[0]!), audioBed(palette, scenes[0]!), 'the same request plays the same bed')
    assert.notEqual(audioBed(['#2f6fd1'], scenes[0]!).key, undefined)
  })

  it("is a stereo chain of exactly the clip's samples, faded at both ends, labelled [a]", () => {
    const f = audioBedFilter(audioBed(palette, scenes[0]!), 96_000)
    assert.match(f, /^aevalsrc=exprs=.*:s=48000:c=stereo:d=2\.0000,/)
    assert.match(f, /afade=t=in:st=0:d=0\.500,afade=t=out:st=1\.500:d=0\.500/)
    assert.match(f, /atrim=end_sample=96000\[a\]$/)
  })
})
