// Calls to the Weft API from the page: same origin, the API key (when the server asks for one) kept for the
// browser session only.
const KEY_STORE = 'weft.apiKey'

export class ApiError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
    readonly issues: Array<{ path: string; message: string }> = [],
  ) {
    super(message)
  }
}

export const apiKey = {
  get: (): string | undefined => sessionStorage.getItem(KEY_STORE) ?? undefined,
  set: (key: string): void => sessionStorage.setItem(KEY_STORE, key),
  clear: (): void => sessionStorage.removeItem(KEY_STORE),
}

/** Listeners told when the server answers 401 (the page then asks for a key). */
const unauthorized = new Set<() => void>()
export function onUnauthorized(fn: () => void): () => void {
  unauthorized.add(fn)
  return () => unauthorized.delete(fn)
}

function headers(extra: Record<string, string> = {}): Record<string, string> {
  const key = apiKey.get()
  return { ...extra, ...(key ? { Authorization: `Bearer ${key}` } : {}) }
}

/** `fetch` with the key; an error answer becomes an ApiError with the API's code, message and issues. */
export async function call(path: string, init: { method?: string; body?: BodyInit; type?: string; signal?: AbortSignal } = {}): Promise<Response> {
  let res: Response
  try {
    res = await fetch(path, {
      method: init.method ?? 'GET',
      headers: headers(init.type ? { 'Content-Type': init.type } : {}),
      ...(init.body !== undefined ? { body: init.body } : {}),
      ...(init.signal ? { signal: init.signal } : {}),
    })
  } catch (err) {
    if ((err as Error).name === 'AbortError') throw err
    throw new ApiError(0, 'NETWORK', 'the server cannot be reached')
  }
  if (res.ok) return res
  let body: { error?: { code?: string; message?: string; issues?: Array<{ path: string; message: string }> } } = {}
  try {
    body = await res.json()
  } catch {
    // not JSON: keep the status
  }
  if (res.status === 401) for (const fn of unauthorized) fn()
  throw new ApiError(res.status, body.error?.code ?? `HTTP_${res.status}`, body.error?.message ?? res.statusText, body.error?.issues ?? [])
}

export async function getJson<T>(path: string, signal?: AbortSignal): Promise<T> {
  return (await call(path, signal ? { signal } : {})).json() as Promise<T>
}

export async function postJson<T>(path: string, body: unknown): Promise<T> {
  return (await call(path, { method: 'POST', body: JSON.stringify(body), type: 'application/json' })).json() as Promise<T>
}

/**
 * A URL the page can put in `src`: the artifact route itself without a key (the browser streams it with Range
 * requests), or an object URL of the bytes fetched with the key (elements cannot send headers).
 */
export async function mediaSrc(url: string, signal?: AbortSignal): Promise<{ src: string; release: () => void }> {
  if (!apiKey.get()) return { src: url, release: () => {} }
  const blob = await (await call(url, signal ? { signal } : {})).blob()
  const src = URL.createObjectURL(blob)
  return { src, release: () => URL.revokeObjectURL(src) }
}
