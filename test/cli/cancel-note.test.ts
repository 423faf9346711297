import { describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { existsSync, readdirSync, rmSync, utimesSync } from 'node:fs'
import { tmpdir } from 'node:os'
import path from 'node:path'
import { randomUUID } from 'node:crypto'
import { leaveCancelNote, takeCancelNote } from '../../cli/cancel-note.ts'

const noteOf = (runId: string) => readdirSync(tmpdir()).find((f) => f.includes(runId))

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
    const file = path.join(tmpdir(), noteOf(id)!)
    const past = new Date(Date.now() - 5 * 60_000)
    utimesSync(file, past, past)
    assert.equal(takeCancelNote(id), undefined)
    assert.equal(existsSync(file), false, 'and removed')
  })

  it("is another process's when left for another pid", () => {
    const id = randomUUID()
    leaveCancelNote(process.pid + 1, id, 'cancelled: not mine')
    assert.equal(takeCancelNote(id), undefined)
    const file = path.join(tmpdir(), noteOf(id)!)
    assert.ok(existsSync(file))
    // tidy: as that process would
    rmSync(file)
  })
})
