// critic_loop: write → critique → revise until the critic's score clears `threshold` (checked here, in code)
// or `max_iterations` runs out; the output is the best-scoring draft, never merely the last one.
import * as v from 'valibot'
import { defineNode } from '../engine/node-def.ts'
import { WeftError } from '../engine/errors.ts'
import { ask, promptFor } from '../engine/ask.ts'
import { checkCriticOutput, checkPromptUse, promptVariables } from '../engine/prompts.ts'

/** What the loop needs from a critic's answer (the prompt's schema may ask for more; all of it is kept). */
const CritiqueSchema = v.looseObject({
  score: v.pipe(v.number(), v.minValue(0), v.maxValue(100)),
  feedback: v.string(),
})

const IterationSchema = v.object({
  iteration: v.number(),
  draft: v.unknown(),
  score: v.number(),
  feedback: v.string(),
  /** The critic's whole answer (breakdown, fixes…). */
  critique: v.unknown(),
})

export const criticLoopNode = defineNode({
  type: 'critic_loop',
  cache: true,
  models: ['model', 'critic_model'],
  description: 'A writer prompt drafts, a critic prompt scores 0–100 with feedback, the writer revises; stops at `threshold` or `max_iterations`; returns the best draft.',
  config: v.strictObject({
    /** Prompt that writes (and rewrites) the draft. It receives `vars` plus `{feedback}` and `{previous}` (empty at first). */
    writer: v.pipe(v.string(), v.minLength(1)),
    /** Prompt that scores a draft: it receives `vars` plus `{draft}` and must answer `{ score: 0–100, feedback }`. */
    critic: v.pipe(v.string(), v.minLength(1)),
    /** Variables shared by both prompts; may hold expressions. */
    vars: v.optional(v.record(v.string(), v.unknown()), {}),
    /** A first draft to critique instead of writing one (e.g. a cohesion pass over scenes already written). */
    initial: v.optional(v.unknown()),
    /** Score (0–100) at which a draft is good enough; compared in code, whatever the critic says. */
    threshold: v.pipe(v.number(), v.minValue(0), v.maxValue(100)),
    /** Most critiques (each iteration critiques one draft). */
    max_iterations: v.pipe(v.number(), v.integer(), v.minValue(1), v.maxValue(20)),
    model: v.optional(v.string()),
    /** Model for the critic, when it should differ from the writer's. */
    critic_model: v.optional(v.string()),
    max_repairs: v.optional(v.pipe(v.number(), v.integer(), v.minValue(0), v.maxValue(5)), 2),
  }),
  output: v.object({
    /** The best-scoring draft (the earliest, on a tie). */
    draft: v.unknown(),
    score: v.number(),
    /** Whether `score` reached `threshold`. */
    passed: v.boolean(),
    /** Iterations run. */
    iterations: v.number(),
    /** Which iteration produced `draft` (1-based). */
    best_iteration: v.number(),
    /** The critic's answer for the best draft. */
    critique: v.unknown(),
    /** Every draft with its score and feedback, in order. */
    history: v.array(IterationSchema),
  }),
  check(fields, env) {
    // `vars` feed both prompts: a variable is unknown only when neither declares it (said once, by the writer's
    // check), and nothing is called unknown while the other prompt cannot be read (its own problem says why)
    const writerVars = promptVariables(fields.writer, env.promptDirs)
    const criticVars = promptVariables(fields.critic, env.promptDirs)
    const writer = checkPromptUse('writer', fields.writer, fields.vars, env.promptDirs, ['feedback', 'previous'], criticVars ?? [])
    const critic = checkPromptUse('critic', fields.critic, fields.vars, env.promptDirs, ['draft'], writerVars ?? [])
    const unknown = (p: { code: string }) => p.code === 'PROMPT_VARIABLE_UNKNOWN'
    return [
      ...writer.filter((p) => !unknown(p) || criticVars !== undefined || typeof fields.critic !== 'string'),
      ...critic.filter((p) => !unknown(p) || writerVars?.length === 0),
      ...checkCriticOutput('critic', fields.critic, env.promptDirs),
    ]
  },
  async execute(ctx) {
    const { config } = ctx
    const writer = promptFor(ctx, config.writer)
    const critic = promptFor(ctx, config.critic)
    const history: Array<v.InferOutput<typeof IterationSchema>> = []
    // a reviewer's revision starts the loop from their feedback on the draft they saw
    let feedback = ctx.revision?.feedback ?? ''
    let draft: unknown = ctx.revision ? ctx.revision.previous : config.initial
    let haveDraft = draft !== undefined && !ctx.revision
    for (let i = 1; i <= config.max_iterations; i++) {
      if (!haveDraft) {
        ctx.emit({ message: `writing draft ${i}`, iteration: i, fraction: (i - 1) / config.max_iterations })
        const previous = draft === undefined ? '' : draft
        const written = await ask(ctx, writer, { ...config.vars, feedback, previous }, { model: config.model, maxRepairs: config.max_repairs, label: `${writer.name}#${i}` })
        draft = written.data ?? written.text
      }
      haveDraft = false
      const answer = await ask(ctx, critic, { ...config.vars, draft }, { model: config.critic_model ?? config.model, maxRepairs: config.max_repairs, label: `${critic.name}#${i}` })
      const critique = v.safeParse(CritiqueSchema, answer.data ?? safeJson(answer.text))
      if (!critique.success) {
        throw new WeftError(
          'CRITIC_ANSWER_INVALID',
          `critic prompt "${critic.name}" must answer JSON with a numeric \`score\` (0–100) and a \`feedback\` text: ${critique.issues.map((x) => `${v.getDotPath(x) ?? 'answer'}: ${x.message}`).join('; ')}`,
          { retryable: false },
        )
      }
      const { score } = critique.output
      history.push({ iteration: i, draft, score, feedback: critique.output.feedback, critique: critique.output })
      ctx.emit({ message: `draft ${i} scored ${score}`, iteration: i, score, fraction: i / config.max_iterations })
      if (score >= config.threshold) break
      feedback = critique.output.feedback
    }
    const best = history.reduce((a, b) => (b.score > a.score ? b : a))
    return {
      draft: best.draft,
      score: best.score,
      passed: best.score >= config.threshold,
      iterations: history.length,
      best_iteration: best.iteration,
      critique: best.critique,
      history,
    }
  },
})

function safeJson(text: string): unknown {
  try {
    return JSON.parse(text)
  } catch {
    return text
  }
}
