// `weft run`: validates the pipeline and inputs, runs it with live progress, prints or returns the result.
import { readFile } from 'node:fs/promises'
import { parse as parseYaml } from 'yaml'
import { formatDiagnostic, type Diagnostic } from '../engine/errors.ts'
import { loadPipeline } from '../engine/dsl/load.ts'
import { resolveConfig, resolveRunInputs } from '../engine/inputs.ts'
import { preflightDiagnostics } from '../engine/preflight.ts'
import { modelCatalogFromEnv } from '../engine/providers.ts'
import { drive, type DriveOptions } from './drive.ts'
import { detach } from './detach.ts'
import { EXIT } from './exit.ts'
import { withStore, type StoreKind } from './store.ts'

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
  if (o.detach) return detach(pipeline, { inputs: inputs.inputs, config: config.config, interactive: o.interactive === true }, o)
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
