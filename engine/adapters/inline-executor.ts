// NodeExecutor that runs nodes on the calling thread: no isolation, no hard kill (a timeout only aborts the signal).
import { executeTask } from '../execute-task.ts'
import type { Providers } from '../node-def.ts'
import type { NodeExecutor, NodeTask, TaskOutcome } from '../ports.ts'
import type { Progress } from '../node-def.ts'

export class InlineExecutor implements NodeExecutor {
  constructor(private readonly providers: Providers = {}) {}

  async execute(task: NodeTask, opts: { signal: AbortSignal; onProgress: (p: Progress) => void }): Promise<TaskOutcome> {
    // copy the config as a worker would receive it, so inline and worker runs behave alike
    return executeTask({ ...task, config: structuredClone(task.config) }, { signal: opts.signal, emit: opts.onProgress, providers: this.providers })
  }

  async close(): Promise<void> {}
}
