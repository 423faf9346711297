// An approval gate inside a fan-out item's graph of steps: the gate node's own logic, asked at `<fan-out>[<item>].<step>`,
// reviewing another step's output; a revision re-runs the reviewed step with the feedback, and the steps between it and
// the gate after it. A rejection fails the item (the fan-out's `on_item_error` decides what that means for the node).
import type { ChildGraphSpec, ChildStepSpec } from './dsl/pipeline.ts'
import type { ChildOutcome, ControlContext } from './node-def.ts'
import type { Revision } from './ports.ts'
import { renderTemplate } from './expressions.ts'
import { toErrorInfo, WeftError } from './errors.ts'
import { validateWith } from './execute-task.ts'
import type { StepPowers, StepResult } from './step-graph.ts'

export interface GateEnv {
  graph: ChildGraphSpec
  /** The item's step results so far; a revision replaces the reviewed step's (and those between it and the gate). */
  results: Map<string, StepResult>
  scope: () => Record<string, unknown>
  signal: AbortSignal
  key: string
  powers: StepPowers
}

/** The address of an item's gate: `videos[3].review`. */
function itemGateId(owner: string, key: string, step: string): string {
  return `${owner}[${key}].${step}`
}

/** The pipeline node a gate belongs to: the approval node itself, or the fan-out of an item's gate. */
export function gateNode(gate: string): string {
  const i = gate.indexOf('[')
  return i < 0 ? gate : gate.slice(0, i)
}

export async function runItemGate(step: ChildStepSpec, env: GateEnv): Promise<ChildOutcome> {
  const { powers, signal } = env
  const gateId = itemGateId(powers.owner, env.key, step.id)
  try {
    const fields = { ...(renderTemplate(step.template, env.scope()) as Record<string, unknown>) }
    delete fields.type
    const config = step.def.config ? await validateWith(step.def.config, fields, 'CONFIG_INVALID', `gate "${gateId}" got invalid fields`) : fields
    const ctx: ControlContext = {
      config: config as Record<string, unknown>,
      raw: {},
      signal,
      emit: (p) => powers.emit({ ...p, item: env.key, step: step.id }),
      run: powers.runInfo,
      node: { id: gateId, type: step.type, attempt: 1 },
      idempotencyKey: `${powers.runInfo.id}:${gateId}:1`,
      workDir: '',
      providers: {},
      prompts: [],
      runChild: () => Promise.reject(new WeftError('NOT_SUPPORTED', `gate "${gateId}" runs no children`, { retryable: false })),
      requestDecision: (request, auto) => powers.decide(request, auto, signal),
      outputOf: (id) => env.results.get(id)?.output ?? null,
      rerun: (stepId, revision) => revise(stepId, revision, step, env),
    }
    const output = await step.def.execute(ctx)
    return { ok: true, output: output === undefined ? null : output }
  } catch (err) {
    return { ok: false, error: signal.aborted ? toErrorInfo(signal.reason, 'CANCELLED') : toErrorInfo(err, 'NODE_FAILED') }
  }
}

/** Runs the reviewed step again with the revision, then the steps between it and the gate, in order. */
async function revise(stepId: string, revision: Revision, gate: ChildStepSpec, env: GateEnv): Promise<ChildOutcome> {
  const target = env.graph.steps.get(stepId)
  if (!target || target.def.runs === 'control') return { ok: false, error: { code: 'NOT_REVISABLE', message: `step "${stepId}" cannot be re-run with feedback`, retryable: false } }
  const o = { signal: env.signal, key: env.key }
  const first = await env.powers.run(target, env.scope(), { ...o, step: stepId }, revision)
  if (!first.ok) return first
  env.results.set(stepId, { status: 'succeeded', output: first.output, error: null })
  for (const between of stepsBetween(env.graph, stepId, gate.id)) {
    const again = await env.powers.run(between, env.scope(), { ...o, step: between.id, round: revision.round })
    if (!again.ok) return { ok: false, error: { ...again.error, message: `step "${between.id}" after the revision: ${again.error.message}` } }
    env.results.set(between.id, { status: 'succeeded', output: again.output, error: null })
  }
  return first
}

/** Steps downstream of `from` that `to` depends on (directly or not), each after those it needs: they are computed from `from`'s output. */
function stepsBetween(graph: ChildGraphSpec, from: string, to: string): ChildStepSpec[] {
  const reaches = (a: string, b: string, seen = new Set<string>()): boolean => {
    if (a === b) return true
    if (seen.has(a)) return false
    seen.add(a)
    return graph.steps.get(a)!.deps.some((d) => reaches(d, b, seen))
  }
  // `x` is between when the gate depends on it and it depends on `from`
  const between = [...graph.steps.values()].filter((s) => s.id !== from && s.id !== to && s.def.runs !== 'control' && reaches(to, s.id) && reaches(s.id, from))
  const ordered: ChildStepSpec[] = []
  const done = new Set<string>()
  while (ordered.length < between.length) {
    const ready = between.filter((s) => !done.has(s.id) && s.deps.every((d) => done.has(d) || !between.some((b) => b.id === d)))
    if (ready.length === 0) break
    for (const s of ready) {
      ordered.push(s)
      done.add(s.id)
    }
  }
  return ordered
}
