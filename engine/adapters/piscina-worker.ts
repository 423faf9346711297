// Worker-thread side of the piscina executor: runs node attempts, honours cancellation, forwards progress.
import { parentPort, threadId, workerData } from 'node:worker_threads'
import { executeTask } from '../execute-task.ts'
import { WeftError, type ErrorInfo } from '../errors.ts'
import type { NodeTask, TaskOutcome } from '../ports.ts'

export interface WorkerTask extends NodeTask {
  taskId: number
}
export interface WorkerData {
  cancelChannel: string
}
export interface CancelMessage {
  taskId: number
  reason: ErrorInfo
}
export interface ProgressMessage {
  weftProgress: number
  progress: unknown
}
/** Sent when a task starts, so the pool can find (and if need be kill) the thread running it. */
export interface StartedMessage {
  weftStarted: number
  threadId: number
}

const data = workerData as WorkerData
const controllers = new Map<number, AbortController>()
// a cancel may overtake its task (they travel on different channels): remember recent ones
const early = new Map<number, ErrorInfo>()

const channel = new BroadcastChannel(data.cancelChannel)
;(channel as unknown as { unref(): void }).unref()
channel.onmessage = (ev: MessageEvent) => {
  const msg = ev.data as CancelMessage
  const ac = controllers.get(msg.taskId)
  if (ac) ac.abort(WeftError.from(msg.reason))
  else {
    early.set(msg.taskId, msg.reason)
    if (early.size > 10_000) early.delete(early.keys().next().value!)
  }
}

export default async function runTask(task: WorkerTask): Promise<TaskOutcome> {
  const ac = new AbortController()
  const pre = early.get(task.taskId)
  if (pre) {
    early.delete(task.taskId)
    return { ok: false, error: pre }
  }
  controllers.set(task.taskId, ac)
  parentPort?.postMessage({ weftStarted: task.taskId, threadId } satisfies StartedMessage)
  try {
    return await executeTask(task, {
      signal: ac.signal,
      emit: (progress) => parentPort?.postMessage({ weftProgress: task.taskId, progress } satisfies ProgressMessage),
      providers: {},
    })
  } finally {
    controllers.delete(task.taskId)
  }
}
