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
  const get = async (url: string, name: string) => (await fetchAsset(url, { destDir: dir, name, allow })).path
  const product = await Promise.all((assets.product_images ?? []).map((u, i) => get(u, `product-${i + 1}`)))
  const character = await Promise.all((assets.character_images ?? []).map((u, i) => get(u, `character-${i + 1}`)))
  const logo = assets.logo ? await get(assets.logo, 'logo') : undefined
  const split = { product_images: product, character_images: character, ...(logo ? { logo } : {}) }
  if ('product_images' in pipeline.inputs || 'character_images' in pipeline.inputs || 'logo' in pipeline.inputs) {
    return Object.fromEntries(Object.entries(split).filter(([k]) => k in pipeline.inputs))
  }
  return 'brand_assets' in pipeline.inputs ? { brand_assets: split } : {}
}
