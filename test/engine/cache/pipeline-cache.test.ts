// The node cache under whole runs: the default pipeline run again, with one prompt edited, two runs at once, a plugin edited.
import { describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { spawn } from 'node:child_process'
import { cpSync, mkdtempSync, readFileSync, statSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import path from 'node:path'
import { loadPipeline } from '../../../engine/dsl/load.ts'
import type { Pipeline } from '../../../engine/dsl/pipeline.ts'
import { resolveConfig, resolveRunInputs } from '../../../engine/inputs.ts'
import { runPipeline } from '../../../engine/run-pipeline.ts'
import { MemoryRunStore } from '../../../engine/adapters/memory-store.ts'
import { InlineExecutor } from '../../../engine/adapters/inline-executor.ts'
import { createProviders, offlineSettings } from '../../../engine/providers.ts'
import { CachingExecutor } from '../../../engine/cache/caching-executor.ts'
import { NodeCache } from '../../../engine/cache/node-cache.ts'
import type { NodeExecutor, RunRecord } from '../../../engine/ports.ts'

const root = path.resolve(import.meta.dirname, '..', '..', '..')
const brief = 'Sell our oat-milk latte to busy commuters who want a calm start to the day.'

/** An executor that counts what reaches it: the attempts the cache did not answer. */
function counting(inner: NodeExecutor): NodeExecutor & { executed: string[] } {
  const executed: string[] = []
  return {
    executed,
    execute: (task, opts) => {
      executed.push(task.nodeId)
      return inner.execute(task, opts)
    },
    close: () => inner.close(),
  }
}

/** A copy of the default pipeline and its prompts in a folder of its own (so a prompt can be edited). */
async function defaultCopy(): Promise<{ dir: string; pipeline: Pipeline }> {
  const dir = mkdtempSync(path.join(tmpdir(), 'weft-cache-default-'))
  cpSync(path.join(root, 'pipelines', 'default.yaml'), path.join(dir, 'default.yaml'))
  cpSync(path.join(root, 'prompts'), path.join(dir, 'prompts'), { recursive: true })
  return { dir, pipeline: await reload(dir) }
}

async function reload(dir: string): Promise<Pipeline> {
  const { pipeline, diagnostics } = await loadPipeline(path.join(dir, 'default.yaml'))
  if (!pipeline) throw new Error(diagnostics.map((d) => d.message).join('\n'))
  return pipeline
}

async function runDefault(pipeline: Pipeline, executor: NodeExecutor, workDir: string): Promise<RunRecord> {
  const inputs = resolveRunInputs(pipeline, { prompt: brief, duration_s: 12 }).inputs
  const config = resolveConfig(pipeline, [
    { path: 'video.width', value: '320' },
    { path: 'video.height', value: '180' },
  ]).config
  return runPipeline({ pipeline, inputs, config, executor, store: new MemoryRunStore(), workDir, cache: { deterministic: true } })
}

/** The outputs with the run's own id taken out: two runs that computed the same things compare equal. */
const outputsOf = (r: RunRecord) => JSON.parse(JSON.stringify(r.outputs).replaceAll(r.id, 'RUN'))

describe('node cache: the default pipeline', { timeout: 240_000 }, () => {
  it('runs again from the cache (0 nodes executed, same outputs, files shared), and after editing the scene prompt executes only the scene stage and what depends on it', async () => {
    const { dir, pipeline } = await defaultCopy()
    const cache = NodeCache.open(path.join(dir, 'cache'), 1e10)
    const inner = counting(new InlineExecutor(await createProviders(offlineSettings)))
    const executor = new CachingExecutor(inner, cache, { providers: 'offline' })
    const workDir = path.join(dir, 'runs')

    const first = await runDefault(pipeline, executor, workDir)
    assert.equal(first.status, 'completed', JSON.stringify(first.error))
    const firstExecuted = inner.executed.splice(0)
    assert.ok(firstExecuted.length >= 9, `the first run executes its work: ${firstExecuted.join(', ')}`)

    const second = await runDefault(pipeline, executor, workDir)
    assert.equal(second.status, 'completed')
    assert.deepEqual(inner.executed.splice(0), [], 'an identical run executes nothing')
    assert.deepEqual(outputsOf(second), outputsOf(first))
    for (const id of ['story', 'reference_plan', 'scenes', 'cohesion', 'final']) {
      assert.deepEqual(second.nodes[id]!.cache?.from, { run: first.id, node: id }, `${id} came from the first run`)
    }
    // the final video is the first run's file, linked into the second run's folder
    const v1 = first.outputs!.final_video as string
    const v2 = second.outputs!.final_video as string
    assert.notEqual(v1, v2)
    assert.ok(v2.startsWith(path.join(workDir, second.id)))
    assert.equal(statSync(v2).ino, statSync(v1).ino)

    // the scene writer's prompt edited: the scene stage executes again, nothing upstream of it does
    const promptFile = path.join(dir, 'prompts', 'scene_writer.yaml')
    writeFileSync(promptFile, readFileSync(promptFile, 'utf8').replace('template: |', 'template: |\n  Keep every scene under eight seconds.'))
    const edited = await reload(dir)
    const third = await runDefault(edited, executor, workDir)
    assert.equal(third.status, 'completed')
    const executed = inner.executed.splice(0)
    assert.ok(executed.includes('scenes'), `scenes executed again: ${executed.join(', ')}`)
    const downstream = new Set(['scenes', 'cohesion', 'final'])
    for (const id of executed) assert.ok(downstream.has(id) || id.startsWith('videos['), `${id} executed although it does not depend on the scene prompt`)
    for (const id of ['story', 'reference_plan']) assert.equal(third.nodes[id]!.cache?.hit, true)
    await executor.close()
    cache.close()
  })

  it('two identical runs at once compute each result once', async () => {
    const { dir, pipeline } = await defaultCopy()
    const cache = NodeCache.open(path.join(dir, 'cache'), 1e10)
    const inner = counting(new InlineExecutor(await createProviders(offlineSettings)))
    const executor = new CachingExecutor(inner, cache, { providers: 'offline' })
    const [a, b] = await Promise.all([runDefault(pipeline, executor, path.join(dir, 'runs')), runDefault(pipeline, executor, path.join(dir, 'runs'))])
    assert.equal(a.status, 'completed')
    assert.equal(b.status, 'completed')
    assert.deepEqual(outputsOf(a), outputsOf(b))
    // every key computed once: as many executions as entries, and no task executed twice
    assert.equal(inner.executed.length, cache.stats().entries)
    assert.equal(new Set(inner.executed).size, inner.executed.length, `executed twice: ${inner.executed.join(', ')}`)
    await executor.close()
    cache.close()
  })
})

describe('node cache: across processes and plugin edits', { timeout: 240_000 }, () => {
  /** `weft run` in a child process; resolves to its run record. */
  const weft = (dir: string, env: NodeJS.ProcessEnv, file: string, ...args: string[]) =>
    new Promise<RunRecord>((resolve, reject) => {
      const child = spawn(process.execPath, ['--import', 'tsx', path.join(root, 'cli', 'weft.ts'), 'run', path.join(dir, file), ...args, '--json', '--store', 'memory'], {
        cwd: root,
        env,
        stdio: ['ignore', 'pipe', 'pipe'],
      })
      let out = ''
      let err = ''
      child.stdout.setEncoding('utf8').on('data', (c: string) => (out += c))
      child.stderr.setEncoding('utf8').on('data', (c: string) => (err += c))
      child.on('close', (code) => {
        try {
          resolve(JSON.parse(out) as RunRecord)
        } catch {
          reject(new Error(`exit ${code}: ${err}`))
        }
      })
    })

  it('two processes running the same pipeline at once on one cache compute each key once', async () => {
    const dir = mkdtempSync(path.join(tmpdir(), 'weft-cache-procs-'))
    writeFileSync(
      path.join(dir, 'slow.yaml'),
      `
pipeline: slow
version: 1
plugins: [${JSON.stringify(path.join(dir, 'slow.mjs'))}]
nodes:
  a: { type: slow_step, value: 1 }
  b: { type: slow_step, value: "\${{ nodes.a.output.value + 1 }}" }
  c: { type: slow_step, value: "\${{ nodes.b.output.value + 1 }}" }
`,
    )
    writeFileSync(
      path.join(dir, 'slow.mjs'),
      `
import { appendFileSync } from 'node:fs'
export default {
  type: 'slow_step', cache: true,
  async execute({ config, node }) {
    appendFileSync(${JSON.stringify(path.join(dir, 'executions.log'))}, node.id + ' ' + process.pid + '\\n')
    await new Promise((r) => setTimeout(r, 400))
    return { value: config.value }
  },
}
`,
    )
    const env = { ...process.env, WEFT_DATA_DIR: path.join(dir, '.weft') }
    const [r1, r2] = await Promise.all([weft(dir, env, 'slow.yaml'), weft(dir, env, 'slow.yaml')])
    assert.equal(r1.status, 'completed')
    assert.equal(r2.status, 'completed')
    assert.equal(r1.nodes.c!.output && (r1.nodes.c!.output as { value: number }).value, 3)
    const lines = readFileSync(path.join(dir, 'executions.log'), 'utf8').trim().split('\n')
    assert.deepEqual(lines.map((l) => l.split(' ')[0]).sort(), ['a', 'b', 'c'], `each node executed once in all: ${lines.join('; ')}`)
    for (const id of ['a', 'b', 'c']) assert.equal([r1, r2].filter((r) => r.nodes[id]!.cache?.hit === false).length, 1, `${id}: computed by exactly one of the two`)

    // editing the plugin's source invalidates its nodes; a third run with the old source hits again
    const src = readFileSync(path.join(dir, 'slow.mjs'), 'utf8')
    writeFileSync(path.join(dir, 'slow.mjs'), `${src}\n// edited\n`)
    const r3 = await weft(dir, env, 'slow.yaml')
    assert.deepEqual(
      ['a', 'b', 'c'].map((id) => r3.nodes[id]!.cache?.hit),
      [false, false, false],
    )
    const r4 = await weft(dir, env, 'slow.yaml', '--no-cache')
    assert.deepEqual(
      ['a', 'b', 'c'].map((id) => r4.nodes[id]!.cache),
      [undefined, undefined, undefined],
      '--no-cache neither reads nor writes',
    )
    const r5 = await weft(dir, env, 'slow.yaml')
    assert.deepEqual(
      ['a', 'b', 'c'].map((id) => r5.nodes[id]!.cache?.from?.run),
      [r3.id, r3.id, r3.id],
    )
    assert.equal(readFileSync(path.join(dir, 'executions.log'), 'utf8').trim().split('\n').length, 9, '3 + 3 after the edit + 3 with --no-cache')
  })

  it('never stores a failure', async () => {
    const dir = mkdtempSync(path.join(tmpdir(), 'weft-cache-fail-'))
    writeFileSync(
      path.join(dir, 'p.yaml'),
      `
pipeline: flaky
version: 1
plugins: [${JSON.stringify(path.join(dir, 'flaky.mjs'))}]
nodes:
  a: { type: flaky_step }
`,
    )
    writeFileSync(
      path.join(dir, 'flaky.mjs'),
      `
import { existsSync, writeFileSync } from 'node:fs'
const mark = ${JSON.stringify(path.join(dir, 'failed-once'))}
export default {
  type: 'flaky_step', cache: true,
  execute() {
    if (!existsSync(mark)) { writeFileSync(mark, ''); throw Object.assign(new Error('first time fails'), { code: 'FLAKY' }) }
    return { ok: true }
  },
}
`,
    )
    const env = { ...process.env, WEFT_DATA_DIR: path.join(dir, '.weft') }
    const r1 = await weft(dir, env, 'p.yaml')
    assert.equal(r1.status, 'failed')
    assert.equal(r1.nodes.a!.cache, undefined)
    const r2 = await weft(dir, env, 'p.yaml')
    assert.equal(r2.status, 'completed')
    assert.equal(r2.nodes.a!.cache?.hit, false, 'the failure was not reused: the node executed')
  })
})
