// Shared test helpers: pipelines from inline YAML, runs on chosen executors, a virtual clock.
import { mkdtempSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import path from 'node:path'
import { fileURLToPath } from 'node:url'
import { loadPipeline, type LoadResult } from '../engine/dsl/load.ts'
import type { Pipeline } from '../engine/dsl/pipeline.ts'
import { resolveConfig, resolveRunInputs } from '../engine/inputs.ts'
import { runPipeline, type RunOptions } from '../engine/run-pipeline.ts'
import { MemoryRunStore } from '../engine/adapters/memory-store.ts'
import { InlineExecutor } from '../engine/adapters/inline-executor.ts'
import type { Clock } from '../engine/clock.ts'
import type { RunEvent, RunRecord } from '../engine/ports.ts'

export const fixtures = path.join(path.dirname(fileURLToPath(import.meta.url)), 'fixtures')
export const workPlugin = path.join(fixtures, 'plugins', 'work.mjs')

/**
 * The folders the tests' pipelines take plugins from besides their own: the fixture plugins, and the benches' node
 * types. `npm test` sets WEFT_PLUGIN_DIRS to them; a test file run alone gets them here (its `weft` children too).
 */
export const testPluginDirs = [path.join(fixtures, 'plugins'), path.join(fixtures, '..', '..', 'bench', 'nodes')]
process.env.WEFT_PLUGIN_DIRS ??= testPluginDirs.join(path.delimiter)

/** Writes YAML to a temp file (so `plugins:` paths resolve) and loads it. `$WORK` names the work plugin. */
export async function load(yaml: string, name = 'pipeline.yaml'): Promise<LoadResult> {
  const dir = mkdtempSync(path.join(tmpdir(), 'weft-test-'))
  const file = path.join(dir, name)
  writeFileSync(file, yaml.replaceAll('$WORK', workPlugin).replaceAll('$FIXTURES', fixtures))
  return loadPipeline(file)
}

export async function pipeline(yaml: string): Promise<Pipeline> {
  const res = await load(yaml)
  if (!res.pipeline) throw new Error('pipeline invalid:\n' + res.diagnostics.map((d) => `${d.line}:${d.col} ${d.code} ${d.message}`).join('\n'))
  return res.pipeline
}

export interface TestRun {
  record: RunRecord
  events: RunEvent[]
  store: MemoryRunStore
}

/** Runs a pipeline (inline executor unless given) and collects its events. */
export async function run(p: Pipeline, opts: Partial<RunOptions> & { given?: Record<string, unknown> } = {}): Promise<TestRun> {
  const events: RunEvent[] = []
  const store = new MemoryRunStore()
  const inputs = resolveRunInputs(p, opts.given ?? {})
  if (inputs.diagnostics.length) throw new Error(inputs.diagnostics.map((d) => d.message).join('\n'))
  const record = await runPipeline({
    pipeline: p,
    inputs: inputs.inputs,
    config: resolveConfig(p, []).config,
    executor: opts.executor ?? new InlineExecutor(),
    store,
    events: { emit: (e) => events.push(e) },
    workDir: path.join(tmpdir(), 'weft-test-runs'),
    ...opts,
  })
  return { record, events, store }
}

/**
 * A clock whose time only moves when the test advances it; `autoAdvance` jumps to the next timer
 * whenever the process is otherwise idle, so backoff waits take no real time.
 */
export function virtualClock(start = Date.parse('2026-01-01T00:00:00.000Z')): Clock & { waits: number[]; t: number } {
  const timers: Array<{ at: number; fn: () => void; id: number }> = []
  let nextId = 0
  const clock = {
    t: start,
    waits: [] as number[],
    now: () => clock.t,
    random: () => 0.5,
    setTimer(fn: () => void, ms: number) {
      const id = nextId++
      clock.waits.push(ms)
      timers.push({ at: clock.t + ms, fn, id })
      timers.sort((a, b) => a.at - b.at)
      schedule()
      return () => {
        const i = timers.findIndex((x) => x.id === id)
        if (i >= 0) timers.splice(i, 1)
      }
    },
  }
  let pending = false
  const schedule = () => {
    if (pending) return
    pending = true
    setImmediate(() => {
      pending = false
      const next = timers.shift()
      if (!next) return
      clock.t = Math.max(clock.t, next.at)
      next.fn()
      if (timers.length) schedule()
    })
  }
  return clock
}

/** A clock whose time moves only when the test calls `advance`: timers due by then fire, in order, as time passes them. */
export function manualClock(start = Date.parse('2026-01-01T00:00:00.000Z')): Clock & { t: number; advance(ms: number): void; pending(): number } {
  const timers: Array<{ at: number; fn: () => void; id: number }> = []
  let nextId = 0
  const clock = {
    t: start,
    now: () => clock.t,
    random: () => 0.5,
    setTimer(fn: () => void, ms: number) {
      const id = nextId++
      timers.push({ at: clock.t + ms, fn, id })
      timers.sort((a, b) => a.at - b.at || a.id - b.id)
      return () => {
        const i = timers.findIndex((x) => x.id === id)
        if (i >= 0) timers.splice(i, 1)
      }
    },
    advance(ms: number) {
      const end = clock.t + ms
      while (timers.length && timers[0]!.at <= end) {
        const next = timers.shift()!
        clock.t = next.at
        next.fn()
      }
      clock.t = end
    },
    pending: () => timers.length,
  }
  return clock
}
