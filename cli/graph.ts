// `weft graph <file> [--format mermaid|dot|json]`: the pipeline's DAG.
import { formatDiagnostic } from '../engine/errors.ts'
import { loadPipeline } from '../engine/dsl/load.ts'
import { drawGraph, type GraphFormat } from '../engine/graph.ts'

export async function graphCommand(file: string, o: { format: GraphFormat }): Promise<number> {
  const { pipeline, diagnostics } = await loadPipeline(file)
  if (!pipeline) {
    for (const d of diagnostics) process.stderr.write(formatDiagnostic(d) + '\n')
    return 1
  }
  process.stdout.write(drawGraph(pipeline, o.format) + '\n')
  return 0
}
