// A file's version read at most once per window, on virtual time.
import { describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { mkdirSync, mkdtempSync, rmSync, utimesSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import path from 'node:path'
import { manualClock } from '../helpers.ts'
import { fileVersions } from '../../engine/file-versions.ts'

describe('fileVersions', () => {
  it('reads a file again only once its last read is older than the window', async () => {
    const dir = mkdtempSync(path.join(tmpdir(), 'weft-versions-'))
    const file = path.join(dir, 'p.yaml')
    writeFileSync(file, 'a')
    utimesSync(file, 1000, 1000)
    const clock = manualClock()
    const version = fileVersions({ freshMs: 1000, clock })
    assert.equal(await version(file), 1_000_000)
    utimesSync(file, 2000, 2000)
    clock.advance(999)
    assert.equal(await version(file), 1_000_000, 'within the window: the version read before')
    clock.advance(2)
    assert.equal(await version(file), 2_000_000, 'past it: read again')
    rmSync(file)
    clock.advance(1001)
    assert.equal(await version(file), undefined, 'a file gone has no version')
    mkdirSync(file)
    clock.advance(1001)
    assert.equal(await version(file), undefined, 'nor has a folder')
  })

  it('does not remember a file found missing, and reads one now when asked to recheck', async () => {
    const dir = mkdtempSync(path.join(tmpdir(), 'weft-versions-'))
    const file = path.join(dir, 'p.yaml')
    const version = fileVersions({ freshMs: 1000, clock: manualClock() })
    assert.equal(await version(file), undefined)
    writeFileSync(file, 'a')
    utimesSync(file, 1000, 1000)
    assert.equal(await version(file), 1_000_000, 'created right after a miss: seen at once')
    utimesSync(file, 2000, 2000)
    assert.equal(await version(file), 1_000_000)
    assert.equal(await version(file, { recheck: true }), 2_000_000, 'recheck: read now')
    assert.equal(await version(file), 2_000_000, 'and kept')
  })
})
