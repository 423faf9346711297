// `weft run`: validates the pipeline and inputs, runs it with live progress, prints or returns the result.
import { readFile } from 'node:fs/promises'
import { parse as parseYaml } from 'yaml'
import { formatDiagnostic, type Diagnostic } from '../engine/errors.ts'
import { loadPipeline } from '../engine/dsl/load.ts'
import { resolveConfig, resolveRunInputs } from '../engine/inputs.ts'
import { preflightDiagnostics } from '../engine/preflight.ts'
import { modelCatalogFromEnv } from '../engine/providers.ts'
import { drive, type DriveOptions } from './drive.ts'
import { EXIT } from './exit.ts'
import { withStore, type StoreKind } from './store.ts'
import type { Pipeline } from '../engine/dsl/pipeline.ts'
import { weftDataDir } from '../engine/adapters/open-store.ts'
import path from 'node:path'

export interface RunCommandOptions extends DriveOptions {
  input: string[]
  inputsFile?: string
  set: string[]
  store: StoreKind
  /** Record and enqueue the run for the fleet (Postgres), print its id, and return at once. */
  detach?: boolean
}

export async function runCommand(file: string, o: RunCommandOptions): Promise<number> {
  const { pipeline, diagnostics } = await loadPipeline(file)
  if (!pipeline) return invalid(diagnostics)

  const problems: Diagnostic[] = []
  let given: Record<string, unknown> = {}
  if (o.inputsFile) {
    try {
      const parsed = parseYaml(await readFile(o.inputsFile, 'utf8'), { maxAliasCount: 100 })
      if (parsed && typeof parsed === 'object' && !Array.isArray(parsed)) given = parsed as Record<string, unknown>
      else problems.push(cliProblem('INPUTS_FILE_INVALID', o.inputsFile, 'expected a JSON or YAML mapping of input names to values'))
    } catch (err) {
      problems.push(cliProblem('INPUTS_FILE_INVALID', o.inputsFile, `cannot read inputs file: ${(err as Error).message.split('\n')[0]}`))
    }
  }
  const fromText = new Set<string>()
  for (const pair of o.input) {
    const [k, v] = splitPair(pair)
    if (k === undefined) problems.push(cliProblem('INPUT_INVALID', '--input', `expected key=value, got "${pair}"`))
    else {
      given[k] = v
      fromText.add(k)
    }
  }
  const sets: Array<{ path: string; value: string }> = []
  for (const pair of o.set) {
    const [k, v] = splitPair(pair)
    if (k === undefined) problems.push(cliProblem('CONFIG_INVALID', '--set', `expected path=value, got "${pair}"`))
    else sets.push({ path: k, value: v! })
  }
  const inputs = resolveRunInputs(pipeline, given, { fromText, origin: o.inputsFile ?? '--input' })
  const config = resolveConfig(pipeline, sets)
  problems.push(...inputs.diagnostics, ...config.diagnostics)
  // the values as the nodes will get them, checked before the first one runs
  if (!problems.length) problems.push(...preflightDiagnostics(pipeline, inputs.inputs, config.config, modelCatalogFromEnv()))
  if (problems.length) return invalid(problems)
  if (o.detach) return detach(pipeline, inputs.inputs, config.config, o)
  return withStore(o.store, (store) => drive(pipeline, store, { inputs: inputs.inputs, config: config.config }, o))
}

export function splitPair(pair: string): [string | undefined, string | undefined] {
  const i = pair.indexOf('=')
  if (i <= 0) return [undefined, undefined]
  return [pair.slice(0, i).trim(), pair.slice(i + 1)]
}

function cliProblem(code: string, file: string, message: string): Diagnostic {
  return { code, message, file, line: 0, col: 0, path: '', severity: 'error' }
}

function invalid(diagnostics: Diagnostic[]): number {
  for (const d of diagnostics) process.stderr.write(formatDiagnostic(d) + '\n')
  return EXIT.invalid
}

/** `--detach`: the run is recorded and its first nodes enqueued in one transaction; workers (`weft worker`) do the rest. */
async function detach(pipeline: Pipeline, inputs: Record<string, unknown>, config: Record<string, unknown>, o: RunCommandOptions): Promise<number> {
  const url = process.env.DATABASE_URL
  if (!url) {
    process.stderr.write('error: --detach hands the run to `weft worker` processes through Postgres: set DATABASE_URL\n')
    return EXIT.invalid
  }
  if (o.store === 'memory') {
    process.stderr.write('error: --detach records the run in Postgres; it cannot use --store memory\n')
    return EXIT.invalid
  }
  if (o.cache === false) {
    process.stderr.write('error: --no-cache applies to runs this process drives; `weft worker` processes apply their own cache rule (start them with WEFT_CACHE=off, or mark nodes `cache: false`)\n')
    return EXIT.invalid
  }
  if (o.executor === 'inline') {
    process.stderr.write('error: --executor applies to runs this process drives; `weft worker` processes run the nodes of a detached run (start them with --executor inline)\n')
    return EXIT.invalid
  }
  if (o.decisions !== undefined) {
    process.stderr.write(
      "error: --decisions answers gates of a run this process drives; a detached run's gates are decided through the API of `weft serve` on the same database (add --interactive to make them wait)\n",
    )
    return EXIT.invalid
  }
  const { openFleet } = await import('../engine/adapters/open-fleet.ts')
  const { newRunRecord } = await import('../engine/fleet/new-run.ts')
  const opened = await openFleet(url, { max: 2 })
  try {
    if (o.concurrency !== undefined) process.stderr.write("note: --concurrency applies to runs driven by this process; a detached run keeps the pipeline's caps\n")
    const record = newRunRecord(pipeline, { inputs, config, interactive: o.interactive === true })
    await opened.fleet.submit(record, path.resolve(o.out ?? path.join(weftDataDir(), 'runs')))
    if (o.json) process.stdout.write(JSON.stringify({ id: record.id, status: record.status }) + '\n')
    else process.stdout.write(`${record.id}\n`)
    return EXIT.completed
  } finally {
    await opened.close()
  }
}
