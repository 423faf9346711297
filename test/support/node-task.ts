// Runs one built-in node type through executeTask (config checked as in a run), with given providers.
import { tmpdir } from 'node:os'
import path from 'node:path'
import { pathToFileURL } from 'node:url'
import { executeTask } from '../../engine/execute-task.ts'
import type { Progress, Providers } from '../../engine/node-def.ts'
import type { Revision, TaskOutcome } from '../../engine/ports.ts'
import { fixtures } from '../helpers.ts'

export const builtinModule = pathToFileURL(path.resolve(import.meta.dirname, '../../nodes/index.ts')).href
export const testPrompts = path.join(fixtures, 'prompts')

export async function runNode(
  type: string,
  config: Record<string, unknown>,
  opts: { providers?: Providers; revision?: Revision; workDir?: string; signal?: AbortSignal; prompts?: string[] } = {},
): Promise<TaskOutcome & { progress: Progress[] }> {
  const progress: Progress[] = []
  const outcome = await executeTask(
    {
      runId: 'run-1',
      nodeId: 'n',
      type,
      module: builtinModule,
      attempt: 1,
      config,
      run: { id: 'run-1', interactive: false },
      idempotencyKey: 'run-1:n:1',
      workDir: opts.workDir ?? path.join(tmpdir(), 'weft-node-tests'),
      prompts: opts.prompts ?? [testPrompts],
      ...(opts.revision ? { revision: opts.revision } : {}),
    },
    { signal: opts.signal ?? new AbortController().signal, emit: (p) => progress.push(p), providers: opts.providers ?? {} },
  )
  return { ...outcome, progress }
}
