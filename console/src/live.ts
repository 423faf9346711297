// A generation's live events over the session WebSocket: a token from the API, then every event so far and the live
// ones. After a drop it connects again the same way: the events come again from the start and the reducer skips
// those it has (by seq), so nothing that happened while the socket was down is missed and the order holds.
import { postJson } from './api.ts'
import type { EventFrame } from './run-state.ts'

export type LiveState = 'connecting' | 'live' | 'reconnecting' | 'closed'

export interface LiveOptions {
  sessionId: string
  generationId: string
  onFrame: (frame: EventFrame) => void
  onState: (state: LiveState) => void
}

/** Opens the stream; returns a function that closes it for good. */
export function openLive(o: LiveOptions): () => void {
  let socket: WebSocket | undefined
  let stopped = false
  let attempt = 0
  let timer: ReturnType<typeof setTimeout> | undefined

  const connect = async (resume: boolean) => {
    o.onState(resume ? 'reconnecting' : 'connecting')
    let url: string
    let token: string
    try {
      const t = await postJson<{ websocket_url: string; ws_token: string }>(`/api/v2/sessions/${encodeURIComponent(o.sessionId)}/token`, {})
      url = t.websocket_url
      token = t.ws_token
    } catch {
      return retry()
    }
    if (stopped) return
    const ws = new WebSocket(url, ['weft.v1', `weft.token.${token}`])
    socket = ws
    ws.onopen = () => {
      attempt = 0
      o.onState('live')
    }
    ws.onmessage = (m) => {
      let frame: unknown
      try {
        frame = JSON.parse(String(m.data))
      } catch {
        return
      }
      const f = frame as { type?: unknown; generation_id?: unknown }
      if (typeof f.type === 'string' && f.generation_id === o.generationId && 'seq' in (frame as object)) o.onFrame(frame as EventFrame)
    }
    ws.onclose = () => {
      if (socket === ws) socket = undefined
      if (!stopped) retry()
    }
  }

  const retry = () => {
    if (stopped) return
    o.onState('reconnecting')
    const delay = Math.min(10_000, 500 * 2 ** attempt++) * (0.5 + Math.random() / 2)
    timer = setTimeout(() => void connect(true), delay)
  }

  void connect(false)
  return () => {
    stopped = true
    if (timer) clearTimeout(timer)
    socket?.close(1000)
    o.onState('closed')
  }
}
