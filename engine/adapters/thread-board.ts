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
const THREAD_SLOTS = 64
/** Tasks tracked at once; a task dispatched while its slot is taken runs untracked (it cannot be taken back). */
const TASK_SLOTS = 1 << 14
/** A thread's beat when it holds no task: free, whatever the clock says. */
const IDLE = 0

// layout: [owner threadId × THREAD_SLOTS][beat × THREAD_SLOTS][claim × TASK_SLOTS][holder × TASK_SLOTS]
const BEATS = THREAD_SLOTS
const CLAIMS = 2 * THREAD_SLOTS
const HOLDERS = CLAIMS + TASK_SLOTS

export interface Board {
  buffer: SharedArrayBuffer
  /** When it was made (Date.now()): beats count from here. */
  epoch: number
}

export function newBoard(): Board {
  return { buffer: new SharedArrayBuffer((CLAIMS + 2 * TASK_SLOTS) * 4), epoch: Date.now() }
}

/** Milliseconds since the board was made, in 32 bits: it wraps after 24 days, and differences stay right across the wrap. */
const since = (epoch: number, clock: () => number): number => (clock() - epoch) | 0
const slotOf = (taskId: number): number => taskId & (TASK_SLOTS - 1)

/** The main thread's view. */
export class BoardReader {
  readonly #cells: Int32Array
  readonly #epoch: number
  readonly #clock: () => number
  #tokens = 0

  /** `clock` gives Date.now() (tests pass their own). */
  constructor(board: Board, clock: () => number = Date.now) {
    this.#cells = new Int32Array(board.buffer)
    this.#epoch = board.epoch
    this.#clock = clock
  }

  /** True when the thread holds tasks and has not beaten for STALE_MS; unknown threads count as free. */
  blocked(threadId: number): boolean {
    const i = this.#threadSlot(threadId)
    if (i < 0) return false
    const beat = Atomics.load(this.#cells, BEATS + i)
    return beat !== IDLE && ((since(this.#epoch, this.#clock) - beat) | 0) > STALE_MS
  }

  /** A thread that is gone gives its slot back. */
  forget(threadId: number): void {
    const i = this.#threadSlot(threadId)
    if (i >= 0) Atomics.compareExchange(this.#cells, i, threadId, 0)
  }

  /** Puts a task on the board before it is sent: the token of this sending, or 0 when its slot is taken (the task then runs untracked). */
  dispatch(taskId: number): number {
    const s = slotOf(taskId)
    if (Atomics.load(this.#cells, CLAIMS + s) !== 0) return 0
    this.#tokens = (this.#tokens % 0x7fffffff) + 1
    Atomics.store(this.#cells, HOLDERS + s, 0)
    Atomics.store(this.#cells, CLAIMS + s, this.#tokens)
    return this.#tokens
  }

  /** Takes back a sending no thread has started: true when taken (the thread holding it will skip it). */
  revoke(taskId: number, token: number): boolean {
    return Atomics.compareExchange(this.#cells, CLAIMS + slotOf(taskId), token, 0) === token
  }

  /** The thread that received this sending, once one has. */
  holder(taskId: number, token: number): number | undefined {
    const s = slotOf(taskId)
    const claim = Atomics.load(this.#cells, CLAIMS + s)
    if (claim !== token && claim !== -token) return undefined
    return Atomics.load(this.#cells, HOLDERS + s) || undefined
  }

  started(taskId: number, token: number): boolean {
    return Atomics.load(this.#cells, CLAIMS + slotOf(taskId)) === -token
  }

  /** The task is over: its slot is free again. */
  release(taskId: number, token: number): void {
    const s = slotOf(taskId)
    if (Atomics.compareExchange(this.#cells, CLAIMS + s, -token, 0) !== -token) Atomics.compareExchange(this.#cells, CLAIMS + s, token, 0)
  }

  #threadSlot(threadId: number): number {
    for (let i = 0; i < THREAD_SLOTS; i++) if (Atomics.load(this.#cells, i) === threadId) return i
    return -1
  }
}

/** A worker thread's side: its beat, and the claims it makes before starting a task. */
export class BoardWriter {
  readonly #cells: Int32Array
  readonly #epoch: number
  readonly #clock: () => number
  readonly #threadId: number
  readonly #slot: number
  #busy = 0
  #idleBeats = 0
  #timer: NodeJS.Timeout | undefined

  constructor(board: Board, threadId: number, clock: () => number = Date.now) {
    this.#cells = new Int32Array(board.buffer)
    this.#epoch = board.epoch
    this.#clock = clock
    this.#threadId = threadId
    let slot = -1
    for (let i = 0; i < THREAD_SLOTS && slot < 0; i++) if (Atomics.compareExchange(this.#cells, i, 0, threadId) === 0) slot = i
    this.#slot = slot
    if (slot >= 0) Atomics.store(this.#cells, BEATS + slot, IDLE)
  }

  /** A batch arrived: beat while any is in hand, and note which sendings this thread holds (token 0: untracked). */
  receive(tasks: ReadonlyArray<readonly [taskId: number, token: number]>): void {
    for (const [id, token] of tasks) if (token && Atomics.load(this.#cells, CLAIMS + slotOf(id)) === token) Atomics.store(this.#cells, HOLDERS + slotOf(id), this.#threadId)
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
    Atomics.store(this.#cells, BEATS + this.#slot, IDLE)
  }

  /** Claims a sending right before it starts: false when it was taken back (another thread runs the task). */
  claim(taskId: number, token: number): boolean {
    return Atomics.compareExchange(this.#cells, CLAIMS + slotOf(taskId), token, -token) === token
  }

  #beat(): void {
    // never IDLE while busy
    Atomics.store(this.#cells, BEATS + this.#slot, since(this.#epoch, this.#clock) || 1)
  }
}
