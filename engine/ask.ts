// One model call through a prompt file: render, call the provider, check a JSON answer against the prompt's
// schema and ask again with the problems fed back (bounded). Used by the agent and critic_loop node types.
import type { NodeContext } from './node-def.ts'
import type { ModelRequest } from './ports.ts'
import { WeftError } from './errors.ts'
import { checkAnswer, loadPrompt, renderPrompt, type Prompt } from './prompts.ts'

export interface AskOptions {
  /** Overrides the provider's default model for this call. */
  model?: string | undefined
  temperature?: number | undefined
  /** Extra tries after an answer that does not match the schema (default 2). */
  maxRepairs?: number | undefined
  /** Tells calls apart in idempotency keys (a critic loop's `story_director#2`). */
  label?: string | undefined
}

export interface Answer {
  /** The answer as text (JSON text for JSON prompts). */
  text: string
  /** The parsed, schema-checked answer of a JSON prompt; null for a text prompt. */
  data: unknown
  model: string
  /** How many extra tries the answer needed. */
  repairs: number
}

const REPAIR_PROMPT = 'repair_answer'
const EXCERPT = 2000

/** Loads a prompt the node names; a missing or broken prompt file fails the node without retries. */
export function promptFor(ctx: Pick<NodeContext, 'prompts'>, name: string): Prompt {
  return loadPrompt(name, ctx.prompts)
}

/** Renders `prompt` with `vars`, calls the model and returns a checked answer. */
export async function ask(ctx: NodeContext, prompt: Prompt, vars: Record<string, unknown>, opts: AskOptions = {}): Promise<Answer> {
  const model = ctx.providers.model
  if (!model) throw new WeftError('NO_MODEL_PROVIDER', `node "${ctx.node.id}" calls a model but this run has no model provider`, { retryable: false })
  const rendered = renderPrompt(prompt, vars)
  const base: ModelRequest = { prompt: rendered.prompt, meta: { prompt: prompt.name, vars: rendered.vars, ...(prompt.task ? { task: prompt.task } : {}) } }
  if (rendered.system !== undefined) base.system = rendered.system
  if (prompt.output) base.schema = prompt.output
  if (opts.model !== undefined) base.model = opts.model
  const temperature = opts.temperature ?? prompt.temperature
  if (temperature !== undefined) base.temperature = temperature
  const maxRepairs = opts.maxRepairs ?? 2
  const label = opts.label ?? prompt.name
  let req = base
  let problems: string[] = []
  for (let repairs = 0; ; repairs++) {
    ctx.signal.throwIfAborted()
    const res = await model.complete(req, { signal: ctx.signal, idempotencyKey: `${ctx.idempotencyKey}:${label}${repairs ? `:fix${repairs}` : ''}` })
    if (!prompt.output) return { text: res.text, data: null, model: res.model, repairs }
    let data: unknown = res.json
    problems = []
    if (data === undefined) {
      try {
        data = JSON.parse(res.text)
      } catch (err) {
        problems = [`the answer is not JSON (${(err as Error).message})`]
      }
    }
    if (problems.length === 0) problems = checkAnswer(prompt, data)
    if (problems.length === 0) return { text: res.text, data, model: res.model, repairs }
    if (repairs >= maxRepairs) {
      throw new WeftError(
        'MODEL_ANSWER_INVALID',
        `prompt "${prompt.name}": the model's answer did not match the prompt's output schema after ${repairs + 1} ${repairs ? 'tries' : 'try'}: ${problems.slice(0, 5).join('; ')}`,
        {
          retryable: false,
          details: { prompt: prompt.name, problems, excerpt: res.text.slice(0, EXCERPT) },
        },
      )
    }
    ctx.emit({ message: `${prompt.name}: answer did not match its schema; asking again`, problems: problems.slice(0, 5) })
    const repair = renderPrompt(loadPrompt(REPAIR_PROMPT, ctx.prompts), { request: base.prompt, answer: res.text.slice(0, EXCERPT), problems: problems.join('\n') })
    req = { ...base, prompt: repair.prompt }
  }
}
