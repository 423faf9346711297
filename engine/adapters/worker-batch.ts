// The wire format between the piscina executor and its workers: a run's tasks, shared fields sent once.
import type { NodeTask, Revision } from '../ports.ts'

export interface WorkerTask extends NodeTask {
  taskId: number
}
/** A batch as it travels: what its tasks share is sent once (cloning long strings per task is the main cost). */
export interface Batch {
  runId: string
  interactive: boolean
  workDir: string
  prompts: string[]
  modules: string[]
  tasks: Array<[taskId: number, nodeId: string, type: string, module: number, attempt: number, config: unknown, revision?: Revision]>
  /** Each task's token on the thread board (thread-board.ts), in order; 0: not on the board (it starts without a claim). */
  tokens: number[]
}

/** Packs tasks of one run into a Batch. */
export function pack(tasks: WorkerTask[], tokens: number[] = tasks.map(() => 0)): Batch {
  const first = tasks[0]!
  const modules: string[] = []
  const index = new Map<string, number>()
  const packed: Batch['tasks'] = tasks.map((t) => {
    let m = index.get(t.module)
    if (m === undefined) {
      m = modules.push(t.module) - 1
      index.set(t.module, m)
    }
    return t.revision ? [t.taskId, t.nodeId, t.type, m, t.attempt, t.config, t.revision] : [t.taskId, t.nodeId, t.type, m, t.attempt, t.config]
  })
  return { runId: first.runId, interactive: first.run.interactive, workDir: first.workDir, prompts: first.prompts, modules, tasks: packed, tokens }
}

/** Unpacks a Batch on the worker side. */
export function unpack(b: Batch): WorkerTask[] {
  const run = { id: b.runId, interactive: b.interactive }
  return b.tasks.map(([taskId, nodeId, type, m, attempt, config, revision]) => ({
    taskId,
    nodeId,
    type,
    attempt,
    config,
    run,
    runId: b.runId,
    workDir: b.workDir,
    prompts: b.prompts,
    module: b.modules[m]!,
    idempotencyKey: `${b.runId}:${nodeId}:${attempt}${revision ? `:r${revision.round}` : ''}`,
    ...(revision ? { revision } : {}),
  }))
}
