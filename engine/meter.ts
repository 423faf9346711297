// Counts what one node attempt uses through its providers (tokens, images, seconds of video, their cost), and
// refuses a call that would take the run past its budget (BUDGET_EXCEEDED) before it is made.
import type { Providers } from './node-def.ts'
import type { MediaProvider, ModelProvider } from './ports.ts'
import { WeftError } from './errors.ts'
import { addUsage, noUsage, type Usage } from './usage.ts'
import { mediaMade, modelCall, prices, type PriceTable } from './prices.ts'

/** A run's budget as one attempt sees it: the limit, what the run had spent when the attempt started, and how many output tokens one of its model calls gave on average. */
export interface Budget {
  limit_usd: number
  spent_usd: number
  call_output_tokens?: number
}

/** `config.budget.usd` when it is a positive number: no provider call may take the run past it. */
export function budgetLimit(config: Record<string, unknown>): number | undefined {
  const usd = (config.budget as { usd?: unknown } | undefined)?.usd
  return typeof usd === 'number' && Number.isFinite(usd) && usd > 0 ? usd : undefined
}

/** A recorded run's budget as a task made now sees it: the limit and what its nodes have cost so far. */
export function budgetNow(run: { config: Record<string, unknown>; nodes: Record<string, { usage?: Usage }> }): { budget?: Budget } {
  const limit = budgetLimit(run.config)
  if (limit === undefined) return {}
  let spent = 0
  let calls = 0
  let output = 0
  for (const n of Object.values(run.nodes)) {
    spent += n.usage?.cost_usd ?? 0
    calls += n.usage?.model_calls ?? 0
    output += n.usage?.output_tokens ?? 0
  }
  return { budget: budgetOf(limit, spent, calls, output) }
}

/** The budget an attempt gets: the limit, what was spent, and the mean output of a model call so far. */
function budgetOf(limit: number, spent: number, calls: number, outputTokens: number): Budget {
  return { limit_usd: limit, spent_usd: Math.round(spent * 1e6) / 1e6, ...(calls > 0 ? { call_output_tokens: Math.round(outputTokens / calls) } : {}) }
}

/** A failure that stops the whole run (a fan-out's items and `continue_on_error` do not absorb it). */
export function isBudgetStop(error: { code: string } | null | undefined): boolean {
  return error?.code === 'BUDGET_EXCEEDED' || error?.code === 'BUDGET_UNPRICED'
}

export class Meter {
  readonly usage: Usage = noUsage()
  readonly #table: PriceTable

  constructor(
    readonly budget?: Budget,
    table?: PriceTable,
  ) {
    this.#table = table ?? prices()
  }

  /** The providers, counted (and held to the budget). */
  wrap(providers: Providers): Providers {
    const out: Providers = {}
    if (providers.model) out.model = this.#model(providers.model)
    if (providers.media) out.media = this.#media(providers.media)
    return out
  }

  /**
   * Before a call: BUDGET_UNPRICED when its model has no price (a budget can hold only priced calls), BUDGET_EXCEEDED
   * when what was spent plus the call's expected cost would pass the limit.
   */
  #check(what: string, expected: Usage): void {
    if (!this.budget) return
    if (expected.unpriced) {
      throw new WeftError(
        'BUDGET_UNPRICED',
        `${what}: the run has a budget of $${this.budget.limit_usd} and this has no price, so the budget cannot hold it; add its price to a WEFT_PRICES file (see the README's "Usage, cost and budget")`,
        { retryable: false, details: { budget_usd: this.budget.limit_usd } },
      )
    }
    const next = expected.cost_usd
    const spent = this.budget.spent_usd + this.usage.cost_usd
    if (spent + next > this.budget.limit_usd || spent >= this.budget.limit_usd) {
      throw new WeftError(
        'BUDGET_EXCEEDED',
        `${what} would take the run past its budget of $${this.budget.limit_usd} ($${spent.toFixed(4)} spent so far${next > 0 ? `, this call expected to cost $${next.toFixed(4)}` : ''})`,
        {
          retryable: false,
          details: { budget_usd: this.budget.limit_usd, spent_usd: Math.round(spent * 1e6) / 1e6, next_usd: Math.round(next * 1e6) / 1e6 },
        },
      )
    }
  }

  #model(model: ModelProvider): ModelProvider {
    let lastModel: string | undefined
    return {
      name: model.name,
      complete: async (req, opts) => {
        // the call's expected cost: its input, and as many output tokens as a call of this attempt (or else of the run) gave
        const inputTokens = Math.ceil(((req.system ?? '').length + req.prompt.length) / 4)
        const id = model.modelFor?.(req) ?? req.model ?? lastModel ?? model.name
        const calls = this.usage.model_calls
        const output = calls ? this.usage.output_tokens / calls : (this.budget?.call_output_tokens ?? 0)
        this.#check(`a call to ${id}`, modelCall(this.#table, id, inputTokens, output))
        const res = await model.complete(req, opts)
        lastModel = res.model
        addUsage(this.usage, modelCall(this.#table, res.model, res.usage?.input_tokens ?? inputTokens, res.usage?.output_tokens ?? Math.ceil(res.text.length / 4)))
        return res
      },
    }
  }

  #media(media: MediaProvider): MediaProvider {
    return {
      name: media.name,
      ...(media.sourceOf ? { sourceOf: media.sourceOf.bind(media) } : {}),
      render: async (req, opts) => {
        // stitching joins what was made; it makes nothing new
        if (req.kind !== 'stitch') {
          const source = media.sourceOf?.(req) ?? media.name
          this.#check(`rendering ${req.kind} ${req.out.split('/').pop()} with ${source}`, mediaMade(this.#table, source, req.kind, req.kind === 'video' ? req.duration_s : 0))
        }
        const res = await media.render(req, opts)
        if (req.kind !== 'stitch') addUsage(this.usage, mediaMade(this.#table, res.source, req.kind, res.duration_s ?? (req.kind === 'video' ? req.duration_s : 0)))
        return res
      },
    }
  }
}
