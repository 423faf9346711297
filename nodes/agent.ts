// agent: one model call from a prompt file (`prompts/<name>.yaml`), with its variables; text or checked JSON.
import * as v from 'valibot'
import { defineNode } from '../engine/node-def.ts'
import { WeftError } from '../engine/errors.ts'
import { ask, promptFor } from '../engine/ask.ts'
import { checkPromptUse } from '../engine/prompts.ts'

const AgentOutputSchema = v.object({
  /** The answer as text (JSON text for a JSON prompt). */
  text: v.string(),
  /** The parsed answer of a JSON prompt, checked against the prompt's `output` schema; null for text prompts. */
  data: v.unknown(),
  /** The model that answered. */
  model: v.string(),
  /** Extra tries needed because an answer did not match the schema. */
  repairs: v.number(),
})

export const agentNode = defineNode({
  type: 'agent',
  cache: true,
  models: ['model'],
  description: 'Renders a prompt from `prompts/<prompt>.yaml` with `vars`, calls the model provider, returns its (schema-checked) answer.',
  config: v.strictObject({
    /** The prompt's name: `prompts/<prompt>.yaml`. */
    prompt: v.pipe(v.string(), v.minLength(1)),
    /** Values of the prompt's `{variables}`; may hold expressions. */
    vars: v.optional(v.record(v.string(), v.unknown()), {}),
    /** Model name for this agent (overrides the provider's default, e.g. `WEFT_MODEL`). */
    model: v.optional(v.string()),
    temperature: v.optional(v.pipe(v.number(), v.minValue(0), v.maxValue(2))),
    /** Extra tries when an answer does not match the prompt's schema, with the problems fed back (default 2). */
    max_repairs: v.optional(v.pipe(v.number(), v.integer(), v.minValue(0), v.maxValue(5)), 2),
  }),
  output: AgentOutputSchema,
  check(fields, env) {
    return checkPromptUse('prompt', fields.prompt, fields.vars, env.promptDirs)
  },
  async execute(ctx) {
    const { config } = ctx
    const prompt = promptFor(ctx, config.prompt)
    const vars = { ...config.vars }
    if (ctx.revision) {
      // a reviewer sent this node back: the feedback goes into the prompt, or the revision cannot happen
      if (!Object.hasOwn(prompt.variables, 'feedback')) {
        throw new WeftError('NOT_REVISABLE', `prompt "${prompt.name}" has no {feedback} variable, so node "${ctx.node.id}" cannot take a reviewer's feedback`, { retryable: false })
      }
      vars.feedback = ctx.revision.feedback
      if (Object.hasOwn(prompt.variables, 'previous')) vars.previous = ctx.revision.previous
    }
    const answer = await ask(ctx, prompt, vars, { model: config.model, temperature: config.temperature, maxRepairs: config.max_repairs })
    return answer
  },
})
