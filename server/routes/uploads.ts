// The uploads resource: the raw bytes of a brand asset image, for `upload:<sha256>` refs in brand_assets.
import { Hono } from 'hono'
import { accept } from '../request-body.ts'
import { UPLOAD_MEDIA_TYPES } from '../uploads.ts'
import type { Env, RouteKit } from './kit.ts'

/** Routes under /api/v2/uploads. */
export function uploadRoutes({ service, limitUpload, perCallerUpload }: RouteKit): Hono<Env> {
  const r = new Hono<Env>()
  r.post('/', perCallerUpload, accept(UPLOAD_MEDIA_TYPES), limitUpload, async (c) => {
    const saved = await service.saveUpload(new Uint8Array(await c.req.arrayBuffer()))
    return c.json({ upload_id: saved.uploadId, ref: saved.ref, content_type: saved.contentType, size: saved.size }, 201)
  })
  return r
}
