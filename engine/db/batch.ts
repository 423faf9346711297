// A batch of store writes grouped into rows per table, for the SQL stores (Postgres and SQLite alike). Pure.
import { WeftError } from '../errors.ts'
import type { StoreWrite } from '../ports.ts'
import { eventRow, nodeRow, runColumns, runRow, type EventInsert, type NodeInsert, type RunInsert } from './records.ts'

/** Most parameters a statement takes: Postgres allows 65535 and SQLite 32766; stay well below. */
const MAX_PARAMS = 30_000

/** Rows a multi-row insert into a table of `columns` columns may carry. */
export const chunkSize = (columns: number) => Math.floor(MAX_PARAMS / columns)

/** An approval request row (the same columns in both dialects). */
interface ApprovalInsert {
  runId: string
  gate: string
  revision: number
  request: unknown
}

/** A task result row (the same columns in both dialects). */
interface ResultInsert {
  runId: string
  key: string
  node: string
  print: string
  outcome: unknown
}

/** A batch turned into statements: new runs, one merged patch per existing run, node upserts, events. */
export interface Plan {
  /** Runs written to before their run.create in this batch: the batch is refused either way (see `write`). */
  early: Set<string>
  runs: Map<string, RunInsert>
  updates: Map<string, Partial<RunInsert>>
  nodes: Map<string, NodeInsert>
  events: EventInsert[]
  approvals: ApprovalInsert[]
  /** By run and task key: the last result of a task wins. */
  results: Map<string, ResultInsert>
}

/**
 * Groups a batch by kind while keeping its meaning: runs are created first, the patches of one run are
 * merged in order, the last update of a node wins (an update replaces the whole node), and events keep
 * their order. Pure; rejects a run created twice in the batch, and notes writes that come before their run's
 * run.create (there is no order to keep for them: the batch fails whether or not that run exists already).
 */
export function planBatch(batch: readonly StoreWrite[]): Plan {
  const plan: Plan = { early: new Set(), runs: new Map(), updates: new Map(), nodes: new Map(), events: [], approvals: [], results: new Map() }
  const createdLater = new Set<string>()
  for (const w of batch) if (w.kind === 'run.create') createdLater.add(w.run.id)
  const before = (runId: string) => {
    if (createdLater.has(runId) && !plan.runs.has(runId)) plan.early.add(runId)
  }
  for (const w of batch) {
    switch (w.kind) {
      case 'run.create': {
        if (plan.runs.has(w.run.id)) throw new WeftError('RUN_EXISTS', `run ${w.run.id} is created twice in one batch`, { retryable: false })
        plan.runs.set(w.run.id, runRow(w.run))
        let position = 0
        for (const node of Object.values(w.run.nodes)) plan.nodes.set(key(w.run.id, node.id), nodeRow(w.run.id, node, position++))
        break
      }
      case 'run.update': {
        before(w.runId)
        const set = runColumns(w.patch, w.runId)
        // a run created in this batch takes its patches before it is inserted
        const target = plan.runs.get(w.runId) ?? plan.updates.get(w.runId)
        if (target) Object.assign(target, set)
        else plan.updates.set(w.runId, set)
        break
      }
      case 'node.update': {
        before(w.runId)
        const k = key(w.runId, w.node.id)
        plan.nodes.set(k, nodeRow(w.runId, w.node, plan.nodes.get(k)?.position ?? null))
        break
      }
      case 'event':
        before(w.event.run_id)
        plan.events.push(eventRow(w.event))
        break
      case 'approval.request':
        before(w.request.runId)
        plan.approvals.push({ runId: w.request.runId, gate: w.request.gate, revision: w.request.revision, request: w.request })
        break
      case 'task.result': {
        before(w.runId)
        const { key: task, node, print, outcome } = w.result
        plan.results.set(key(w.runId, task), { runId: w.runId, key: task, node, print, outcome })
        break
      }
    }
  }
  return plan
}

const key = (runId: string, nodeId: string) => `${runId}\u0000${nodeId}`

export function* chunks<T>(items: Iterable<T>, size: number): Generator<T[]> {
  let chunk: T[] = []
  for (const item of items) {
    chunk.push(item)
    if (chunk.length === size) {
      yield chunk
      chunk = []
    }
  }
  if (chunk.length) yield chunk
}

/**
 * The SET of an upsert that replaces a node row with the incoming one (`excluded.<column>`, in Postgres and SQLite
 * alike), except its key and where the node stood in the run as created: [key, SQL text] pairs, for `sql.raw`.
 * (No drizzle import here: each store builds its SQL with its own drizzle, see drizzle-sqlite.ts.)
 */
export function excludedColumns(columns: Record<string, { name: string }>): Array<[string, string]> {
  return Object.entries(columns)
    .filter(([key]) => key !== 'runId' && key !== 'nodeId' && key !== 'position')
    .map(([key, col]) => [key, `excluded."${col.name}"`])
}
