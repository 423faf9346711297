// The default mapping of Weft media requests to Replicate model inputs (flux-style image models, Veo-style video models).
import { readFile } from 'node:fs/promises'
import path from 'node:path'
import type { ImageRequest, VideoRequest } from '../ports.ts'

/** Aspect ratios image models such as flux-schnell accept. */
export const IMAGE_ASPECT_RATIOS = ['1:1', '16:9', '21:9', '3:2', '2:3', '4:5', '5:4', '3:4', '4:3', '9:16', '9:21'] as const
/** Aspect ratios video models such as Veo 3.1 accept. */
export const VIDEO_ASPECT_RATIOS = ['16:9', '9:16'] as const

/** The accepted ratio closest to `width:height` (compared on a log scale, so 2:1 and 1:2 are as far from 1:1). */
export function aspectRatio(width: number, height: number, accepted: readonly string[]): string {
  const target = Math.log(width / height)
  let best = accepted[0]!
  let bestDistance = Infinity
  for (const ratio of accepted) {
    const [w, h] = ratio.split(':').map(Number) as [number, number]
    const distance = Math.abs(Math.log(w / h) - target)
    if (distance < bestDistance) [best, bestDistance] = [ratio, distance]
  }
  return best
}

/**
 * Image request → `{ prompt, aspect_ratio, seed? }`. The palette, when given, is appended to the prompt
 * (`Colour palette: #…`), since image models take no palette input. Width and height choose the closest
 * accepted aspect ratio; the model picks the pixel size.
 */
export function imageInput(req: ImageRequest): Record<string, unknown> {
  const input: Record<string, unknown> = {
    prompt: withHints(req.prompt, [req.palette?.length ? `Colour palette: ${req.palette.join(', ')}.` : undefined]),
    aspect_ratio: aspectRatio(req.width, req.height, IMAGE_ASPECT_RATIOS),
  }
  if (req.seed !== undefined) input.seed = req.seed
  return input
}

/**
 * Video request → `{ prompt, duration, aspect_ratio, reference_images?, seed? }`. `duration` is
 * `duration_s` rounded to whole seconds; `reference_images` are the request's images read into data URIs
 * (left out when there are none); the camera direction and palette are appended to the prompt. The caption
 * is not sent: video models draw text poorly, so captions belong to a later overlay step.
 */
export async function videoInput(req: VideoRequest): Promise<Record<string, unknown>> {
  const input: Record<string, unknown> = {
    prompt: withHints(req.prompt, [req.camera ? `Camera: ${req.camera}.` : undefined, req.palette?.length ? `Colour palette: ${req.palette.join(', ')}.` : undefined]),
    duration: Math.round(req.duration_s),
    aspect_ratio: aspectRatio(req.width, req.height, VIDEO_ASPECT_RATIOS),
  }
  if (req.images?.length) input.reference_images = await Promise.all(req.images.map(dataUri))
  if (req.seed !== undefined) input.seed = req.seed
  return input
}

const MIME: Record<string, string> = { '.png': 'image/png', '.jpg': 'image/jpeg', '.jpeg': 'image/jpeg', '.webp': 'image/webp', '.gif': 'image/gif' }

/** A file as a `data:` URI, its type from its extension. */
async function dataUri(file: string): Promise<string> {
  const mime = MIME[path.extname(file).toLowerCase()] ?? 'application/octet-stream'
  return `data:${mime};base64,${(await readFile(file)).toString('base64')}`
}

function withHints(prompt: string, hints: Array<string | undefined>): string {
  return [prompt, ...hints.filter((h) => h !== undefined)].join(' ')
}
