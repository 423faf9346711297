// A fleet run's state read from Postgres for a step, under the run's row lock: whole, or brought up to date from the
// state this process committed at an earlier step by reading only the rows written since (each step stamps the node
// and task rows it writes with its number).
import { isDeepStrictEqual } from 'node:util'
import { and, asc, eq, getTableColumns, gt, inArray, notInArray, or, sql } from 'drizzle-orm'
import type { RunRecord, TaskOutcome } from '../ports.ts'
import type { ErrorInfo } from '../errors.ts'
import { readApproval, readRun } from '../db/records.ts'
import { approvals, fleetRuns, fleetTasks, generationEvents, generationNodes, generations } from '../db/schema.ts'
import { Statement, type PgConn } from '../db/statement.ts'
import { gateKey, OPEN_TASK, type FleetState, type FleetTask } from '../fleet/state.ts'
import type { StepEvent } from '../fleet/step.ts'

type SettledEvent = Extract<StepEvent, { type: 'settled' }>

/** A fleet run's state as read for a step, with the outcomes workers recorded since the last one. */
export interface Loaded {
  state: FleetState
  /** Attempts that ended (status `done`), to be settled by this step, oldest first. */
  settled: SettledEvent[]
  /** The steps the run had committed when read (`fleet_runs.step`): this step commits as the next. */
  step: number
  /** Brought up to date from a kept state (rather than read whole). */
  merged: boolean
}

/** A state brought up to date that a whole read contradicts (the check of `loadState`'s `check`). */
export class StateCheckFailed extends Error {}

/** A run's state as this process committed it as step `step`. */
export interface Cached {
  state: FleetState
  step: number
}

export const FINISHED_TASK = ['succeeded', 'failed', 'cancelled']
/** Nodes whose finished tasks a step still consults (a running control node's children). */
const ACTIVE_NODE = ['running', 'waiting']

// status tests written as literals, not parameters: a prepared statement's generic plan can then still use the
// partial indexes on them (fleet_tasks_done_idx, fleet_tasks_running_idx)
export const DONE = sql`${fleetTasks.status} = 'done'`
export const RUNNING = sql`${fleetTasks.status} = 'running'`

type TaskRow = typeof fleetTasks.$inferSelect
/** The columns of a task's row that a step reads. */
type StoredTask = Pick<TaskRow, 'key' | 'kind' | 'node' | 'position' | 'status' | 'attempt' | 'fence' | 'spec' | 'outcome' | 'memo'>

/** A task as stored by the step numbered `step`. */
export function taskRow(runId: string, t: FleetTask, step: number): typeof fleetTasks.$inferInsert & StoredTask {
  return {
    runId,
    key: t.key,
    kind: t.kind,
    node: t.node,
    position: t.position,
    status: t.status,
    attempt: t.attempt,
    fence: t.fence,
    spec: t.spec ?? {},
    outcome: t.outcome,
    memo: t.kind === 'control' ? t.memo : t.lost ? { lost: t.lost } : null,
    step,
  }
}

/** A task as a step sees it: an attempt that ended (`done`) is still running to the step, which settles it. */
export function readTask(t: StoredTask): FleetTask {
  const memo = (t.memo ?? null) as (FleetTask['memo'] & { lost?: number }) | null
  const done = t.status === 'done'
  return {
    key: t.key,
    kind: t.kind as FleetTask['kind'],
    node: t.node,
    position: t.position,
    status: done ? 'running' : (t.status as FleetTask['status']),
    attempt: t.attempt,
    fence: t.fence,
    spec: (t.spec ?? null) as FleetTask['spec'],
    outcome: done ? null : ((t.outcome ?? null) as TaskOutcome | null),
    memo: t.kind === 'control' ? memo : null,
    ...(memo?.lost ? { lost: memo.lost } : {}),
  }
}

/** One task as stored, whatever its status (a step reads the task of a stopped attempt that came back with what it used). */
export async function readOneTask(tx: PgConn, runId: string, key: string): Promise<FleetTask | undefined> {
  const [row] = await tx
    .select()
    .from(fleetTasks)
    .where(and(eq(fleetTasks.runId, runId), eq(fleetTasks.key, key)))
  return row ? readTask(row) : undefined
}

/**
 * The tasks a step consults: `base` with `rows` read over it, keeping the open ones and those of running control nodes
 * (a finished node's tasks are never consulted again), in position order; and the attempts that ended, oldest first.
 */
function tasksOf(base: Record<string, FleetTask>, rows: readonly TaskRow[], nodes: RunRecord['nodes']): { tasks: Record<string, FleetTask>; settled: SettledEvent[] } {
  const all = new Map(Object.entries(base))
  const ended: TaskRow[] = []
  for (const r of rows) {
    all.set(r.key, readTask(r))
    if (r.status === 'done') ended.push(r)
  }
  const tasks: Record<string, FleetTask> = {}
  for (const t of [...all.values()].sort((x, y) => x.position - y.position)) {
    if (OPEN_TASK.has(t.status) || ACTIVE_NODE.includes(nodes[t.node]?.status ?? '')) tasks[t.key] = t
  }
  const settled = ended.sort((x, y) => x.position - y.position).map((r): SettledEvent => ({ type: 'settled', key: r.key, fence: r.fence, outcome: r.outcome as TaskOutcome }))
  return { tasks, settled }
}

/** `base` (changed in place) with the run's row and the node rows written since: undefined when it cannot be brought up to date. */
function mergedRun(base: RunRecord, row: typeof generations.$inferSelect, nodeRows: Parameters<typeof readRun>[1]): RunRecord | undefined {
  const fresh = readRun(row, nodeRows)
  if (fresh.error?.code === 'RUN_RECORD_CORRUPT') return undefined
  // a node the base does not have (nodes are created with the run) is read whole, in the run's order
  if (Object.keys(fresh.nodes).some((id) => !(id in base.nodes))) return undefined
  const { nodes, ...fields } = fresh
  Object.assign(base, fields)
  Object.assign(base.nodes, nodes)
  return base
}

const run = sql.placeholder('run')
const since = sql.placeholder('since')
const runColumns = getTableColumns(generations)
const nodeColumns = getTableColumns(generationNodes)
const taskColumns = getTableColumns(fleetTasks)

// what a step reads, each statement built once (a step sends them all, for every node a run completes)
const read = {
  lock: new Statement(runColumns, (db) => db.select().from(generations).where(eq(generations.id, run)).for('update')),
  lockOrSkip: new Statement(runColumns, (db) => db.select().from(generations).where(eq(generations.id, run)).for('update', { skipLocked: true })),
  exists: new Statement({ id: generations.id }, (db) => db.select({ id: generations.id }).from(generations).where(eq(generations.id, run))),
  // the fleet's row and the last seq in one statement
  fleetRow: new Statement(
    { ...getTableColumns(fleetRuns), seq: sql<number>`(select coalesce(max(${generationEvents.seq}), 0) from ${generationEvents} where ${generationEvents.runId} = ${run})` },
    (db) =>
      db
        .select({ ...getTableColumns(fleetRuns), seq: sql<number>`(select coalesce(max(${generationEvents.seq}), 0) from ${generationEvents} where ${generationEvents.runId} = ${run})` })
        .from(fleetRuns)
        .where(eq(fleetRuns.runId, run)),
  ),
  nodes: new Statement(nodeColumns, (db) =>
    db.select().from(generationNodes).where(eq(generationNodes.runId, run)).orderBy(sql`${generationNodes.position} asc nulls last`, asc(generationNodes.nodeId)),
  ),
  nodesSince: new Statement(nodeColumns, (db) =>
    db
      .select()
      .from(generationNodes)
      .where(and(eq(generationNodes.runId, run), gt(generationNodes.fleetStep, since))),
  ),
  // the tasks a step may consult: open ones, and those of running control nodes
  tasks: new Statement(taskColumns, (db) =>
    db
      .select()
      .from(fleetTasks)
      .where(
        and(
          eq(fleetTasks.runId, run),
          or(
            notInArray(fleetTasks.status, FINISHED_TASK),
            inArray(
              fleetTasks.node,
              db
                .select({ id: generationNodes.nodeId })
                .from(generationNodes)
                .where(and(eq(generationNodes.runId, run), inArray(generationNodes.status, ACTIVE_NODE))),
            ),
          ),
        ),
      ),
  ),
  tasksSince: new Statement(taskColumns, (db) =>
    db
      .select()
      .from(fleetTasks)
      .where(and(eq(fleetTasks.runId, run), or(gt(fleetTasks.step, since), RUNNING, DONE))),
  ),
  approvals: new Statement(getTableColumns(approvals), (db) => db.select().from(approvals).where(eq(approvals.runId, run))),
}

/**
 * Reads a run's fleet state with its row locked (other steps of the run wait, or with `skipLocked` this one gives way).
 * With `cached`, only the node and task rows stamped by later steps are read, and every running or ended task (claims
 * and outcomes are recorded outside steps); `cached.state` is changed in place. With `check`, a whole read follows and
 * must agree (a test's guard). Undefined for a run the fleet does not drive; 'busy' when skipped.
 */
export async function loadState(tx: PgConn, runId: string, opts: { skipLocked?: boolean; cached?: Cached; check?: boolean } = {}): Promise<Loaded | 'busy' | undefined> {
  const values = { run: runId }
  // each statement sent as it is made, in the order Postgres is to run them
  const reads = (after?: number) =>
    Promise.all([
      read.fleetRow.run(tx, values),
      after === undefined ? read.nodes.run(tx, values) : read.nodesSince.run(tx, { run: runId, since: after }),
      after === undefined ? read.tasks.run(tx, values) : read.tasksSince.run(tx, { run: runId, since: after }),
      read.approvals.run(tx, values),
    ])
  let row: typeof generations.$inferSelect | undefined
  let got: Awaited<ReturnType<typeof reads>>
  const since = opts.cached?.step
  if (opts.skipLocked) {
    // giving way: a step that reads the whole run asks for the lock alone first, so that it reads nothing when it gives
    // way; one brought up to date reads little, and sends its reads with the lock (their answers are dropped if busy)
    const locking = read.lockOrSkip.run(tx, values)
    const early = since === undefined ? undefined : reads(since)
    early?.catch(() => {})
    ;[row] = await locking
    if (!row) {
      await early?.catch(() => {})
      const [exists] = await read.exists.run(tx, values)
      return exists ? 'busy' : undefined
    }
    got = await (early ?? reads(since))
  } else {
    // waiting for the lock: every read is sent with it (one round trip), and Postgres runs them once it is had
    const locked = read.lock.run(tx, values)
    ;[[row], got] = await Promise.all([locked, reads(since)])
    if (!row) return undefined
  }
  const [[fr], nodeRows, taskRows, gateRows] = got
  if (!fr) return undefined
  const base = opts.cached && fr.step >= opts.cached.step ? opts.cached.state : undefined
  const run = base && mergedRun(base.run, row, nodeRows)
  let tasks: ReturnType<typeof tasksOf>
  let state: FleetState
  if (base && run) {
    tasks = tasksOf(base.tasks, taskRows, run.nodes)
    state = base
    if (opts.check) {
      const [, allNodes, allTasks] = await reads()
      const whole = readRun(row, allNodes)
      agree(runId, opts.cached!.step, { run, ...tasks }, { run: whole, ...tasksOf({}, allTasks, whole.nodes) })
    }
  } else {
    // no state of this process, or one it cannot bring up to date: everything is read
    const [, allNodes, allTasks] = since === undefined ? got : await reads()
    const whole = readRun(row, allNodes)
    tasks = tasksOf({}, allTasks, whole.nodes)
    state = { run: whole, tasks: {}, gates: {}, seq: 0, nextPosition: 0, workDir: fr.workDir, cancel: null }
  }
  const gates: FleetState['gates'] = {}
  for (const g of gateRows) {
    const a = readApproval(g)
    gates[gateKey(a.request.gate, a.request.revision)] = { request: a.request, decision: a.decision }
  }
  state.tasks = tasks.tasks
  state.gates = gates
  state.seq = Number(fr.seq ?? 0)
  state.nextPosition = fr.nextPosition
  state.workDir = fr.workDir
  state.cancel = (fr.cancel ?? null) as ErrorInfo | null
  if (Array.isArray(fr.refresh)) state.refresh = fr.refresh as string[]
  else delete state.refresh
  return { state, settled: tasks.settled, step: fr.step, merged: state === base }
}

/** Where two JSON values first differ (a path, and both values), or undefined when they are equal. */
function difference(a: unknown, b: unknown, at = '$'): string | undefined {
  if (isDeepStrictEqual(a, b)) return undefined
  if (a && b && typeof a === 'object' && typeof b === 'object' && Array.isArray(a) === Array.isArray(b)) {
    const ra = a as Record<string, unknown>
    const rb = b as Record<string, unknown>
    for (const k of new Set([...Object.keys(ra), ...Object.keys(rb)])) {
      const d = difference(ra[k], rb[k], `${at}.${k}`)
      if (d) return d
    }
  }
  return `${at}: ${JSON.stringify(a)?.slice(0, 300)} against ${JSON.stringify(b)?.slice(0, 300)}`
}

/** JSON as stored: what a read gives back for a value written. */
const stored = (v: unknown): unknown => JSON.parse(JSON.stringify(v))

/**
 * Throws when a state brought up to date differs from the state read whole. A task claimed between the two reads (a
 * claim is recorded outside the run's lock) is left out: queued in the first, running under the next fence in the
 * second; and so is an attempt running under the same fence in both, whose outcome may have been recorded between
 * them (an ended attempt is running to a step, without the outcome of an earlier attempt).
 */
function agree(runId: string, step: number, merged: { run: RunRecord; tasks: Record<string, FleetTask> }, whole: typeof merged): void {
  const between = (a: FleetTask | undefined, b: FleetTask | undefined) =>
    (a?.status === 'queued' && b?.status === 'running' && b.fence === a.fence + 1) || (a?.status === 'running' && b?.status === 'running' && a.fence === b.fence)
  const still = (tasks: Record<string, FleetTask>, other: Record<string, FleetTask>) => Object.values(tasks).filter((t) => !between(t, other[t.key]) && !between(other[t.key], t))
  const diffs: string[] = []
  const run = difference(stored(merged.run), stored(whole.run))
  if (run) diffs.push(`the run record at ${run}`)
  if (!isDeepStrictEqual(Object.keys(merged.run.nodes), Object.keys(whole.run.nodes))) diffs.push('the order of nodes')
  if (!isDeepStrictEqual(Object.keys(merged.tasks).sort(), Object.keys(whole.tasks).sort())) diffs.push(`the tasks consulted (${Object.keys(merged.tasks)} against ${Object.keys(whole.tasks)})`)
  const tasks = difference(stored(still(merged.tasks, whole.tasks)), stored(still(whole.tasks, merged.tasks)))
  if (tasks) diffs.push(`the tasks not running, at ${tasks}`)
  if (diffs.length) throw new StateCheckFailed(`fleet run ${runId}: the state brought up to date from step ${step} differs from a whole read in ${diffs.join('; ')}`)
}
