// Brand asset URLs (and upload refs) of a request → files in the generation's folder → the pipeline's inputs.
import type { Pipeline } from '../engine/dsl/pipeline.ts'
import { WeftError } from '../engine/errors.ts'
import { fetchAsset, parseAssetAllowlist } from './fetch-asset.ts'
import { isUploadRef, type StoredUpload, type UploadStore } from './uploads.ts'

/** Each entry is an http(s) URL or an `upload:<sha256>` ref (from `POST /api/v2/uploads`). */
export interface BrandAssetUrls {
  product_images?: string[]
  character_images?: string[]
  logo?: string
}

/**
 * Fetches the assets into `dir` (copying the uploads `uploads` holds) and returns them as pipeline inputs (paths
 * instead of URLs).
 */
export type AssetFetcher = (assets: BrandAssetUrls, dir: string, pipeline: Pipeline, uploads?: UploadStore) => Promise<Record<string, unknown>>

/** `WEFT_ASSET_ALLOWLIST`: hosts (or host:port) that may resolve to private addresses, e.g. an intranet CDN. */
function assetAllowlist(env: Record<string, string | undefined> = process.env): string[] {
  return parseAssetAllowlist(env.WEFT_ASSET_ALLOWLIST)
}

/**
 * The SSRF-safe fetcher for each URL (ASSET_UNREADABLE names the one refused); an `upload:` ref is copied from
 * `uploads` to where its fetched file would go. Pipelines that take `product_images` / `character_images` /
 * `logo` inputs (the default one) get those; a pipeline with one `brand_assets` input gets the three together.
 */
export const fetchBrandAssets: AssetFetcher = async (assets, dir, pipeline, uploads) => {
  const allow = assetAllowlist()
  const files = planned(assets)
  // every upload ref is checked before anything is fetched (ASSET_UNREADABLE names the field of the first refused)
  const stored = await Promise.all(files.map(({ url, field }) => (isUploadRef(url) ? findUpload(uploads, url, field) : undefined)))
  // the first asset refused stops the others (nothing is kept of a refused request)
  const stop = new AbortController()
  const fetches = files.map(({ url, name, field }, i) => {
    const upload = stored[i]
    const written = upload ? uploads!.copyTo(upload, dir, name, field) : fetchAsset(url, { destDir: dir, name, allow, signal: stop.signal }).then((a) => a.path)
    return written.catch((err: unknown) => {
      stop.abort()
      throw err
    })
  })
  // every fetch settles (the stopped ones remove their temporary files) before a refusal is reported
  const settled = await Promise.allSettled(fetches)
  const reasons = settled.flatMap((s) => (s.status === 'rejected' ? [s.reason as { details?: { reason?: string } }] : []))
  // the refusal that caused the others to stop, not one of the stopped
  if (reasons.length) throw reasons.find((r) => r?.details?.reason !== 'aborted') ?? reasons[0]
  return asInputs(
    files.map((f, i) => ({ ...f, value: (settled[i] as PromiseFulfilledResult<string>).value })),
    pipeline,
  )
}

/** The inputs the fetched assets will become, with placeholder paths: for checking a request before fetching. */
export function standInAssets(assets: BrandAssetUrls, pipeline: Pipeline): Record<string, unknown> {
  return asInputs(
    planned(assets).map((f) => ({ ...f, value: f.name })),
    pipeline,
  )
}

type Role = 'product_images' | 'character_images' | 'logo'

/** Every asset of a request with the file name it is saved under and its path in the request, in request order. */
function planned(assets: BrandAssetUrls): Array<{ role: Role; name: string; url: string; field: string }> {
  return [
    ...(assets.product_images ?? []).map((url, i) => ({ role: 'product_images' as const, name: `product-${i + 1}`, url, field: `brand_assets.product_images.${i}` })),
    ...(assets.character_images ?? []).map((url, i) => ({ role: 'character_images' as const, name: `character-${i + 1}`, url, field: `brand_assets.character_images.${i}` })),
    ...(assets.logo ? [{ role: 'logo' as const, name: 'logo', url: assets.logo, field: 'brand_assets.logo' }] : []),
  ]
}

function findUpload(uploads: UploadStore | undefined, ref: string, field: string): Promise<StoredUpload> {
  if (!uploads)
    return Promise.reject(
      new WeftError('ASSET_UNREADABLE', `${field}: this server takes no uploads; give an http(s) URL`, {
        retryable: false,
        details: { ref: ref.slice(0, 80), reason: 'unknown_upload', issues: [{ path: field, message: 'this server takes no uploads' }] },
      }),
    )
  return uploads.find(ref, field)
}

/**
 * Assets as the pipeline's inputs: `product_images` / `character_images` / `logo` (the default pipeline),
 * or the three together as one `brand_assets` input.
 */
function asInputs(files: Array<{ role: Role; value: string }>, pipeline: Pipeline): Record<string, unknown> {
  const pick = (role: Role) => files.filter((f) => f.role === role).map((f) => f.value)
  const logo = pick('logo')[0]
  const split = { product_images: pick('product_images'), character_images: pick('character_images'), ...(logo ? { logo } : {}) }
  if ('product_images' in pipeline.inputs || 'character_images' in pipeline.inputs || 'logo' in pipeline.inputs) {
    return Object.fromEntries(Object.entries(split).filter(([k]) => k in pipeline.inputs))
  }
  return 'brand_assets' in pipeline.inputs ? { brand_assets: split } : {}
}
