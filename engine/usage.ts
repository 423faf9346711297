// What node work used: model calls and their tokens, images and seconds of video made, and what it cost by the
// price table (engine/prices.ts). Summed per attempt, per node, per stage and per run.

export interface Usage {
  model_calls: number
  input_tokens: number
  output_tokens: number
  images: number
  video_s: number
  /** The priced part: calls or media whose model has no price are counted in `unpriced` instead. */
  cost_usd: number
  /** Calls and renders whose model has no price: their cost is not in `cost_usd`. */
  unpriced: number
}

export const noUsage = (): Usage => ({ model_calls: 0, input_tokens: 0, output_tokens: 0, images: 0, video_s: 0, cost_usd: 0, unpriced: 0 })

/** `into` plus `more` (in place), returning `into`. Cost is kept to a millionth of a dollar. */
export function addUsage(into: Usage, more: Usage | undefined): Usage {
  if (!more) return into
  into.model_calls += more.model_calls
  into.input_tokens += more.input_tokens
  into.output_tokens += more.output_tokens
  into.images += more.images
  into.video_s = Math.round((into.video_s + more.video_s) * 1000) / 1000
  into.cost_usd = Math.round((into.cost_usd + more.cost_usd) * 1e6) / 1e6
  into.unpriced += more.unpriced
  return into
}

export function isEmpty(u: Usage | undefined): boolean {
  return !u || (u.model_calls === 0 && u.images === 0 && u.video_s === 0)
}

/** A run's usage: its total, and per stage (nodes without a stage under `(none)`). */
export function runUsage(nodes: Iterable<{ stage?: string; usage?: Usage }>): { total: Usage; by_stage: Record<string, Usage> } {
  const total = noUsage()
  const byStage: Record<string, Usage> = {}
  for (const n of nodes) {
    if (!n.usage) continue
    addUsage(total, n.usage)
    addUsage((byStage[n.stage ?? '(none)'] ??= noUsage()), n.usage)
  }
  return { total, by_stage: byStage }
}

/** `$0.0123 · 1,234 in / 567 out tokens · 3 calls` (and images, video, what is unpriced). */
export function formatUsage(u: Usage): string {
  const parts = [`$${u.cost_usd.toFixed(u.cost_usd > 0 && u.cost_usd < 0.01 ? 4 : 2)}`]
  if (u.model_calls) parts.push(`${u.input_tokens.toLocaleString('en')} in / ${u.output_tokens.toLocaleString('en')} out tokens in ${u.model_calls} call${u.model_calls === 1 ? '' : 's'}`)
  if (u.images) parts.push(`${u.images} image${u.images === 1 ? '' : 's'}`)
  if (u.video_s) parts.push(`${u.video_s} s of video`)
  if (u.unpriced) parts.push(`${u.unpriced} unpriced`)
  return parts.join(' · ')
}
