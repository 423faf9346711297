// Brand asset URLs of a request → files in the generation's folder → the pipeline's inputs.
import type { Pipeline } from '../engine/dsl/pipeline.ts'
import { fetchAsset, parseAssetAllowlist } from './fetch-asset.ts'

export interface BrandAssetUrls {
  product_images?: string[]
  character_images?: string[]
  logo?: string
}

/** Fetches the assets into `dir` and returns them as pipeline inputs (paths instead of URLs). */
export type AssetFetcher = (assets: BrandAssetUrls, dir: string, pipeline: Pipeline) => Promise<Record<string, unknown>>

/** `WEFT_ASSET_ALLOWLIST`: hosts (or host:port) that may resolve to private addresses, e.g. an intranet CDN. */
export function assetAllowlist(env: Record<string, string | undefined> = process.env): string[] {
  return parseAssetAllowlist(env.WEFT_ASSET_ALLOWLIST)
}

/**
 * The SSRF-safe fetcher for each URL (ASSET_UNREADABLE names the one refused). Pipelines that take
 * `product_images` / `character_images` / `logo` inputs (the default one) get those; a pipeline with one
 * `brand_assets` input gets the three together.
 */
export const fetchBrandAssets: AssetFetcher = async (assets, dir, pipeline) => {
  const allow = assetAllowlist()
  // the first asset refused stops the others (nothing is kept of a refused request)
  const stop = new AbortController()
  const get = (url: string, name: string) => fetchAsset(url, { destDir: dir, name, allow, signal: stop.signal }).then((a) => a.path, (err: unknown) => {
    stop.abort()
    throw err
  })
  const products = (assets.product_images ?? []).map((u, i) => get(u, `product-${i + 1}`))
  const characters = (assets.character_images ?? []).map((u, i) => get(u, `character-${i + 1}`))
  const logos = assets.logo ? [get(assets.logo, 'logo')] : []
  // every fetch settles (the stopped ones remove their temporary files) before a refusal is reported
  const settled = await Promise.allSettled([...products, ...characters, ...logos])
  const reasons = settled.flatMap((s) => (s.status === 'rejected' ? [s.reason as { details?: { reason?: string } }] : []))
  // the refusal that caused the others to stop, not one of the stopped
  if (reasons.length) throw reasons.find((r) => r?.details?.reason !== 'aborted') ?? reasons[0]
  const paths = settled.map((s) => (s as PromiseFulfilledResult<string>).value)
  const product = paths.slice(0, products.length)
  const character = paths.slice(products.length, products.length + characters.length)
  const logo = logos.length ? paths.at(-1) : undefined
  const split = { product_images: product, character_images: character, ...(logo ? { logo } : {}) }
  if ('product_images' in pipeline.inputs || 'character_images' in pipeline.inputs || 'logo' in pipeline.inputs) {
    return Object.fromEntries(Object.entries(split).filter(([k]) => k in pipeline.inputs))
  }
  return 'brand_assets' in pipeline.inputs ? { brand_assets: split } : {}
}

/** The inputs the fetched assets will become, with placeholder paths: for checking a request before fetching. */
export function standInAssets(assets: BrandAssetUrls, pipeline: Pipeline): Record<string, unknown> {
  const split = {
    product_images: (assets.product_images ?? []).map((_, i) => `product-${i + 1}`),
    character_images: (assets.character_images ?? []).map((_, i) => `character-${i + 1}`),
    ...(assets.logo ? { logo: 'logo' } : {}),
  }
  if ('product_images' in pipeline.inputs || 'character_images' in pipeline.inputs || 'logo' in pipeline.inputs) {
    return Object.fromEntries(Object.entries(split).filter(([k]) => k in pipeline.inputs))
  }
  return 'brand_assets' in pipeline.inputs ? { brand_assets: split } : {}
}
