// DecisionSource for served runs: a gate waits until a client's decision is recorded in the store (by this
// process or another); the store's conditional write makes each decision count exactly once.
import type { ApprovalRequest, Decision, DecisionSource, RunStore } from '../engine/ports.ts'

const key = (runId: string, gate: string, revision: number) => `${runId}\0${gate}\0${revision}`

export class StoreDecisions implements DecisionSource {
  readonly #waiting = new Map<string, (d: Decision) => void>()

  /** `pollMs`: how often a waiting gate also looks in the store, for decisions recorded by another process. */
  constructor(
    private readonly store: RunStore,
    private readonly pollMs = 1000,
  ) {}

  async decide(request: ApprovalRequest, signal: AbortSignal): Promise<Decision> {
    signal.throwIfAborted()
    const k = key(request.runId, request.gate, request.revision)
    let poll: NodeJS.Timeout | undefined
    let onAbort: (() => void) | undefined
    const decided = new Promise<Decision>((resolve, reject) => {
      this.#waiting.set(k, resolve)
      onAbort = () => reject(signal.reason)
      signal.addEventListener('abort', onAbort, { once: true })
      const look = async () => {
        const recorded = await this.store.getApproval(request.runId, request.gate, request.revision).catch(() => undefined)
        if (recorded?.decision) resolve(recorded.decision)
      }
      poll = setInterval(() => void look(), this.pollMs)
      poll.unref()
      // a decision may have been recorded before this gate started waiting (a restart, another process)
      void look()
    })
    try {
      return await decided
    } finally {
      clearInterval(poll)
      if (onAbort) signal.removeEventListener('abort', onAbort)
      this.#waiting.delete(k)
    }
  }

  /** Wakes the gate waiting for this decision in this process, if any (the decision is already recorded). */
  wake(runId: string, gate: string, revision: number, decision: Decision): void {
    this.#waiting.get(key(runId, gate, revision))?.(decision)
  }
}
