// render: media through the media provider — a reference image, a scene's video clip (scored, and re-rendered
// once when it scores below the acceptable threshold), or the stitched final video.
import { copyFile, mkdir, open, rm } from 'node:fs/promises'
import path from 'node:path'
import * as v from 'valibot'
import { defineNode, type NodeContext } from '../engine/node-def.ts'
import { WeftError } from '../engine/errors.ts'
import type { MediaRequest, MediaResult } from '../engine/ports.ts'
import { scoreClip } from '../engine/media/quality.ts'

const Hex = v.pipe(v.string(), v.regex(/^#[0-9a-fA-F]{6}$/, 'a colour such as #1e90ff'))
const Transition = v.union([
  v.picklist(['cut', 'crossfade', 'fade']),
  v.strictObject({ type: v.picklist(['cut', 'crossfade', 'fade']), duration_s: v.optional(v.pipe(v.number(), v.minValue(0), v.maxValue(5))) }),
])
/** Default length of each transition, after the cohesion rule in pipelines/default.yaml. */
const TRANSITION_S = { cut: 0, crossfade: 0.5, fade: 0.8 } as const

const QualitySchema = v.strictObject({
  /** Score the clip at all (default true). */
  enabled: v.optional(v.boolean(), true),
  /** Below this score (0–100) the clip is rendered again. */
  threshold: v.optional(v.pipe(v.number(), v.minValue(0), v.maxValue(100)), 60),
  /** How many extra renders a clip below the threshold gets (default 1). */
  rerenders: v.optional(v.pipe(v.number(), v.integer(), v.minValue(0), v.maxValue(5)), 1),
})

const RenderConfigSchema = v.strictObject({
  kind: v.picklist(['image', 'video', 'stitch']),
  /** Echoed in the output, to tell renders apart downstream (e.g. the scene number of a clip). */
  label: v.optional(v.union([v.string(), v.number()])),
  /** Output file, relative to the run's folder (it cannot leave it), e.g. `clips/scene-1.mp4`. */
  out: v.pipe(v.string(), v.minLength(1)),
  /** image, video: what it shows. */
  prompt: v.optional(v.string()),
  /** image: an existing file (a brand asset) to use instead of generating; empty means generate. */
  asset: v.optional(v.string()),
  /** image: the reference's role (character, product, environment, logo). */
  role: v.optional(v.string()),
  title: v.optional(v.string()),
  /** image, video: the media model, e.g. `google/veo-3.1` (Replicate's `owner/name[:version]`); empty or unset: the provider's. */
  model: v.optional(v.union([v.literal(''), v.pipe(v.string(), v.regex(/^[a-z0-9][\w.-]*\/[\w.-]+(:[0-9a-f]{6,})?$/, 'a model such as google/veo-3.1 or owner/name:version'))])),
  width: v.optional(v.pipe(v.number(), v.integer(), v.minValue(16), v.maxValue(3840)), 1280),
  height: v.optional(v.pipe(v.number(), v.integer(), v.minValue(16), v.maxValue(2160)), 720),
  palette: v.optional(v.array(Hex)),
  seed: v.optional(v.pipe(v.number(), v.integer())),
  /** video: clip length in seconds. */
  duration_s: v.optional(v.pipe(v.number(), v.minValue(0.5), v.maxValue(60))),
  fps: v.optional(v.pipe(v.number(), v.integer(), v.minValue(1), v.maxValue(60)), 24),
  /** video: reference images to stay consistent with (paths of earlier renders). */
  images: v.optional(v.array(v.string())),
  camera: v.optional(v.string()),
  caption: v.optional(v.string()),
  /** video: score the clip from the file itself and re-render one that scores too low. */
  quality: v.optional(QualitySchema),
  /**
   * stitch: the clips in order (paths, or render outputs with a `path`). A `null` (a clip that failed, as a
   * fan-out with `on_item_error: collect` leaves it) is left out, and the join across it fades through black.
   */
  clips: v.optional(v.array(v.nullable(v.union([v.string(), v.looseObject({ path: v.string() })])))),
  /** stitch: between clip i and i+1: `cut`, `crossfade` (0.5 s) or `fade` through black (0.8 s), or `{ type, duration_s }`. */
  transitions: v.optional(v.array(Transition)),
  /** stitch: fade in at the start and out at the end (seconds). */
  fade_s: v.optional(v.pipe(v.number(), v.minValue(0), v.maxValue(5)), 0.5),
})
type RenderConfig = v.InferOutput<typeof RenderConfigSchema>

export const renderNode = defineNode({
  type: 'render',
  cache: true,
  description: 'Renders media with the media provider: `kind: image | video | stitch`.',
  config: RenderConfigSchema,
  output: v.object({
    path: v.string(),
    kind: v.picklist(['image', 'video']),
    width: v.number(),
    height: v.number(),
    duration_s: v.optional(v.number()),
    /** The provider (and model) that made it, or `asset` for a supplied file. */
    source: v.string(),
    /** image: the `role` it was made for. */
    role: v.optional(v.string()),
    /** The node's `label`, when given. */
    label: v.optional(v.union([v.string(), v.number()])),
    /** video with `quality`: the kept render's score (0–100) and its breakdown. */
    quality: v.optional(v.object({ score: v.number(), breakdown: v.record(v.string(), v.number()), renders: v.number(), acceptable: v.boolean() })),
  }),
  async execute(ctx) {
    const c = ctx.config
    const result = await make(ctx)
    return { ...result, ...opt({ role: c.kind === 'image' ? c.role : undefined, label: c.label }) }
  },
})

async function make(ctx: NodeContext<RenderConfig>) {
  const c = ctx.config
  const out = inside(ctx.workDir, c.out)
  await mkdir(path.dirname(out), { recursive: true })
  if (c.kind === 'image') {
    if (c.asset) return importAsset(c.asset, out, c.width, c.height)
    return render(ctx, {
      kind: 'image',
      out,
      prompt: need(c.prompt, 'prompt', ctx),
      width: c.width,
      height: c.height,
      ...opt({ role: c.role, palette: c.palette, title: c.title, seed: c.seed, model: c.model || undefined }),
    })
  }
  if (c.kind === 'video') {
    const req: MediaRequest = {
      kind: 'video',
      out,
      prompt: need(c.prompt, 'prompt', ctx),
      duration_s: need(c.duration_s, 'duration_s', ctx),
      width: c.width,
      height: c.height,
      fps: c.fps,
      ...opt({ images: c.images?.filter(Boolean).map((p) => path.resolve(ctx.workDir, p)), palette: c.palette, camera: c.camera, caption: c.caption, seed: c.seed, model: c.model || undefined }),
    }
    return c.quality?.enabled === false || !c.quality ? render(ctx, req) : renderScored(ctx, req, c.quality)
  }
  // transitions are written per slot (between slot i and i+1): keep each join's own, and fade across a gap
  const slots = need(c.clips, 'clips', ctx)
  const clips: string[] = []
  const joins: Array<v.InferOutput<typeof Transition> | undefined> = []
  let gap = false
  slots.forEach((x, i) => {
    if (x === null) {
      gap = clips.length > 0
      return
    }
    if (clips.length > 0) joins.push(gap ? 'fade' : c.transitions?.[i - 1])
    clips.push(path.resolve(ctx.workDir, typeof x === 'string' ? x : x.path))
    gap = false
  })
  if (clips.length === 0) throw new WeftError('MEDIA_INPUT_INVALID', `node "${ctx.node.id}": nothing to stitch (no clips)`, { retryable: false })
  // a join with no transition given is a cut
  const transitions = joins.map((t) => {
    const type = t === undefined ? 'cut' : typeof t === 'string' ? t : t.type
    return { type, duration_s: t === undefined || typeof t === 'string' || t.duration_s === undefined ? TRANSITION_S[type] : t.duration_s }
  })
  return render(ctx, { kind: 'stitch', out, clips, transitions, fade_s: c.fade_s, fps: c.fps })
}

type Quality = v.InferOutput<typeof QualitySchema>

async function render(ctx: NodeContext, req: MediaRequest): Promise<MediaResult> {
  const media = ctx.providers.media
  if (!media) throw new WeftError('NO_MEDIA_PROVIDER', `node "${ctx.node.id}" renders media but this run has no media provider`, { retryable: false })
  ctx.emit({ message: `rendering ${req.kind} ${path.basename(req.out)}` })
  // a file already there may be shared with other runs (the node cache links files): write a new one, never into it
  await rm(req.out, { force: true })
  return media.render(req, { signal: ctx.signal, idempotencyKey: `${ctx.idempotencyKey}:${req.kind}:${'seed' in req ? (req.seed ?? 0) : 0}` })
}

/** Renders, scores the file, and renders again (new seed) while it scores below the threshold; keeps the best. */
async function renderScored(ctx: NodeContext, req: Extract<MediaRequest, { kind: 'video' }>, q: Quality) {
  let best: { result: MediaResult; score: number; breakdown: Record<string, number> } | undefined
  const seed = req.seed ?? 0
  let renders = 0
  for (let i = 0; i <= q.rerenders; i++) {
    // each try writes its own file; the kept one ends up at `out`
    const tryOut = i === 0 ? req.out : req.out.replace(/(\.[^./]+)?$/, `.try${i}$1`)
    const result = await render(ctx, { ...req, out: tryOut, seed: seed + i })
    renders++
    const { score, breakdown } = await scoreClip(result.path, { signal: ctx.signal })
    ctx.emit({ message: `${path.basename(req.out)} scored ${score}`, score, render: renders })
    if (!best || score > best.score) best = { result, score, breakdown: { ...breakdown } }
    if (score >= q.threshold) break
  }
  const kept = best!
  if (kept.result.path !== req.out) {
    await rm(req.out, { force: true })
    await copyFile(kept.result.path, req.out)
    kept.result = { ...kept.result, path: req.out }
  }
  return { ...kept.result, quality: { score: kept.score, breakdown: kept.breakdown, renders, acceptable: kept.score >= q.threshold } }
}

/** A supplied brand asset: checked to be a readable image, copied into the run's folder. */
async function importAsset(asset: string, out: string, width: number, height: number): Promise<MediaResult> {
  if (/^[a-z][a-z0-9+.-]*:\/\//i.test(asset)) {
    throw new WeftError('ASSET_UNREADABLE', `brand asset ${asset}: URLs are fetched by the server (weft serve); from the command line pass a file path`, { retryable: false })
  }
  const src = path.resolve(asset)
  let head: Buffer
  try {
    const fh = await open(src, 'r')
    try {
      head = Buffer.alloc(12)
      await fh.read(head, 0, 12, 0)
    } finally {
      await fh.close()
    }
  } catch (err) {
    throw new WeftError('ASSET_UNREADABLE', `brand asset ${asset} cannot be read: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`, { retryable: false })
  }
  const ext = imageType(head)
  if (!ext) throw new WeftError('ASSET_UNREADABLE', `brand asset ${asset} is not a PNG, JPEG or WebP image`, { retryable: false })
  const dest = out.replace(/(\.[^./]+)?$/, `.${ext}`)
  await rm(dest, { force: true })
  await copyFile(src, dest)
  return { path: dest, kind: 'image', width, height, source: 'asset' }
}

function imageType(b: Buffer): string | undefined {
  if (b.subarray(0, 8).equals(Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]))) return 'png'
  if (b[0] === 0xff && b[1] === 0xd8 && b[2] === 0xff) return 'jpg'
  if (b.subarray(0, 4).toString('latin1') === 'RIFF' && b.subarray(8, 12).toString('latin1') === 'WEBP') return 'webp'
  return undefined
}

/** A path under the run's folder; `..` or an absolute path that leaves it is refused. */
function inside(root: string, rel: string): string {
  const abs = path.resolve(root, rel)
  if (abs !== root && !abs.startsWith(root + path.sep)) throw new WeftError('PATH_OUTSIDE_RUN', `"${rel}" is outside the run's folder`, { retryable: false })
  return abs
}

function need<T>(value: T | undefined, field: string, ctx: NodeContext): T {
  if (value === undefined) throw new WeftError('CONFIG_INVALID', `node "${ctx.node.id}" (render, kind ${(ctx.config as { kind: string }).kind}) needs \`${field}\``, { retryable: false })
  return value
}

/** Drops undefined fields (exactOptionalPropertyTypes). */
function opt<T extends Record<string, unknown>>(o: T): { [K in keyof T]?: Exclude<T[K], undefined> } {
  return Object.fromEntries(Object.entries(o).filter(([, x]) => x !== undefined)) as { [K in keyof T]?: Exclude<T[K], undefined> }
}
