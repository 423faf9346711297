// HTTP error shapes: WeftError codes → statuses, and the one JSON body every error response has.
import type { Context } from 'hono'
import type { ContentfulStatusCode } from 'hono/utils/http-status'
import * as v from 'valibot'
import { issueSentence } from '../engine/dsl/issues.ts'
import { ERROR_CODES, type ErrorCodeInfo, httpStatusOf } from '../engine/error-codes.ts'
import type { WeftError } from '../engine/errors.ts'

/** One problem in a request (or in the inputs/config a service rejected), at its dotted path. */
export interface ApiIssue {
  /** Dotted path inside the body or query (`brand_assets.product_images.0`); `''` for the whole of it. */
  path: string
  message: string
  /** A machine-readable code when the source had one (a diagnostic code, a valibot issue type). */
  code?: string
}

/** The body of every error response: `{ error: { code, message, issues? } }`. */
interface ApiErrorBody {
  error: { code: string; message: string; issues?: ApiIssue[] }
}

/** Every code the API answers with a status of its own, from the one code table (engine/error-codes.ts); the rest are 500 INTERNAL. */
export const HTTP_CODES: Readonly<Record<string, ContentfulStatusCode>> = Object.fromEntries(
  Object.entries(ERROR_CODES as Record<string, ErrorCodeInfo>).flatMap(([code, info]) => (info.http !== undefined ? [[code, info.http]] : [])),
)

/** Whether a code is the client's to hear about (a 4xx): its message goes back; anything else is answered as INTERNAL. */
export function isClientError(code: string): boolean {
  return statusForCode(code) !== undefined
}

/** The status for a service error code, or undefined when the code is not a client's problem (→ 500). */
function statusForCode(code: string): ContentfulStatusCode | undefined {
  const status = httpStatusOf(code)
  return status === undefined || status >= 500 ? undefined : status
}

/** A JSON error response. */
export function errorResponse(c: Context, status: ContentfulStatusCode, code: string, message: string, issues?: ApiIssue[]): Response {
  const body: ApiErrorBody = { error: { code, message, ...(issues?.length ? { issues } : {}) } }
  return c.json(body, status)
}

/** Every valibot issue with its dotted path (`v.getDotPath`), in the order valibot found them. */
export function valibotIssues(issues: readonly v.BaseIssue<unknown>[]): ApiIssue[] {
  return issues.map((issue) => {
    const path = v.getDotPath(issue) ?? ''
    return { path, message: issueSentence(issue, path), code: issue.type }
  })
}

/**
 * Issues carried by a service error: `details.issues` (`[{ path, message, code? }]`), or diagnostics
 * (`details` as `[{ path, message, code }]`, as PIPELINE_INVALID carries them). Anything else: none.
 */
export function serviceIssues(details: unknown): ApiIssue[] | undefined {
  const list = Array.isArray(details) ? details : isRecord(details) && Array.isArray(details.issues) ? details.issues : undefined
  if (!list) return undefined
  const out: ApiIssue[] = []
  for (const item of list) {
    if (!isRecord(item)) continue
    const path = Array.isArray(item.path) ? item.path.join('.') : typeof item.path === 'string' ? item.path : ''
    const message = typeof item.message === 'string' ? item.message : String(item.message ?? '')
    out.push({ path, message, ...(typeof item.code === 'string' ? { code: item.code } : {}) })
  }
  return out
}

/** The response for a WeftError the service threw: its own code and a mapped status; undefined when unmapped. */
export function serviceErrorResponse(c: Context, err: Pick<WeftError, 'code' | 'message' | 'details'>): Response | undefined {
  const status = statusForCode(err.code)
  if (status === undefined) return undefined
  return errorResponse(c, status, err.code, err.message, serviceIssues(err.details))
}

const isRecord = (x: unknown): x is Record<string, unknown> => typeof x === 'object' && x !== null && !Array.isArray(x)
