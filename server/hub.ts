// Live events by session: the runs a server drives publish here; each WebSocket connection subscribes.
import type { RunEvent } from '../engine/ports.ts'

export class SessionHub {
  readonly #listeners = new Map<string, Set<(e: RunEvent) => void>>()
  readonly #sessionOf = new Map<string, string>()

  /** Remembers which session a run belongs to (its events go to that session's listeners). */
  bind(runId: string, sessionId: string): void {
    this.#sessionOf.set(runId, sessionId)
  }

  unbind(runId: string): void {
    this.#sessionOf.delete(runId)
  }

  publish(event: RunEvent): void {
    const session = this.#sessionOf.get(event.run_id)
    if (session === undefined) return
    for (const listener of this.#listeners.get(session) ?? []) {
      try {
        listener(event)
      } catch {
        // one listener failing must not keep the event from the others, nor stop the run
      }
    }
  }

  /** Whether anyone listens to the session (or, without one, to any session). */
  listening(sessionId?: string): boolean {
    return sessionId === undefined ? this.#listeners.size > 0 : this.#listeners.has(sessionId)
  }

  subscribe(sessionId: string, listener: (e: RunEvent) => void): () => void {
    let set = this.#listeners.get(sessionId)
    if (!set) this.#listeners.set(sessionId, (set = new Set()))
    set.add(listener)
    return () => {
      set.delete(listener)
      if (set.size === 0) this.#listeners.delete(sessionId)
    }
  }
}
