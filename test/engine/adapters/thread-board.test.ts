import { describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { BoardReader, BoardWriter, newBoard, STALE_MS } from '../../../engine/adapters/thread-board.ts'

describe('thread board', () => {
  const setup = () => {
    const board = newBoard(2)
    let t = board.epoch + 1000
    const clock = () => t
    return { main: new BoardReader(board, clock), board, clock, advance: (ms: number) => (t += ms) }
  }

  it('a thread is blocked when it holds tasks and its beat is older than the limit; idle and unknown threads are free', () => {
    const { main, board, clock, advance } = setup()
    assert.equal(main.blocked(7), false, 'unknown')
    const w = new BoardWriter(board, 7, clock)
    advance(10 * STALE_MS)
    assert.equal(main.blocked(7), false, 'idle, however long')
    w.receive([[1, main.dispatch(1)]])
    advance(STALE_MS)
    assert.equal(main.blocked(7), false, 'beat just within the limit')
    advance(1)
    assert.equal(main.blocked(7), true)
    w.done()
    assert.equal(main.blocked(7), false, 'done with its batch')
  })

  it('a task starts once: the claim and the taking back exclude each other, and a copy taken back never starts', () => {
    const { main, board, clock } = setup()
    const a = new BoardWriter(board, 1, clock)
    const b = new BoardWriter(board, 2, clock)
    const first = main.dispatch(5)
    assert.ok(first > 0)
    a.receive([[5, first]])
    assert.equal(main.holder(5, first), 1)
    assert.equal(main.started(5, first), false)
    // taken back from thread 1, sent to thread 2
    assert.equal(main.revoke(5, first), true)
    const second = main.dispatch(5)
    assert.notEqual(second, first)
    b.receive([[5, second]])
    assert.equal(main.holder(5, second), 2)
    assert.equal(main.holder(5, first), undefined)
    assert.equal(a.claim(5, first), false, 'the first thread wakes up and must skip it')
    assert.equal(b.claim(5, second), true)
    assert.equal(main.started(5, second), true)
    assert.equal(main.revoke(5, second), false, 'a started task cannot be taken back')
    assert.equal(b.claim(5, second), false, 'nor started twice')
    main.release(5, second)
    assert.equal(main.holder(5, second), undefined)
    a.done()
    b.done()
  })

  it('a task whose slot is taken is not on the board, and a task released frees its slot', () => {
    const { main } = setup()
    const token = main.dispatch(3)
    assert.ok(token > 0)
    assert.equal(main.dispatch(3 + (1 << 14)), 0, 'same slot, still in use')
    main.release(3, token)
    assert.ok(main.dispatch(3 + (1 << 14)) > 0)
  })

  it('a thread that is gone gives its slot back: every slot whose owner is not alive', () => {
    const { main, board, clock, advance } = setup()
    const w = new BoardWriter(board, 9, clock)
    w.receive([[1, main.dispatch(1)]])
    advance(STALE_MS + 1)
    assert.equal(main.blocked(9), true)
    main.retain(new Set([3]))
    assert.equal(main.blocked(9), false)
    w.done()
  })
})
