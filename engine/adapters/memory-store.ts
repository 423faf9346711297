// RunStore kept in memory: for tests, benchmarks and one-off CLI runs that need no history.
// It keeps the objects it is given (writers hand over snapshots) and copies what it returns.
import { WeftError } from '../errors.ts'
import type { ApprovalRecord, Decision, LeaseHolder, RunEvent, RunQuery, RunRecord, RunStore, StoreWrite, TaskResult } from '../ports.ts'
import { thisProcess } from './lease-holder.ts'

export class MemoryRunStore implements RunStore {
  readonly #runs = new Map<string, RunRecord>()
  readonly #events = new Map<string, RunEvent[]>()
  readonly #leases = new Map<string, { owner: string; until: number }>()
  /** Keyed `run\0gate\0revision`, in request order. */
  readonly #approvals = new Map<string, ApprovalRecord & { runId: string }>()
  /** By run, then by task key. */
  readonly #results = new Map<string, Map<string, TaskResult>>()

  async write(batch: readonly StoreWrite[]): Promise<void> {
    // validate the whole batch first so that it applies all-or-nothing
    const created = new Set<string>()
    for (const w of batch) {
      if (w.kind === 'run.create') {
        if (this.#runs.has(w.run.id) || created.has(w.run.id)) throw new WeftError('RUN_EXISTS', `run ${w.run.id} already exists`, { retryable: false })
        created.add(w.run.id)
        continue
      }
      const runId = w.kind === 'event' ? w.event.run_id : w.kind === 'approval.request' ? w.request.runId : w.runId
      if (!this.#runs.has(runId) && !created.has(runId)) throw new WeftError('RUN_NOT_FOUND', `run ${runId} does not exist`, { retryable: false })
    }
    for (const w of batch) {
      switch (w.kind) {
        case 'run.create':
          // the writer's snapshot, kept as given (run.update changes the record kept here, not the writer's)
          this.#runs.set(w.run.id, { ...w.run, nodes: { ...w.run.nodes } })
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
        case 'approval.request': {
          const key = approvalKey(w.request.runId, w.request.gate, w.request.revision)
          if (!this.#approvals.has(key))
            this.#approvals.set(key, { runId: w.request.runId, request: structuredClone(w.request), decision: null, requested_at: new Date().toISOString(), decided_at: null })
          break
        }
        case 'task.result': {
          let results = this.#results.get(w.runId)
          if (!results) this.#results.set(w.runId, (results = new Map()))
          results.set(w.result.key, w.result)
          break
        }
      }
    }
  }

  async taskResults(runId: string): Promise<TaskResult[]> {
    return structuredClone([...(this.#results.get(runId)?.values() ?? [])])
  }

  async getRun(id: string): Promise<RunRecord | undefined> {
    const r = this.#runs.get(id)
    return r && structuredClone(r)
  }

  async listRuns(query: RunQuery = {}): Promise<RunRecord[]> {
    const all = [...this.#runs.values()].filter(
      (r) =>
        (!query.status || r.status === query.status) &&
        (query.sessionId === undefined || r.session_id === query.sessionId) &&
        (query.excludeOwner === undefined || this.#leases.get(r.id)?.owner !== query.excludeOwner),
    )
    all.sort((a, b) => (a.created_at < b.created_at ? 1 : a.created_at > b.created_at ? -1 : a.id < b.id ? 1 : -1))
    // a session's runs read oldest first (in the order it started them)
    if (query.sessionId !== undefined) all.reverse()
    const from = query.offset ?? 0
    return structuredClone(all.slice(from, from + (query.limit ?? all.length)))
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

  async leaseHolder(runId: string): Promise<LeaseHolder | undefined> {
    const held = this.#leases.get(runId)
    if (!held || held.until <= Date.now()) return undefined
    // one process holds every lease of a memory store
    return { owner: held.owner, host: thisProcess.host, pid: thisProcess.pid, until: new Date(held.until).toISOString() }
  }

  async releaseRun(runId: string, owner: string): Promise<void> {
    if (this.#leases.get(runId)?.owner === owner) this.#leases.delete(runId)
  }

  async getApproval(runId: string, gate: string, revision: number): Promise<ApprovalRecord | undefined> {
    const a = this.#approvals.get(approvalKey(runId, gate, revision))
    return a && structuredClone(strip(a))
  }

  async lastApproval(runId: string, gate: string): Promise<ApprovalRecord | undefined> {
    let last: (ApprovalRecord & { runId: string }) | undefined
    for (const a of this.#approvals.values()) if (a.runId === runId && a.request.gate === gate && (!last || a.request.revision > last.request.revision)) last = a
    return last && structuredClone(strip(last))
  }

  async pendingApprovals(runId: string): Promise<ApprovalRecord[]> {
    return [...this.#approvals.values()].filter((a) => a.runId === runId && a.decision === null).map((a) => structuredClone(strip(a)))
  }

  async decideApproval(runId: string, gate: string, revision: number, decision: Decision): Promise<{ applied: boolean; decision: Decision } | undefined> {
    const a = this.#approvals.get(approvalKey(runId, gate, revision))
    if (!a) return undefined
    if (a.decision) return { applied: false, decision: structuredClone(a.decision) }
    a.decision = structuredClone(decision)
    a.decided_at = new Date().toISOString()
    return { applied: true, decision: structuredClone(decision) }
  }

  async close(): Promise<void> {}
}

function approvalKey(runId: string, gate: string, revision: number): string {
  return `${runId}\0${gate}\0${revision}`
}

function strip(a: ApprovalRecord & { runId: string }): ApprovalRecord {
  const { runId: _, ...rest } = a
  return rest
}
