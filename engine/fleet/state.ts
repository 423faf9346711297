// What the fleet knows of a run between two steps: the run record, its tasks and its gates, as stored.
import type { RetrySpec } from '../dsl/pipeline.ts'
import type { ErrorInfo } from '../errors.ts'
import type { ApprovalRequest, Decision, Revision, RunRecord, TaskOutcome, TaskResult } from '../ports.ts'

/** `node`: a worker node's attempts; `child`: a fan-out item (or one of its steps); `revise`: a gated node re-run with feedback; `control`: a control node's memo. */
type TaskKind = 'node' | 'child' | 'revise' | 'control'
export type TaskStatus = 'ready' | 'queued' | 'running' | 'backoff' | 'succeeded' | 'failed' | 'cancelled'

export const OPEN_TASK: ReadonlySet<TaskStatus> = new Set(['ready', 'queued', 'running', 'backoff'])

/** Everything a worker needs to run one attempt, without loading the pipeline. */
export interface TaskSpec {
  type: string
  module: string
  config: unknown
  retry: RetrySpec
  timeoutMs?: number
  pool?: string
  /** Extra fields of the progress events it reports (a fan-out item, a step, a revision round). */
  progress?: Record<string, unknown>
  /** The node its progress is reported under (the control node, for children and revisions). */
  reportAs: string
  /** For `revise`: the node whose output the result replaces, and the reviewer's revision. */
  target?: string
  revision?: Revision
  /**
   * For a fan-out item's step in a revision round: the id it runs as (`f[2].draft`, its task's key being
   * `f[2].draft#r1`) and the round, which keeps its idempotency key apart from the rounds before.
   */
  runAs?: string
  round?: number
  /** The node's `cache:` field, and whether its type's results may be reused (the worker applies its cache rule). */
  cache?: boolean
  cacheable?: boolean
  /** The fields of its config that name a model (a node naming a real model is not reproducible). */
  models?: string[]
  /** The run's budget and what it had spent when the task was made. */
  budget?: { limit_usd: number; spent_usd: number; call_usd?: number }
  /** Executed again whatever the node cache holds: the node is one a re-run refreshes. */
  refresh?: boolean
  workDir: string
  prompts: string[]
  interactive: boolean
}

/** A control node's replay memo: what earlier replays already wrote, so a replay writes only what is new. */
interface ControlMemo {
  /** Progress events already written. */
  emitted: number
  /** Decisions (`gate:revision`) whose `approval.resolved` event is written. */
  announced: string[]
  /** The gates (`gate:revision`) its last replay waits on. */
  waiting?: string[]
  /** When the node times out (clock ms), if it has a timeout. */
  deadline?: number
  startedMs: number
}

export interface FleetTask {
  key: string
  kind: TaskKind
  /** The pipeline node it belongs to. */
  node: string
  position: number
  status: TaskStatus
  /** The attempt now running or next to run (1 for the first). */
  attempt: number
  /** Grows with each claim by a worker; only the current holder may settle the task. */
  fence: number
  spec: TaskSpec | null
  outcome: TaskOutcome | null
  memo: ControlMemo | null
  /** Times the worker running it was lost (its heartbeat lapsed). */
  lost?: number
}

interface GateState {
  request: ApprovalRequest
  decision: Decision | null
  /** Why no decision can come (the run's decision source failed, or it has none): the gate fails with it. In one process only. */
  error?: ErrorInfo
}

export interface FleetState {
  run: RunRecord
  tasks: Record<string, FleetTask>
  /** By `gate:revision`. */
  gates: Record<string, GateState>
  /** The last event sequence number stored for the run. */
  seq: number
  nextPosition: number
  workDir: string
  /** A re-run's nodes executed again whatever the node cache holds (`rerun --from`). */
  refresh?: string[]
  /** Set once someone asked to cancel the run. */
  cancel: ErrorInfo | null
  /** Gates (`gate:revision`) whose `approval.resolved` event is in the log from before a resume: not written again. */
  resolvedEarlier?: string[]
  /**
   * A resumed run's pieces of work that succeeded before it stopped, by task key: a control node asking for one again
   * with the same request (`print`) gets its result, and nothing is executed. In one process only (the fleet keeps its tasks).
   */
  earlier?: Record<string, TaskResult>
  /** Fan-out items (`node[item]`) of a resumed run with a step executed anew: their later steps execute too. */
  freshItems?: string[]
  /**
   * A resumed run's pieces of work that had made attempts before it stopped, by task key: the attempt each goes on
   * with, so that a stop gives no retry budget back. In one process only (the fleet keeps its tasks).
   */
  attemptsEarlier?: Record<string, number>
}

export const gateKey = (gate: string, revision: number): string => `${gate}:${revision}`
