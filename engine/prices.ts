// The price table: USD per million tokens for models, per image and per second of video for media models. Prices
// change: the defaults are list prices the providers published (checked 2026-11), and `WEFT_PRICES` names a JSON or
// YAML file whose entries replace or add to them. A model not in the table is counted as unpriced, never as free.
import { readFileSync } from 'node:fs'
import { parse } from 'yaml'
import * as v from 'valibot'
import { WeftError } from './errors.ts'
import type { Usage } from './usage.ts'
import { noUsage } from './usage.ts'

const ModelPrice = v.strictObject({ input_per_1m: v.pipe(v.number(), v.minValue(0)), output_per_1m: v.pipe(v.number(), v.minValue(0)) })
const MediaPrice = v.strictObject({ per_image: v.optional(v.pipe(v.number(), v.minValue(0))), per_second: v.optional(v.pipe(v.number(), v.minValue(0))) })
const PriceFile = v.strictObject({
  models: v.optional(v.record(v.string(), ModelPrice), {}),
  media: v.optional(v.record(v.string(), MediaPrice), {}),
})
export type PriceTable = v.InferOutput<typeof PriceFile>

/**
 * Keys match a model id exactly or as a prefix (`gpt-4o-mini` prices `gpt-4o-mini-2024-07-18`); the longest wins. A
 * model ref's provider may be part of the key (`ollama/llama3.1`, for a server of one's own) or not (`openai/gpt-4o`
 * is priced by `gpt-4o`).
 */
export const defaultPrices: PriceTable = {
  models: {
    // the offline model runs here and costs nothing
    offline: { input_per_1m: 0, output_per_1m: 0 },
    'gpt-4o-mini': { input_per_1m: 0.15, output_per_1m: 0.6 },
    'gpt-4o': { input_per_1m: 2.5, output_per_1m: 10 },
    'gpt-4.1-mini': { input_per_1m: 0.4, output_per_1m: 1.6 },
    'gpt-4.1': { input_per_1m: 2, output_per_1m: 8 },
    'gpt-5': { input_per_1m: 1.25, output_per_1m: 10 },
    'gpt-5-mini': { input_per_1m: 0.25, output_per_1m: 2 },
    'gpt-5-nano': { input_per_1m: 0.05, output_per_1m: 0.4 },
    'claude-3-5-haiku': { input_per_1m: 0.8, output_per_1m: 4 },
    'claude-haiku-4-5': { input_per_1m: 1, output_per_1m: 5 },
    'claude-sonnet-4': { input_per_1m: 3, output_per_1m: 15 },
    'claude-opus-4-1': { input_per_1m: 15, output_per_1m: 75 },
    'gemini-2.0-flash': { input_per_1m: 0.1, output_per_1m: 0.4 },
    'gemini-2.5-flash': { input_per_1m: 0.3, output_per_1m: 2.5 },
    'gemini-2.5-pro': { input_per_1m: 1.25, output_per_1m: 10 },
  },
  media: {
    'local/ffmpeg': { per_image: 0, per_second: 0 },
    'replicate/black-forest-labs/flux-schnell': { per_image: 0.003 },
  },
}

let loaded: { file: string | undefined; table: PriceTable } | undefined

/** The table in force: the defaults, with the entries of `WEFT_PRICES` over them. PRICES_INVALID names the problem. */
export function prices(env: Record<string, string | undefined> = process.env): PriceTable {
  const file = env.WEFT_PRICES || undefined
  if (loaded && loaded.file === file) return loaded.table
  let table = defaultPrices
  if (file) {
    let raw: unknown
    try {
      raw = parse(readFileSync(file, 'utf8'))
    } catch (err) {
      throw new WeftError('PRICES_INVALID', `WEFT_PRICES ${file} cannot be read: ${(err as Error).message.split('\n')[0]}`, { retryable: false })
    }
    const res = v.safeParse(PriceFile, raw ?? {})
    if (!res.success) throw new WeftError('PRICES_INVALID', `WEFT_PRICES ${file}: ${res.issues.map((i) => `${v.getDotPath(i) ?? '(top level)'}: ${i.message}`).join('; ')}`, { retryable: false })
    table = { models: { ...defaultPrices.models, ...res.output.models }, media: { ...defaultPrices.media, ...res.output.media } }
  }
  loaded = { file, table }
  return table
}

function lookup<T>(entries: Record<string, T>, id: string): T | undefined {
  let best: string | undefined
  for (const k of Object.keys(entries)) if ((id === k || id.startsWith(k)) && (!best || k.length > best.length)) best = k
  return best === undefined ? undefined : entries[best]
}

/** The price of a model ref: by the whole ref, else by its model id without the provider. */
function modelPrice(table: PriceTable, model: string): PriceTable['models'][string] | undefined {
  const slash = model.indexOf('/')
  return lookup(table.models, model) ?? (slash === -1 ? undefined : lookup(table.models, model.slice(slash + 1)))
}

/** One model call's usage and cost. */
export function modelCall(table: PriceTable, model: string, inputTokens: number, outputTokens: number): Usage {
  const price = modelPrice(table, model)
  const u = noUsage()
  u.model_calls = 1
  u.input_tokens = inputTokens
  u.output_tokens = outputTokens
  if (price) u.cost_usd = (inputTokens * price.input_per_1m + outputTokens * price.output_per_1m) / 1e6
  else u.unpriced = 1
  return u
}

/** One image or clip made by a media model (`source` as the provider reports it, e.g. `replicate/google/veo-3.1`). */
export function mediaMade(table: PriceTable, source: string, kind: 'image' | 'video', seconds = 0): Usage {
  const price = lookup(table.media, source)
  const u = noUsage()
  if (kind === 'image') u.images = 1
  else u.video_s = seconds
  const rate = kind === 'image' ? price?.per_image : price?.per_second
  if (rate === undefined) u.unpriced = 1
  else u.cost_usd = kind === 'image' ? rate : rate * seconds
  return u
}
