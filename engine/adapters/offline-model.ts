// ModelProvider that needs no network: a deterministic, rule-based copywriter and critic for development, CI and demos.
import { Ajv, type ValidateFunction } from 'ajv'
import { WeftError } from '../errors.ts'
import type { ModelProvider, ModelRequest, ModelResponse } from '../ports.ts'
import { reviewCohesion } from './offline/cohesion.ts'
import { designReferences } from './offline/references.ts'
import { critiqueScenes } from './offline/scene-critique.ts'
import { rewriteScenes, writeScenes } from './offline/scenes.ts'
import { fillSchema } from './offline/schema-fill.ts'
import { writeStory } from './offline/story.ts'
import { critiqueStory } from './offline/story-critique.ts'
import { clip, keywords } from './offline/text.ts'

/** The tasks the offline model knows (a prompt file's `task:`), each a pure function of the prompt's variables. */
const offlineTasks: Readonly<Record<string, (vars: Record<string, unknown>) => unknown>> = {
  story: writeStory,
  story_critique: critiqueStory,
  references: designReferences,
  scenes: writeScenes,
  scene_critique: critiqueScenes,
  cohesion: reviewCohesion,
  scene_rewrite: rewriteScenes,
}

const ajv = new Ajv({ allErrors: true, strict: false })
const validators = new WeakMap<object, ValidateFunction>()

/**
 * The embedded default model provider (`offline`). It reads `req.meta` — `{ prompt, task, vars }`, as the
 * agent and critic-loop nodes send it — and answers by `task`:
 *
 * - `story`, `references`, `scenes`, `scene_rewrite`: a writer that follows the brief and the ad framework.
 *   First drafts are deliberately rougher (thin visual detail, product named once, vague continuity notes,
 *   one or two scenes that do not pick up the previous end frame); a revision reads the bracketed codes in
 *   `vars.feedback` (`[visual_detail]`, `Scene 3 [continuity]`) and fixes exactly those, and folds a
 *   reviewer's own words in where rules can ("mention the price $2.99", "make it funnier", "shorter").
 * - `story_critique`, `scene_critique`, `cohesion`: critics whose scores come from real checks of
 *   `vars.draft`, weighted as DOMAIN.md says, with feedback that names every failed check by its code.
 *   A critic loop therefore converges because the drafts really get better.
 * - any other task: with `req.schema`, a value built from the schema (required properties, enums, bounds);
 *   without, a short text summary of the prompt.
 *
 * Same request, same answer: no clock, no randomness beyond hashing the inputs. Every JSON answer is checked
 * against `req.schema`; a mismatch is `MODEL_ANSWER_INVALID` (a bug in this provider, or a prompt whose
 * `output` differs from the built-in shape for its task).
 */
export class OfflineModel implements ModelProvider {
  readonly name = 'offline'

  modelFor(): string {
    return 'offline'
  }

  async complete(req: ModelRequest, { signal }: { signal: AbortSignal; idempotencyKey: string }): Promise<ModelResponse> {
    signal.throwIfAborted()
    const meta = req.meta ?? {}
    const task = typeof meta.task === 'string' ? meta.task : undefined
    const prompt = typeof meta.prompt === 'string' ? meta.prompt : '(unnamed prompt)'
    const vars = meta.vars && typeof meta.vars === 'object' ? (meta.vars as Record<string, unknown>) : {}
    const write = task !== undefined && Object.hasOwn(offlineTasks, task) ? offlineTasks[task]! : undefined
    const input = Math.ceil(((req.system ?? '').length + req.prompt.length) / 4)

    if (!write && !req.schema) {
      const text = summarise(req.prompt)
      return { text, model: 'offline', usage: { input_tokens: input, output_tokens: Math.ceil(text.length / 4) } }
    }
    const json = write ? write(vars) : fillSchema(req.schema!, `${req.system ?? ''}\n${req.prompt}`)
    if (req.schema) check(json, req.schema, prompt, task)
    signal.throwIfAborted()
    const text = JSON.stringify(json)
    return { text, json, model: 'offline', usage: { input_tokens: input, output_tokens: Math.ceil(text.length / 4) } }
  }
}

function check(json: unknown, schema: Record<string, unknown>, prompt: string, task: string | undefined): void {
  let validate = validators.get(schema)
  if (!validate) {
    validate = ajv.compile(schema)
    validators.set(schema, validate)
  }
  if (validate(json)) return
  const problems = (validate.errors ?? []).slice(0, 5).map((e) => `${e.instancePath || '(the answer)'} ${e.message ?? 'is invalid'}`)
  const what = task ? `task "${task}"` : 'a schema-filled answer'
  throw new WeftError(
    'MODEL_ANSWER_INVALID',
    `the offline model's answer for prompt "${prompt}" (${what}) does not match the prompt's output schema: ${problems.join('; ')}` +
      (task ? ` (the offline model writes the built-in shape for "${task}"; a prompt with another output needs another task name)` : ''),
    { retryable: false, details: { reason: 'offline_schema_mismatch', prompt, task, problems } },
  )
}

/** A text answer: what the prompt asks, in a line, and its key words. */
function summarise(prompt: string): string {
  const first =
    prompt
      .split('\n')
      .map((l) => l.trim())
      .find((l) => l.length > 0) ?? ''
  const keys = keywords(prompt, 6)
  return `${clip(first, 200) || 'An empty prompt.'}${keys.length ? `\n\nKey points: ${keys.join(', ')}.` : ''}\n\n(Offline model: a deterministic answer, no language model was called.)`
}
