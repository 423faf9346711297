import { describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { chmodSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, symlinkSync, utimesSync, writeFileSync } from 'node:fs'
import { tmpdir, userInfo } from 'node:os'
import path from 'node:path'
import { randomUUID } from 'node:crypto'
import { leaveCancelNote, takeCancelNote } from '../../cli/cancel-note.ts'

const notes = path.join(tmpdir(), `weft-notes-${userInfo().uid}`)
const noteOf = (runId: string) => readdirSync(notes).find((f) => f.includes(runId))

describe('the reason `weft cancel` leaves for the process it interrupts', () => {
  it('is read once by that process, for that run, and then gone', () => {
    const id = randomUUID()
    leaveCancelNote(process.pid, id, 'cancelled: wrong brief')
    assert.equal(takeCancelNote(randomUUID()), undefined, 'another run of this process has none')
    assert.equal(takeCancelNote(id), 'cancelled: wrong brief')
    assert.equal(noteOf(id), undefined, 'removed once read')
    assert.equal(takeCancelNote(id), undefined)
  })

  it('is not taken for the reason of a later interrupt once it is old (a cancel that gave up long ago)', () => {
    const id = randomUUID()
    leaveCancelNote(process.pid, id, 'cancelled: long ago')
    const file = path.join(notes, noteOf(id)!)
    const past = new Date(Date.now() - 5 * 60_000)
    utimesSync(file, past, past)
    assert.equal(takeCancelNote(id), undefined)
    assert.equal(existsSync(file), false, 'and removed')
  })

  it("is another process's when left for another pid", () => {
    const id = randomUUID()
    leaveCancelNote(process.pid + 1, id, 'cancelled: not mine')
    assert.equal(takeCancelNote(id), undefined)
    const file = path.join(notes, noteOf(id)!)
    assert.ok(existsSync(file))
    // tidy: as that process would
    rmSync(file)
  })

  /** Runs `fn` with the temporary folder moved to a fresh one (this process only). */
  function inFreshTmp(fn: (tmp: string) => void): void {
    const saved = process.env.TMPDIR
    const tmp = mkdtempSync(path.join(tmpdir(), 'weft-notes-test-'))
    process.env.TMPDIR = tmp
    try {
      fn(tmp)
    } finally {
      if (saved === undefined) delete process.env.TMPDIR
      else process.env.TMPDIR = saved
      rmSync(tmp, { recursive: true, force: true })
    }
  }

  it('is neither left nor read in a notes folder others may write to', () => {
    inFreshTmp((tmp) => {
      const dir = path.join(tmp, `weft-notes-${userInfo().uid}`)
      mkdirSync(dir)
      chmodSync(dir, 0o777)
      const id = randomUUID()
      assert.equal(leaveCancelNote(process.pid, id, 'cancelled: x'), false)
      writeFileSync(path.join(dir, `cancel-${process.pid}-${id}.txt`), 'cancelled: planted')
      assert.equal(takeCancelNote(id), undefined)
    })
  })

  it('is not read through a link (a note pointing at another file), and that file is left alone', () => {
    inFreshTmp((tmp) => {
      const id = randomUUID()
      assert.equal(leaveCancelNote(process.pid, randomUUID(), 'makes the folder'), true)
      const target = path.join(tmp, 'elsewhere.txt')
      writeFileSync(target, 'cancelled: not a note')
      symlinkSync(target, path.join(tmp, `weft-notes-${userInfo().uid}`, `cancel-${process.pid}-${id}.txt`))
      assert.equal(takeCancelNote(id), undefined)
      assert.equal(readFileSync(target, 'utf8'), 'cancelled: not a note')
    })
  })
})
