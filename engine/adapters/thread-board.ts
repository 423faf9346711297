// Shared memory between the piscina executor and its threads: which threads are free, and which task
// each thread has started. A thread whose event loop is blocked (a node spinning on the CPU) cannot
// answer messages, but the main thread can still read this board: a thread that is busy beats every few
// milliseconds, so a stale beat means a blocked thread. Its tasks that have not started yet are taken
// back and given to a free thread; a task starts only after winning its claim, so it starts once.
// Each sending of a task has its own token: a copy sent earlier and taken back can never win the claim.

/** How often a thread with tasks writes its beat. */
const BEAT_MS = 10
/** A beat older than this marks the thread as blocked. */
export const STALE_MS = 50
/** Tasks tracked at once; a task dispatched while its slot is taken runs untracked (it cannot be taken back). */
const TASK_SLOTS = 1 << 14
/** A thread's beat when it holds no task: free, whatever the clock says. */
const IDLE = 0

// layout: [owner threadId × threads][beat × threads][claim × TASK_SLOTS][holder × TASK_SLOTS]
export interface Board {
  buffer: SharedArrayBuffer
  /** How many threads it has room for (twice the pool: a thread replaced keeps its slot until it is freed). */
  threads: number
  /** When it was made (monotonic milliseconds): beats count from here. */
  epoch: number
}

/** Milliseconds on the monotonic clock, the same in every thread of the process (wall-clock jumps do not move it). */
const monotonicMs = (): number => Number(process.hrtime.bigint() / 1_000_000n)

export function newBoard(threads: number): Board {
  const slots = Math.max(8, 2 * threads)
  return { buffer: new SharedArrayBuffer((2 * slots + 2 * TASK_SLOTS) * 4), threads: slots, epoch: monotonicMs() }
}

/** Where each part of the board starts. */
function layout(board: Board) {
  const beats = board.threads
  const claims = 2 * board.threads
  return { beats, claims, holders: claims + TASK_SLOTS }
}

/** Milliseconds since the board was made, in 32 bits: it wraps after 24 days, and differences stay right across the wrap. */
const since = (epoch: number, clock: () => number): number => (clock() - epoch) | 0
const slotOf = (taskId: number): number => taskId & (TASK_SLOTS - 1)

/** The main thread's view. */
export class BoardReader {
  readonly #cells: Int32Array
  readonly #epoch: number
  readonly #clock: () => number
  readonly #threads: number
  readonly #at: ReturnType<typeof layout>
  #tokens = 0

  /** `clock` gives monotonic milliseconds (tests pass their own). */
  constructor(board: Board, clock: () => number = monotonicMs) {
    this.#cells = new Int32Array(board.buffer)
    this.#epoch = board.epoch
    this.#clock = clock
    this.#threads = board.threads
    this.#at = layout(board)
  }

  /** True when the thread holds tasks and has not beaten for STALE_MS; unknown threads count as free. */
  blocked(threadId: number): boolean {
    const i = this.#threadSlot(threadId)
    if (i < 0) return false
    const beat = Atomics.load(this.#cells, this.#at.beats + i)
    return beat !== IDLE && ((since(this.#epoch, this.#clock) - beat) | 0) > STALE_MS
  }

  /** Threads that are gone give their slots back: every slot whose owner is not among `live`. */
  retain(live: ReadonlySet<number>): void {
    for (let i = 0; i < this.#threads; i++) {
      const owner = Atomics.load(this.#cells, i)
      if (owner !== 0 && !live.has(owner)) Atomics.compareExchange(this.#cells, i, owner, 0)
    }
  }

  /** Puts a task on the board before it is sent: the token of this sending, or 0 when its slot is taken (the task then runs untracked). */
  dispatch(taskId: number): number {
    const s = slotOf(taskId)
    if (Atomics.load(this.#cells, this.#at.claims + s) !== 0) return 0
    this.#tokens = (this.#tokens % 0x7fffffff) + 1
    Atomics.store(this.#cells, this.#at.holders + s, 0)
    Atomics.store(this.#cells, this.#at.claims + s, this.#tokens)
    return this.#tokens
  }

  /** Takes back a sending no thread has started: true when taken (the thread holding it will skip it). */
  revoke(taskId: number, token: number): boolean {
    return Atomics.compareExchange(this.#cells, this.#at.claims + slotOf(taskId), token, 0) === token
  }

  /** The thread that received this sending, once one has. */
  holder(taskId: number, token: number): number | undefined {
    const s = slotOf(taskId)
    const claim = Atomics.load(this.#cells, this.#at.claims + s)
    if (claim !== token && claim !== -token) return undefined
    return Atomics.load(this.#cells, this.#at.holders + s) || undefined
  }

  started(taskId: number, token: number): boolean {
    return Atomics.load(this.#cells, this.#at.claims + slotOf(taskId)) === -token
  }

  /** The task is over: its slot is free again. */
  release(taskId: number, token: number): void {
    const s = slotOf(taskId)
    if (Atomics.compareExchange(this.#cells, this.#at.claims + s, -token, 0) !== -token) Atomics.compareExchange(this.#cells, this.#at.claims + s, token, 0)
  }

  #threadSlot(threadId: number): number {
    for (let i = 0; i < this.#threads; i++) if (Atomics.load(this.#cells, i) === threadId) return i
    return -1
  }
}

/** A worker thread's side: its beat, and the claims it makes before starting a task. */
export class BoardWriter {
  readonly #cells: Int32Array
  readonly #epoch: number
  readonly #clock: () => number
  readonly #at: ReturnType<typeof layout>
  readonly #threadId: number
  readonly #slot: number
  #busy = 0
  #idleBeats = 0
  #timer: NodeJS.Timeout | undefined

  constructor(board: Board, threadId: number, clock: () => number = monotonicMs) {
    this.#cells = new Int32Array(board.buffer)
    this.#epoch = board.epoch
    this.#clock = clock
    this.#at = layout(board)
    this.#threadId = threadId
    let slot = -1
    for (let i = 0; i < board.threads && slot < 0; i++) if (Atomics.compareExchange(this.#cells, i, 0, threadId) === 0) slot = i
    this.#slot = slot
    if (slot >= 0) Atomics.store(this.#cells, this.#at.beats + slot, IDLE)
  }

  /** A batch arrived: beat while any is in hand, and note which sendings this thread holds (token 0: untracked). */
  receive(tasks: ReadonlyArray<readonly [taskId: number, token: number]>): void {
    for (const [id, token] of tasks) if (token && Atomics.load(this.#cells, this.#at.claims + slotOf(id)) === token) Atomics.store(this.#cells, this.#at.holders + slotOf(id), this.#threadId)
    if (this.#busy++ > 0 || this.#slot < 0) return
    this.#beat()
    // the timer outlives short idle spells (a chain of quick nodes would otherwise make one per node)
    this.#idleBeats = 0
    this.#timer ??= setInterval(() => {
      if (this.#busy > 0) return this.#beat()
      if (++this.#idleBeats * BEAT_MS < 1000) return
      clearInterval(this.#timer)
      this.#timer = undefined
    }, BEAT_MS).unref()
  }

  /** A batch is over. */
  done(): void {
    if (--this.#busy > 0 || this.#slot < 0) return
    Atomics.store(this.#cells, this.#at.beats + this.#slot, IDLE)
  }

  /** Claims a sending right before it starts: false when it was taken back (another thread runs the task). */
  claim(taskId: number, token: number): boolean {
    return Atomics.compareExchange(this.#cells, this.#at.claims + slotOf(taskId), token, -token) === token
  }

  #beat(): void {
    // never IDLE while busy
    Atomics.store(this.#cells, this.#at.beats + this.#slot, since(this.#epoch, this.#clock) || 1)
  }
}
