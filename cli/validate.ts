// `weft validate <file> [--json]`: every problem in a pipeline, with its position.
import { formatDiagnostic } from '../engine/errors.ts'
import { loadPipeline } from '../engine/dsl/load.ts'

export async function validateCommand(file: string, o: { json?: boolean }): Promise<number> {
  const { diagnostics } = await loadPipeline(file)
  const valid = !diagnostics.some((d) => d.severity === 'error')
  if (o.json) process.stdout.write(JSON.stringify({ valid, diagnostics }, null, 2) + '\n')
  else {
    for (const d of diagnostics) process.stderr.write(formatDiagnostic(d) + '\n')
    const errors = diagnostics.filter((d) => d.severity === 'error').length
    if (valid) process.stdout.write(`${file}: valid${diagnostics.length ? ` (${diagnostics.length} warning${diagnostics.length === 1 ? '' : 's'})` : ''}\n`)
    else process.stderr.write(`${file}: ${errors} problem${errors === 1 ? '' : 's'}\n`)
  }
  return valid ? 0 : 1
}
