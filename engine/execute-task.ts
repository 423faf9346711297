// Runs one node attempt where it lands (worker thread or inline): finds the type, checks config and output.
import type { NodeDefinition, Progress, Providers, SchemaLike } from './node-def.ts'
import type { NodeTask, TaskOutcome } from './ports.ts'
import { toErrorInfo, WeftError } from './errors.ts'
import { toJsonData } from './json-data.ts'
import { Meter } from './meter.ts'
import { isEmpty } from './usage.ts'
import { enableTypeScript, isTypeScriptFile } from './runtime.ts'

const modules = new Map<string, Promise<Map<string, NodeDefinition>>>()

/** Imports (once per thread) the module a task names and indexes its node definitions by type. */
function definitionsOf(url: string): Promise<Map<string, NodeDefinition>> {
  let p = modules.get(url)
  if (!p) {
    // a TypeScript plugin brings its loader into the thread that first runs it, not into every thread up front
    p = (isTypeScriptFile(url) ? enableTypeScript() : Promise.resolve())
      .then(() => import(url))
      .then((mod: { default?: unknown }) => {
        const list = Array.isArray(mod.default) ? mod.default : [mod.default]
        return new Map((list as NodeDefinition[]).filter((d) => d && typeof d.type === 'string').map((d) => [d.type, d]))
      })
    modules.set(url, p)
    p.catch(() => modules.delete(url))
  }
  return p
}

/** Validates a value with a Standard Schema; throws a non-retryable WeftError listing the issues. */
export async function validateWith(schema: SchemaLike, value: unknown, code: string, what: string): Promise<unknown> {
  const res = await schema['~standard'].validate(value)
  if (!res.issues) return res.value
  const issues = res.issues.map((i) => {
    const p = (i.path ?? []).map((seg) => String(typeof seg === 'object' ? seg.key : seg)).join('.')
    return p ? `${p}: ${i.message}` : i.message
  })
  throw new WeftError(code, `${what}: ${issues.join('; ')}`, { details: { issues }, retryable: false })
}

export interface TaskEnvironment {
  signal: AbortSignal
  emit(progress: Progress): void
  providers: Providers
  /** Asked right before the node's code starts: false means the task went elsewhere, and it does not start here. */
  claim?: () => boolean
}

/**
 * Executes the task's node type and returns its outcome; a node's error never escapes as an exception.
 * Resolves to undefined only when `claim` refused the start.
 */
export function executeTask(task: NodeTask, env: TaskEnvironment & { claim: () => boolean }): Promise<TaskOutcome | undefined>
export function executeTask(task: NodeTask, env: Omit<TaskEnvironment, 'claim'>): Promise<TaskOutcome>
export async function executeTask(task: NodeTask, env: TaskEnvironment): Promise<TaskOutcome | undefined> {
  let meter: Meter | undefined
  const used = (out: TaskOutcome): TaskOutcome => (meter && !isEmpty(meter.usage) ? { ...out, usage: meter.usage } : out)
  // the claim comes as late as it can (a task held up behind a busy sibling can still go elsewhere), but before a
  // module's first import: code that runs at import may block its thread, and only a started task's thread is killed
  let claimed = !env.claim
  const claim = (): boolean => claimed || (claimed = env.claim!())
  try {
    meter = new Meter(task.budget)
    if (!modules.has(task.module) && !claim()) return undefined
    const defs = await definitionsOf(task.module).catch((err: Error) => {
      throw new WeftError('NODE_MODULE_FAILED', `cannot load node type "${task.type}" from ${task.module}: ${err.message.split('\n')[0]}`, { retryable: false })
    })
    const def = defs.get(task.type)
    if (!def) throw new WeftError('UNKNOWN_NODE_TYPE', `module ${task.module} does not define node type "${task.type}"`, { retryable: false })
    const config = def.config ? await validateWith(def.config, task.config, 'CONFIG_INVALID', `node "${task.nodeId}" (${task.type}) got invalid fields`) : task.config
    env.signal.throwIfAborted()
    if (!claim()) return undefined
    const output = await def.execute({
      config,
      signal: env.signal,
      emit: env.emit,
      run: task.run,
      node: { id: task.nodeId, type: task.type, attempt: task.attempt },
      idempotencyKey: task.idempotencyKey,
      workDir: task.workDir,
      providers: meter.wrap(env.providers),
      prompts: task.prompts,
      ...(task.revision ? { revision: task.revision } : {}),
    })
    const checked = def.output ? await validateWith(def.output, output, 'OUTPUT_INVALID', `node "${task.nodeId}" (${task.type}) returned an invalid output`) : output
    return used({ ok: true, output: toJsonData(checked, `node "${task.nodeId}" output`) })
  } catch (err) {
    // an outcome only from the copy that won the claim: a copy taken back says nothing
    if (!claim()) return undefined
    const info = toErrorInfo(err)
    // a node that gave up because it was aborted reports why it was aborted (timeout, cancellation)
    if (env.signal.aborted && (info.code === 'NODE_FAILED' || info.code === 'ABORT_ERR')) return used({ ok: false, error: toErrorInfo(env.signal.reason, 'CANCELLED') })
    return used({ ok: false, error: info })
  }
}
