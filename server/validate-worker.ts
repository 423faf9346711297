// Validation on a worker thread: `weft validate` of a pipeline sent as text, so that a large or deep document never
// holds the server's event loop. Returns plain diagnostics.
import { loadPipeline } from '../engine/dsl/load.ts'
import type { Diagnostic } from '../engine/errors.ts'

export interface ValidateJob {
  /** Where the text is checked as if it sat (its prompts resolve from there); it is not read. */
  file: string
  text: string
}

export default async function validate(job: ValidateJob): Promise<Diagnostic[]> {
  // plugins are never loaded from a request; nor is a prompts folder it names
  return (await loadPipeline(job.file, { text: job.text, plugins: false, promptsKey: false })).diagnostics
}
