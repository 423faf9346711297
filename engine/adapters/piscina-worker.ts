// Worker-thread side of the piscina executor: runs node attempts, honours cancellation, forwards progress.
import { parentPort, threadId, workerData } from 'node:worker_threads'
import { executeTask } from '../execute-task.ts'
import { WeftError, type ErrorInfo } from '../errors.ts'
import type { NodeTask, TaskOutcome } from '../ports.ts'

export interface WorkerTask extends NodeTask {
  taskId: number
}
export interface WorkerData {
  control: string
}
/** Main → workers, on the control channel: stop a task, or say which tasks you are running. */
export type ControlMessage = { cancel: number; reason: ErrorInfo } | { ping: number }
/** Worker → main, through the pool's message event. */
export type WorkerMessage = { progress: unknown; taskId: number } | { pong: number; threadId: number; tasks: number[] }

const data = workerData as WorkerData
const controllers = new Map<number, AbortController>()
// a cancel may overtake its task (they travel on different channels): remember recent ones
const early = new Map<number, ErrorInfo>()

const channel = new BroadcastChannel(data.control)
;(channel as unknown as { unref(): void }).unref()
channel.onmessage = (ev: MessageEvent) => {
  const msg = ev.data as ControlMessage
  if ('ping' in msg) {
    // a thread that cannot answer is blocked; the pool kills it when a task there must stop
    parentPort?.postMessage({ pong: msg.ping, threadId, tasks: [...controllers.keys()] } satisfies WorkerMessage)
    return
  }
  const ac = controllers.get(msg.cancel)
  if (ac) ac.abort(WeftError.from(msg.reason))
  else {
    early.set(msg.cancel, msg.reason)
    if (early.size > 10_000) early.delete(early.keys().next().value!)
  }
}

export default async function runTask(task: WorkerTask): Promise<TaskOutcome> {
  const pre = early.get(task.taskId)
  if (pre) {
    early.delete(task.taskId)
    return { ok: false, error: pre }
  }
  const ac = new AbortController()
  controllers.set(task.taskId, ac)
  try {
    return await executeTask(task, {
      signal: ac.signal,
      emit: (progress) => parentPort?.postMessage({ progress, taskId: task.taskId } satisfies WorkerMessage),
      providers: {},
    })
  } finally {
    controllers.delete(task.taskId)
  }
}
