// A control node (fan-out, approval) as a replay runs it (see fleet/replay.ts): its config and its execution.
import type { NodeSpec } from './dsl/pipeline.ts'
import type { ControlContext } from './node-def.ts'
import type { TaskOutcome } from './ports.ts'
import { renderTemplate } from './expressions.ts'
import { validateWith } from './execute-task.ts'

/** A control node's rendered config, and the fields it resolves itself (deferred ones, its child spec) as written. */
export function controlConfig(spec: NodeSpec, scope: Record<string, unknown>): { config: Record<string, unknown>; raw: Record<string, unknown> } {
  const config = renderTemplate(spec.template, scope) as Record<string, unknown>
  const raw: Record<string, unknown> = {}
  for (const k of [...(spec.def.deferred ?? []), ...(spec.def.child ? [spec.def.child.field] : [])]) raw[k] = config[k]
  return { config, raw }
}

/** Validates a control node's config (keeping its raw fields) and runs it. */
export async function executeControl(spec: NodeSpec, ctx: ControlContext): Promise<TaskOutcome> {
  if (spec.def.config) {
    const { raw } = ctx
    const checked = await validateWith(spec.def.config, ctx.config, 'CONFIG_INVALID', `node "${spec.id}" (${spec.type}) got invalid fields`)
    ctx.config = { ...(checked as Record<string, unknown>), ...raw }
  }
  const output = await spec.def.execute(ctx)
  return { ok: true, output: output === undefined ? null : output }
}
