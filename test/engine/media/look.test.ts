import { describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { fitText, hashString, motionFor, paletteColours, seededRandom, wrapText } from '../../../engine/media/look.ts'

describe('media/look', () => {
  it('maps camera directions to motions', () => {
    const cases: Array<[string | undefined, string]> = [
      ['slow push-in', 'zoom_in'],
      ['Zoom in on the can', 'zoom_in'],
      ['pull back to reveal', 'zoom_out'],
      ['pan left across the shelf', 'pan_left'],
      ['Pan right', 'pan_right'],
      ['tilt up to the sky', 'tilt_up'],
      ['crane down', 'tilt_down'],
      ['static wide shot', 'drift'],
      [undefined, 'drift'],
    ]
    for (const [camera, motion] of cases) assert.equal(motionFor(camera), motion, String(camera))
  })

  it('wraps text to width and line count, marking a cut with an ellipsis', () => {
    assert.deepEqual(wrapText('one two three four five', 9, 5), ['one two', 'three', 'four five'])
    assert.deepEqual(wrapText('one two three four five', 9, 2), ['one two', 'three…'])
    assert.deepEqual(wrapText('  tabs\tand\nnewlines  ', 40, 2), ['tabs and newlines'])
    assert.deepEqual(wrapText('', 10, 2), [])
    assert.ok(wrapText('a'.repeat(50), 10, 2).every((l) => l.length <= 10))
  })

  it('fits a whole text into a block by shrinking the font, and cuts only what cannot fit at the smallest size', () => {
    const scene =
      'The small corner café, bright, punchy midday light. Ines in copper by the espresso cup, Orbit Mug in hand. Marble and steamed milk foam textures, copper and yellow accents, 50mm lens, shallow depth of field.'
    const big = fitText('Short.', 550, 450, 27, 19)
    assert.deepEqual(big, { size: 27, lines: ['Short.'] })
    const fitted = fitText(scene, 550, 450, 27, 19)
    assert.ok(fitted.size <= 27 && fitted.size >= 19)
    assert.equal(fitted.lines.join(' '), scene, 'every word is shown')
    assert.ok(fitted.lines.length * fitted.size * 1.3 <= 450)
    const tight = fitText(scene.repeat(6), 550, 200, 27, 19)
    assert.equal(tight.size, 19)
    assert.ok(tight.lines.at(-1)!.endsWith('…'))
  })

  it('parses palettes, skips invalid and near-duplicate colours, and always yields four', () => {
    const c = paletteColours(['#ff0000', 'navy', '#fe0101', '#00f'], 0)
    assert.deepEqual(c.slice(0, 2), [
      { r: 255, g: 0, b: 0 },
      { r: 0, g: 0, b: 255 },
    ])
    assert.equal(c.length, 4)
    assert.equal(paletteColours(['#f1faee', '#f1faee', '#eef7eb'], 0).length, 4)
    assert.deepEqual(paletteColours(undefined, 3), paletteColours(['not a colour'], 3))
  })

  it('seeds deterministically', () => {
    assert.equal(hashString('weft'), hashString('weft'))
    assert.notEqual(hashString('weft'), hashString('weft '))
    const a = seededRandom(42)
    const b = seededRandom(42)
    const xs = [a(), a(), a()]
    assert.deepEqual(xs, [b(), b(), b()])
    assert.ok(xs.every((x) => x >= 0 && x < 1))
  })
})
