// Counts what one node attempt uses through its providers (tokens, images, seconds of video, their cost), and
// refuses a call that would take the run past its budget (BUDGET_EXCEEDED) before it is made.
import type { Providers } from './node-def.ts'
import type { MediaProvider, ModelProvider } from './ports.ts'
import { WeftError } from './errors.ts'
import { addUsage, noUsage, type Usage } from './usage.ts'
import { inputCost, mediaMade, modelCall, prices, type PriceTable } from './prices.ts'

/** A run's budget as one attempt sees it: the limit, what the run had spent when the attempt started, and what one of its model calls cost on average. */
export interface Budget {
  limit_usd: number
  spent_usd: number
  call_usd?: number
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
  for (const n of Object.values(run.nodes)) {
    spent += n.usage?.cost_usd ?? 0
    calls += n.usage?.model_calls ?? 0
  }
  return { budget: budgetOf(limit, spent, calls) }
}

/** The budget an attempt gets: the limit, what was spent, and the mean cost of a model call so far. */
export function budgetOf(limit: number, spent: number, calls: number): Budget {
  const round = (x: number) => Math.round(x * 1e6) / 1e6
  return { limit_usd: limit, spent_usd: round(spent), ...(calls > 0 ? { call_usd: round(spent / calls) } : {}) }
}

export class Meter {
  readonly usage: Usage = noUsage()
  readonly #table: PriceTable

  constructor(readonly budget?: Budget, table?: PriceTable) {
    this.#table = table ?? prices()
  }

  /** The providers, counted (and held to the budget). */
  wrap(providers: Providers): Providers {
    const out: Providers = {}
    if (providers.model) out.model = this.#model(providers.model)
    if (providers.media) out.media = this.#media(providers.media)
    return out
  }

  /** Throws BUDGET_EXCEEDED when what was spent, plus `next` (the least the next call costs), passes the limit. */
  #check(what: string, next: number): void {
    if (!this.budget) return
    const spent = this.budget.spent_usd + this.usage.cost_usd
    if (spent + next > this.budget.limit_usd || spent >= this.budget.limit_usd) {
      throw new WeftError('BUDGET_EXCEEDED', `${what} would take the run past its budget of $${this.budget.limit_usd} ($${spent.toFixed(4)} spent so far${next > 0 ? `, this call expected to cost $${next.toFixed(4)}` : ''})`, {
        retryable: false,
        details: { budget_usd: this.budget.limit_usd, spent_usd: Math.round(spent * 1e6) / 1e6, next_usd: Math.round(next * 1e6) / 1e6 },
      })
    }
  }

  #model(model: ModelProvider): ModelProvider {
    let lastModel: string | undefined
    return {
      name: model.name,
      complete: async (req, opts) => {
        // the call's expected cost: what a call of this attempt (or else of the run) cost on average, and at least its input, priced
        const inputTokens = Math.ceil(((req.system ?? '').length + req.prompt.length) / 4)
        const id = req.model ?? lastModel
        const calls = this.usage.model_calls
        const typical = calls ? this.usage.cost_usd / calls : (this.budget?.call_usd ?? 0)
        this.#check(`a call to ${id ?? model.name}`, Math.max(typical, id === undefined ? 0 : inputCost(this.#table, id, inputTokens)))
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
      render: async (req, opts) => {
        // stitching joins what was made; it makes nothing new
        if (req.kind !== 'stitch') this.#check(`rendering ${req.kind} ${req.out.split('/').pop()}`, 0)
        const res = await media.render(req, opts)
        if (req.kind !== 'stitch') addUsage(this.usage, mediaMade(this.#table, res.source, req.kind, res.duration_s ?? (req.kind === 'video' ? req.duration_s : 0)))
        return res
      },
    }
  }
}
