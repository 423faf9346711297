// What a piece of a node's work was asked to do, as one string: a resumed run reuses a recorded result only for the same request.
import { createHash } from 'node:crypto'
import type { TaskSpec } from './state.ts'

/**
 * The digest of a task's request: its type, its config and the revision it answers (round and feedback). What only
 * places or reports it (its workDir, its progress fields, its budget) is left out.
 */
export function taskPrint(spec: TaskSpec): string {
  const request = [spec.type, spec.config ?? null, spec.revision ? [spec.revision.round, spec.revision.feedback] : null, spec.round ?? null]
  return createHash('sha256').update(JSON.stringify(request)).digest('base64url')
}
