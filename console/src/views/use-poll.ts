// Reads `load` now and again every `everyMs` while the page is visible; the latest answer or error is kept.
import { useEffect, useState } from 'preact/hooks'
import { ApiError } from '../api.ts'

export function usePoll<T>(load: (signal: AbortSignal) => Promise<T>, everyMs: number, deps: unknown[]): { data: T | undefined; error: ApiError | undefined } {
  const [data, setData] = useState<T | undefined>(undefined)
  const [error, setError] = useState<ApiError | undefined>(undefined)
  useEffect(() => {
    const ctl = new AbortController()
    let timer: ReturnType<typeof setTimeout> | undefined
    const tick = async () => {
      if (document.visibilityState === 'visible') {
        try {
          setData(await load(ctl.signal))
          setError(undefined)
        } catch (err) {
          if (ctl.signal.aborted) return
          setError(err instanceof ApiError ? err : new ApiError(0, 'INTERNAL', String(err)))
        }
      }
      if (!ctl.signal.aborted && everyMs > 0) timer = setTimeout(() => void tick(), everyMs)
    }
    void tick()
    return () => {
      ctl.abort()
      if (timer) clearTimeout(timer)
    }
  }, deps)
  return { data, error }
}
