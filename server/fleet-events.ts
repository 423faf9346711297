// Events of runs the fleet drives, from whichever worker commits them, to this server's WebSocket sessions: each
// step's commit sends a NOTIFY `{ run, seq }`; the relay reads what is new and publishes it in order. Nothing is
// read for a run nobody here listens to, and an idle run costs nothing: a run is followed only while someone listens
// to its session (a client that comes later replays from the store, then gets what is new).
import { LRUCache } from 'lru-cache'
import type { RunEvent, RunStore } from '../engine/ports.ts'
import type { SessionHub } from './hub.ts'

const END: ReadonlySet<string> = new Set(['run.completed', 'run.failed', 'run.cancelled'])

interface Tracked {
  session: string
  /** The last seq published (or skipped because nobody listened). */
  seq: number
  chain: Promise<void>
}

export class FleetEventRelay {
  readonly #runs = new Map<string, Tracked>()
  /** The session of runs not followed now (false: none, or no such run), the latest 10,000: a run's session never changes. */
  readonly #sessions = new LRUCache<string, string | false>({ max: 10_000 })
  /** The last seq notified for runs not followed now: following one again starts there, not from its first event. */
  readonly #notified = new LRUCache<string, number>({ max: 10_000 })

  constructor(
    readonly store: RunStore,
    readonly hub: SessionHub,
    readonly onError: (err: unknown) => void = () => {},
  ) {}

  /** How many runs it follows now (each while someone listens to its session). */
  get following(): number {
    return this.#runs.size
  }

  /** A run started here: its session is known, and nothing of it has been published yet. Kept only while someone listens. */
  track(runId: string, sessionId: string, fromSeq = 0): void {
    // nobody listens: only its session is remembered, and a notification once someone does follows it
    if (!this.hub.listening(sessionId)) return void this.#sessions.set(runId, sessionId)
    this.hub.bind(runId, sessionId)
    if (!this.#runs.has(runId)) this.#runs.set(runId, { session: sessionId, seq: fromSeq, chain: Promise.resolve() })
  }

  /** Handles one notification's payload (`{"run": …, "seq": …}`); malformed ones are ignored. */
  notify(payload: string): void {
    let msg: { run?: unknown; seq?: unknown }
    try {
      msg = JSON.parse(payload) as typeof msg
    } catch {
      return
    }
    if (typeof msg.run !== 'string' || typeof msg.seq !== 'number') return
    const run = msg.run
    const seq = msg.seq
    const t = this.#runs.get(run)
    if (t) return this.#pull(run, t, seq)
    // not followed now: what it had published before this notification is what a listener that comes now is owed
    const before = this.#notified.get(run) ?? 0
    this.#notified.set(run, Math.max(before, seq))
    if (!this.hub.listening()) return
    const follow = (session: string | false) => {
      if (session === false || !this.hub.listening(session) || this.#runs.has(run)) return
      this.track(run, session, before)
      this.#pull(run, this.#runs.get(run)!, seq)
    }
    const known = this.#sessions.get(run)
    if (known !== undefined) return follow(known)
    // a run started elsewhere (another server, `weft run --detach`): its session is read once
    void this.store.getRun(run).then((record) => {
      const session = record?.session_id ?? false
      this.#sessions.set(run, session)
      follow(session)
    }, this.onError)
  }

  #pull(run: string, t: Tracked, seq: number): void {
    t.chain = t.chain
      .then(async () => {
        if (seq <= t.seq) return
        // nobody listens to its session now: it is let go (a client that comes later replays from the store first)
        if (!this.hub.listening(t.session)) {
          this.#forget(run)
          this.#sessions.set(run, t.session)
          this.#notified.set(run, Math.max(seq, this.#notified.get(run) ?? 0))
          return
        }
        const events: RunEvent[] = await this.store.listEvents(run, t.seq)
        for (const e of events) {
          this.hub.publish(e)
          t.seq = Math.max(t.seq, e.seq)
          if (END.has(e.type)) this.#forget(run)
        }
      })
      .catch(this.onError)
  }

  /** Stops relaying a run (one that could not be started). */
  untrack(run: string): void {
    this.#forget(run)
  }

  #forget(run: string): void {
    this.#runs.delete(run)
    this.hub.unbind(run)
  }
}
