// RunStore kept in memory: for tests, benchmarks and one-off CLI runs that need no history.
// It keeps the objects it is given (writers hand over snapshots) and copies what it returns.
import { WeftError } from '../errors.ts'
import type { RunEvent, RunQuery, RunRecord, RunStore, StoreWrite } from '../ports.ts'

export class MemoryRunStore implements RunStore {
  readonly #runs = new Map<string, RunRecord>()
  readonly #events = new Map<string, RunEvent[]>()
  readonly #leases = new Map<string, { owner: string; until: number }>()

  async write(batch: readonly StoreWrite[]): Promise<void> {
    // validate the whole batch first so that it applies all-or-nothing
    const created = new Set<string>()
    for (const w of batch) {
      if (w.kind === 'run.create') {
        if (this.#runs.has(w.run.id) || created.has(w.run.id)) throw new WeftError('RUN_EXISTS', `run ${w.run.id} already exists`, { retryable: false })
        created.add(w.run.id)
        continue
      }
      const runId = w.kind === 'event' ? w.event.run_id : w.runId
      if (!this.#runs.has(runId) && !created.has(runId)) throw new WeftError('RUN_NOT_FOUND', `run ${runId} does not exist`, { retryable: false })
    }
    for (const w of batch) {
      switch (w.kind) {
        case 'run.create':
          this.#runs.set(w.run.id, structuredClone(w.run))
          this.#events.set(w.run.id, [])
          break
        case 'run.update':
          Object.assign(this.#runs.get(w.runId)!, w.patch)
          break
        case 'node.update':
          this.#runs.get(w.runId)!.nodes[w.node.id] = w.node
          break
        case 'event':
          this.#events.get(w.event.run_id)!.push(w.event)
          break
      }
    }
  }

  async getRun(id: string): Promise<RunRecord | undefined> {
    const r = this.#runs.get(id)
    return r && structuredClone(r)
  }

  async listRuns(query: RunQuery = {}): Promise<RunRecord[]> {
    const all = [...this.#runs.values()].filter((r) => !query.status || r.status === query.status)
    all.sort((a, b) => (a.created_at < b.created_at ? 1 : a.created_at > b.created_at ? -1 : 0))
    return structuredClone(all.slice(0, query.limit ?? all.length))
  }

  async listEvents(runId: string, afterSeq = 0): Promise<RunEvent[]> {
    return structuredClone((this.#events.get(runId) ?? []).filter((e) => e.seq > afterSeq))
  }

  async claimRun(runId: string, owner: string, ttlMs: number): Promise<boolean> {
    if (!this.#runs.has(runId)) return false
    const held = this.#leases.get(runId)
    const now = Date.now()
    if (held && held.owner !== owner && held.until > now) return false
    this.#leases.set(runId, { owner, until: now + ttlMs })
    return true
  }

  async releaseRun(runId: string, owner: string): Promise<void> {
    if (this.#leases.get(runId)?.owner === owner) this.#leases.delete(runId)
  }

  async close(): Promise<void> {}
}
