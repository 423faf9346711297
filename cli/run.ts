// `weft run`: validates the pipeline and inputs, runs it with live progress, prints or returns the result.
import { readFile } from 'node:fs/promises'
import { parse as parseYaml } from 'yaml'
import { formatDiagnostic, type Diagnostic } from '../engine/errors.ts'
import { loadPipeline } from '../engine/dsl/load.ts'
import { resolveConfig, resolveRunInputs } from '../engine/inputs.ts'
import { runPipeline } from '../engine/run-loop.ts'
import { MemoryRunStore } from '../engine/adapters/memory-store.ts'
import { InlineExecutor } from '../engine/adapters/inline-executor.ts'
import { PiscinaExecutor } from '../engine/adapters/piscina-executor.ts'
import { AutoApprove } from '../engine/adapters/auto-decisions.ts'
import type { NodeExecutor, RunRecord } from '../engine/ports.ts'
import { createProgressSink } from './progress.ts'
import { isTypeScriptFile } from '../engine/runtime.ts'

export interface RunCommandOptions {
  input: string[]
  inputsFile?: string
  set: string[]
  out: string
  json?: boolean
  concurrency?: number
  executor: 'workers' | 'inline'
}

export const EXIT = { completed: 0, failed: 1, invalid: 2, cancelled: 130 } as const

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
  if (problems.length) return invalid(problems)
  if (o.concurrency !== undefined) pipeline.concurrency = o.concurrency

  const executor: NodeExecutor = o.executor === 'inline' ? new InlineExecutor() : new PiscinaExecutor({ typescript: pipeline.plugins.some(isTypeScriptFile) })
  const store = new MemoryRunStore()
  const cancel = new AbortController()
  const sink = o.json ? undefined : createProgressSink(pipeline, process.stderr.isTTY ? process.stderr : undefined)
  let interrupts = 0
  const onSigint = () => {
    interrupts++
    if (interrupts > 1) process.exit(EXIT.cancelled)
    sink?.note('cancelling… (Ctrl-C again to quit at once)')
    cancel.abort()
  }
  process.on('SIGINT', onSigint)
  let record: RunRecord
  try {
    record = await runPipeline({
      pipeline,
      inputs: inputs.inputs,
      config: config.config,
      executor,
      store,
      decisions: new AutoApprove(),
      signal: cancel.signal,
      workDir: o.out,
      ...(sink ? { events: sink } : {}),
      onStart: (id) => (o.json ? undefined : sink?.note(`run ${id}`)),
    })
  } finally {
    process.off('SIGINT', onSigint)
    sink?.close()
    await executor.close()
    await store.close()
  }
  if (o.json) process.stdout.write(JSON.stringify(record, null, 2) + '\n')
  else sink?.summary(record)
  return EXIT[record.status as keyof typeof EXIT] ?? EXIT.failed
}

function splitPair(pair: string): [string | undefined, string | undefined] {
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
