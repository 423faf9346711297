// Worker-thread side of the piscina executor: runs batches of node attempts concurrently, reports each
// result as soon as it is ready, honours cancellation and says which thread holds which tasks.
import { setPriority } from 'node:os'
import { parentPort, threadId, workerData } from 'node:worker_threads'
import { executeTask } from '../execute-task.ts'
import { toErrorInfo, WeftError, type ErrorInfo } from '../errors.ts'
import type { TaskOutcome } from '../ports.ts'
import { unpack, type Batch, type WorkerTask } from './worker-batch.ts'
import { createProviders, type ProviderSettings } from '../providers.ts'
import { enableTypeScript, fromSources } from '../runtime.ts'
import { BoardWriter, type Board } from './thread-board.ts'
import type { Providers } from '../node-def.ts'

export interface WorkerData {
  control: string
  /** The shared board of beats and claims (thread-board.ts). */
  board: Board
  /** Each thread builds its own model and media providers from these settings. */
  providers?: ProviderSettings
  /** Node modules may be TypeScript (sources, or `.ts` plugins). */
  typescript?: boolean
  /** Nice value for this thread (see PiscinaExecutorOptions.nice). */
  nice?: number
}
/** Main → workers, on the control channel: stop a task. */
export type ControlMessage = { cancel: number; reason: ErrorInfo }
/** Worker → main, through the pool's message event. */
export type WorkerMessage = { results: Array<[taskId: number, outcome: TaskOutcome]> } | { progress: unknown; taskId: number } | { started: number[]; threadId: number }
/** What a batch returns to piscina: results not sent yet, and the ids whose results went out as messages (tasks taken back are in neither). */
export interface BatchReturn {
  results: Array<[taskId: number, outcome: TaskOutcome]>
  posted: number[]
}

const data = workerData as WorkerData
// on Linux, pid 0 means the calling thread: only this worker (and what it spawns) gives way to the main thread
if (data.nice && process.platform === 'linux') {
  try {
    setPriority(0, data.nice)
  } catch {
    // not permitted here: the thread keeps the process's priority
  }
}
// from the sources the entry (piscina-boot.mjs) registered tsx already
if (data.typescript && !fromSources) await enableTypeScript()
// built on first use, once per thread
let providers: Promise<Providers> | undefined
function getProviders(): Promise<Providers> {
  if (!data.providers) return Promise.resolve({})
  providers ??= createProviders(data.providers)
  return providers
}
const board = new BoardWriter(data.board, threadId)
/**
 * The controllers of the tasks on this thread, by task id: a task taken back and sent again may come back to this
 * thread while its first copy is still here (that copy then loses its claim), so an id may have two for a while.
 */
const controllers = new Map<number, Set<AbortController>>()
// a cancel may overtake its task (they travel on different channels): remember recent ones
const early = new Map<number, ErrorInfo>()

const channel = new BroadcastChannel(data.control)
;(channel as unknown as { unref(): void }).unref()
channel.onmessage = (ev: MessageEvent) => {
  const msg = ev.data as ControlMessage
  const held = controllers.get(msg.cancel)
  if (held) for (const ac of held) ac.abort(WeftError.from(msg.reason))
  else {
    early.set(msg.cancel, msg.reason)
    if (early.size > 10_000) early.delete(early.keys().next().value!)
  }
}

// results finished in the same turn of the event loop travel together
let outbox: Array<[number, TaskOutcome]> = []
let flushQueued = false
function flush(): void {
  flushQueued = false
  if (outbox.length === 0) return
  const results = outbox
  outbox = []
  parentPort?.postMessage({ results } satisfies WorkerMessage)
}
function send(taskId: number, outcome: TaskOutcome): void {
  outbox.push([taskId, outcome])
  if (!flushQueued) {
    flushQueued = true
    setImmediate(flush)
  }
}

/** Runs one task; false when it was taken back before it started (another thread runs it). */
async function runOne(task: WorkerTask, token: number): Promise<boolean> {
  // a task starts only once it wins its claim: while tasks ahead of it kept this thread, the main thread may have given it to another
  const claim = (): boolean => {
    if (!token) {
      parentPort?.postMessage({ started: [task.taskId], threadId } satisfies WorkerMessage)
      return true
    }
    return board.claim(task.taskId, token)
  }
  const pre = early.get(task.taskId)
  if (pre) {
    if (!claim()) return false
    early.delete(task.taskId)
    send(task.taskId, { ok: false, error: pre })
    return true
  }
  const ac = new AbortController()
  let held = controllers.get(task.taskId)
  if (!held) controllers.set(task.taskId, (held = new Set()))
  held.add(ac)
  try {
    let provided: Providers
    try {
      provided = await getProviders()
    } catch (err) {
      providers = undefined
      if (!claim()) return false
      send(task.taskId, { ok: false, error: toErrorInfo(err, 'PROVIDER_CONFIG_INVALID') })
      return true
    }
    const outcome = await executeTask(task, {
      signal: ac.signal,
      emit: (progress) => parentPort?.postMessage({ progress, taskId: task.taskId } satisfies WorkerMessage),
      providers: provided,
      claim,
    })
    if (!outcome) return false
    send(task.taskId, outcome)
    return true
  } finally {
    // only this copy's: the other copy of the task, if any, keeps answering its cancel
    held.delete(ac)
    if (held.size === 0 && controllers.get(task.taskId) === held) controllers.delete(task.taskId)
  }
}

export default async function runBatch(batch: Batch): Promise<BatchReturn> {
  const tasks = unpack(batch)
  board.receive(tasks.map((t, i) => [t.taskId, batch.tokens[i]!] as const))
  let ran: boolean[]
  try {
    ran = await Promise.all(tasks.map((t, i) => runOne(t, batch.tokens[i]!)))
  } finally {
    board.done()
  }
  const mine = tasks.filter((_, i) => ran[i]).map((t) => t.taskId)
  // results of this batch still in the outbox ride back with the batch itself (one message, not two)
  const ids = new Set(mine)
  const results = outbox.filter(([id]) => ids.has(id))
  if (results.length) outbox = outbox.filter(([id]) => !ids.has(id))
  const returned = new Set(results.map(([id]) => id))
  return { results, posted: mine.filter((id) => !returned.has(id)) }
}
