// fan_out: runs a child node (or a small graph of steps) once per item of a list, at most `concurrency` at once, results in input order.
import { setMaxListeners } from 'node:events'
import * as v from 'valibot'
import { defineNode, type ChildOutcome } from '../engine/node-def.ts'
import { WeftError, type ErrorInfo } from '../engine/errors.ts'
import { isBudgetStop } from '../engine/meter.ts'

const ItemError = v.object({ index: v.number(), error: v.object({ code: v.string(), message: v.string() }) })

export const fanOutNode = defineNode({
  type: 'fan_out',
  description: 'Runs `node` (or the `steps` graph) once per element of `items` (with `item` and `index` in scope), in parallel up to `concurrency`.',
  runs: 'control',
  child: { field: 'node', graph: { field: 'steps', result: 'result' }, scope: { item: 'dyn', index: 'int' } },
  config: v.strictObject({
    /** The list to iterate over. */
    items: v.array(v.unknown()),
    /** Most items accepted; a longer list fails the node before any child runs (a guard against runaway lists). */
    max_items: v.optional(v.pipe(v.number(), v.integer(), v.minValue(1))),
    /** Most children running at once (default: no cap beyond the run's own). */
    concurrency: v.optional(v.pipe(v.number(), v.integer(), v.minValue(1))),
    /** `fail`: the first failed item fails the node; `skip`: failed items are left out of `results` and listed in `failed`; `collect`: they stay as `null`. */
    on_item_error: v.optional(v.picklist(['fail', 'skip', 'collect']), 'fail'),
    /** The node to run per item: `type` plus its fields; `${{ item }}` and `${{ index }}` are in scope. */
    node: v.optional(v.looseObject({ type: v.string() })),
    /** Instead of `node`: a small graph run per item, step ids to nodes; a step sees earlier ones as `${{ steps.<id>.output }}`. */
    steps: v.optional(v.record(v.string(), v.looseObject({ type: v.string() }))),
    /** With `steps`: what one item gives (default: a mapping of each step id to its output). */
    result: v.optional(v.unknown()),
  }),
  output: v.object({
    /** One output per item, in input order (see `on_item_error`). */
    results: v.array(v.unknown()),
    /** Items that failed, with their error; never dropped silently. */
    failed: v.array(ItemError),
  }),
  async execute(ctx) {
    const { items, concurrency, on_item_error: policy, max_items: maxItems } = ctx.config
    if (maxItems !== undefined && items.length > maxItems) {
      throw new WeftError('FAN_OUT_TOO_MANY_ITEMS', `${items.length} items, more than max_items (${maxItems})`, { retryable: false, details: { items: items.length, max_items: maxItems } })
    }
    const outcomes: Array<ChildOutcome | undefined> = new Array(items.length)
    const stop = new AbortController()
    // every running item listens on it (and what an item runs, a plugin's own listener included): as many as `concurrency`
    setMaxListeners(0, stop.signal)
    const onAbort = () => stop.abort(ctx.signal.reason)
    ctx.signal.addEventListener('abort', onAbort, { once: true })
    let next = 0
    let firstFailure: { index: number; error: ErrorInfo } | undefined
    const lane = async () => {
      while (next < items.length && !stop.signal.aborted) {
        const index = next++
        const outcome = await ctx.runChild({ item: items[index], index }, { signal: stop.signal, key: String(index) })
        outcomes[index] = outcome
        // a run out of budget stops: no item policy absorbs that
        if (!outcome.ok && (policy === 'fail' || isBudgetStop(outcome.error)) && !firstFailure) {
          firstFailure = { index, error: outcome.error }
          stop.abort(new WeftError('CANCELLED', 'another item failed'))
        }
      }
    }
    try {
      const lanes = Math.min(concurrency ?? items.length, items.length)
      await Promise.all(Array.from({ length: lanes }, lane))
    } finally {
      ctx.signal.removeEventListener('abort', onAbort)
    }
    if (ctx.signal.aborted) throw ctx.signal.reason
    if (firstFailure) {
      throw new WeftError('FAN_OUT_ITEM_FAILED', `item ${firstFailure.index} failed: ${firstFailure.error.code}: ${firstFailure.error.message}`, {
        details: firstFailure,
        retryable: firstFailure.error.retryable !== false,
      })
    }
    const results: unknown[] = []
    const failed: Array<{ index: number; error: { code: string; message: string } }> = []
    outcomes.forEach((o, index) => {
      if (!o) return
      if (o.ok) results.push(o.output)
      else {
        failed.push({ index, error: { code: o.error.code, message: o.error.message } })
        if (policy === 'collect') results.push(null)
      }
    })
    return { results, failed }
  },
})
