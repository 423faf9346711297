// Brand asset images uploaded by clients: stored content-addressed under the data directory, named in requests as `upload:<sha256>`.
import { createHash, randomBytes } from 'node:crypto'
import { constants } from 'node:fs'
import { copyFile, mkdir, open, rename, rm, stat } from 'node:fs/promises'
import path from 'node:path'
import { WeftError } from '../engine/errors.ts'
import { ASSET_EXTENSIONS, MAX_ASSET_BYTES, sniffImage, type AssetType } from './fetch-asset.ts'

/** The media type of each asset type: what an upload may be sent as, and what its answer calls it. */
export const ASSET_MEDIA_TYPES: Readonly<Record<AssetType, string>> = { png: 'image/png', jpeg: 'image/jpeg', webp: 'image/webp' }

/** Content-Types `POST /api/v2/uploads` accepts. */
export const UPLOAD_MEDIA_TYPES: readonly string[] = Object.values(ASSET_MEDIA_TYPES)

/** Largest upload in bytes: the same cap as a fetched asset. */
export const MAX_UPLOAD_BYTES = MAX_ASSET_BYTES

/** The prefix that marks a brand asset entry as an upload rather than a URL. */
const UPLOAD_REF_PREFIX = 'upload:'

/** A stored upload. */
export interface StoredUpload {
  /** SHA-256 of the bytes, 64 lowercase hex digits. */
  id: string
  /** `upload:<id>`. */
  ref: string
  type: AssetType
  /** Bytes. */
  size: number
  /** Where the file is: `<uploads dir>/<id>.<png|jpg|webp>`. */
  path: string
}

/** Why an upload ref was refused: `details.reason` of its `ASSET_UNREADABLE` error. */
type UploadRefFailure = 'bad_ref' | 'unknown_upload'

const REF = /^upload:([0-9a-f]{64})$/i

/** Whether a brand asset entry names an upload (well formed or not) rather than a URL. */
export function isUploadRef(value: string): boolean {
  return value.startsWith(UPLOAD_REF_PREFIX)
}

/**
 * Uploaded images in one folder, each as `<sha256>.<ext>`: the same bytes are stored once, under the same id.
 * A file is written to a temporary name and renamed into place, so a crash never leaves half a file under an id.
 */
export class UploadStore {
  constructor(
    readonly dir: string,
    private readonly maxBytes = MAX_UPLOAD_BYTES,
  ) {}

  /**
   * Stores `bytes` when they are a PNG, JPEG or WebP image (recognised from the first bytes, whatever the
   * client called them). Over the size cap → PAYLOAD_TOO_LARGE; not such an image → ASSET_UNREADABLE.
   */
  async save(bytes: Uint8Array): Promise<StoredUpload> {
    if (bytes.length > this.maxBytes) {
      throw new WeftError('PAYLOAD_TOO_LARGE', `the file is ${bytes.length} bytes, over the ${this.maxBytes}-byte limit of a brand asset`, {
        retryable: false,
        details: { bytes: bytes.length, maxBytes: this.maxBytes },
      })
    }
    const head = Buffer.from(bytes.buffer, bytes.byteOffset, Math.min(bytes.length, 12))
    const type = bytes.length >= 12 ? sniffImage(head) : undefined
    if (!type) {
      const seen =
        bytes.length === 0
          ? 'the body is empty'
          : `its first bytes are ${head
              .subarray(0, 8)
              .toString('hex')
              .replace(/(..)(?!$)/g, '$1 ')}`
      throw new WeftError('ASSET_UNREADABLE', `the upload is not a PNG, JPEG or WebP image (checked by its first bytes; ${seen})`, {
        retryable: false,
        details: { reason: 'not_image', bytes: bytes.length },
      })
    }
    const id = createHash('sha256').update(bytes).digest('hex')
    const dest = path.join(this.dir, `${id}.${ASSET_EXTENSIONS[type]}`)
    const stored: StoredUpload = { id, ref: `${UPLOAD_REF_PREFIX}${id}`, type, size: bytes.length, path: dest }
    // the same bytes were stored before: the name says what is in the file
    if (
      await stat(dest).then(
        (s) => s.isFile() && s.size === bytes.length,
        () => false,
      )
    )
      return stored
    await mkdir(this.dir, { recursive: true })
    const temp = path.join(this.dir, `.${id}.${randomBytes(6).toString('hex')}.part`)
    try {
      const file = await open(temp, 'wx')
      try {
        await file.writeFile(bytes)
        await file.sync()
      } finally {
        await file.close()
      }
      await rename(temp, dest)
    } catch (err) {
      await rm(temp, { force: true })
      throw err
    }
    return stored
  }

  /**
   * The upload a brand asset entry names; `field` is its dotted path in the request (`brand_assets.logo`).
   * A ref that is not `upload:<64 hex digits>`, or names nothing stored here → ASSET_UNREADABLE naming `field`.
   */
  async find(ref: string, field: string): Promise<StoredUpload> {
    const id = REF.exec(ref)?.[1]?.toLowerCase()
    if (!id) throw refused(field, ref, 'bad_ref', `"${ref.slice(0, 80)}" is not an upload ref ("upload:" and the 64 hex digits of the file's SHA-256, as POST /api/v2/uploads answers)`)
    for (const [type, ext] of Object.entries(ASSET_EXTENSIONS) as Array<[AssetType, string]>) {
      const file = path.join(this.dir, `${id}.${ext}`)
      const size = await stat(file).then(
        (s) => (s.isFile() ? s.size : undefined),
        () => undefined,
      )
      if (size !== undefined) return { id, ref: `${UPLOAD_REF_PREFIX}${id}`, type, size, path: file }
    }
    throw refused(field, ref, 'unknown_upload', `no upload "${UPLOAD_REF_PREFIX}${id}" on this server; upload the file with POST /api/v2/uploads first`)
  }

  /**
   * Copies an upload to `destDir/<name>.<ext>`, where a fetched asset of that name would go, and returns the
   * path. A copy (a clone where the file system can), not a link: a run that changes its file leaves the upload as it was.
   */
  async copyTo(upload: StoredUpload, destDir: string, name: string, field: string): Promise<string> {
    await mkdir(destDir, { recursive: true })
    const dest = path.join(destDir, `${name}.${ASSET_EXTENSIONS[upload.type]}`)
    try {
      await copyFile(upload.path, dest, constants.COPYFILE_FICLONE)
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') throw refused(field, upload.ref, 'unknown_upload', `upload "${upload.ref}" is gone from this server; upload the file again`)
      throw err
    }
    return dest
  }
}

function refused(field: string, ref: string, reason: UploadRefFailure, why: string): WeftError {
  const message = `${field}: ${why}`
  return new WeftError('ASSET_UNREADABLE', message, { retryable: false, details: { ref: ref.slice(0, 80), reason, issues: [{ path: field, message: why }] } })
}
