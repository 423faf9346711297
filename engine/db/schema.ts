// The drizzle schema of the Postgres store (sqlite-schema.ts is its twin for SQLite): runs (the product's `generations`), their nodes, events and approvals.
import { sql } from 'drizzle-orm'
import { boolean, customType, doublePrecision, index, integer, pgTable, primaryKey, text, timestamp } from 'drizzle-orm/pg-core'

/**
 * A jsonb column that round-trips every JSON value, strings included. Drizzle's own `jsonb()` parses
 * again whatever the driver already parsed, so a stored string such as `"42"` would come back as the
 * number 42; postgres.js hands over parsed values, which we keep as is.
 */
const json = customType<{ data: unknown; driverData: unknown }>({
  dataType: () => 'jsonb',
  toDriver: (value) => JSON.stringify(value),
  fromDriver: (value) => value,
})

/** Milliseconds are what `Date#toISOString()` carries; run records keep them exactly. */
const stamp = (name: string) => timestamp(name, { withTimezone: true, precision: 3, mode: 'date' })

/** One row per run: the run record, plus the columns the product reads directly (prompt, story, videos…). */
export const generations = pgTable(
  'generations',
  {
    id: text('id').primaryKey(),
    pipelineName: text('pipeline_name').notNull(),
    /** `String(version)`; `pipeline_version_numeric` says whether the pipeline gave a number (the DSL default is `1`). */
    pipelineVersion: text('pipeline_version').notNull(),
    pipelineVersionNumeric: boolean('pipeline_version_numeric').notNull().default(false),
    pipelineFile: text('pipeline_file').notNull(),
    /** pending | running | awaiting_approval | completed | failed | cancelled (checked on read, not by the database). */
    status: text('status').notNull(),
    interactive: boolean('interactive').notNull().default(false),
    inputs: json('inputs').notNull(),
    /** Snapshot of the resolved config the run used. */
    config: json('config').notNull(),
    outputs: json('outputs'),
    error: json('error'),
    /** `error.message`, for the product's screens. */
    errorMessage: text('error_message'),
    currentStage: text('current_stage'),
    // the product's own columns, copied from inputs (prompt, framework, brand_assets) and outputs when present
    prompt: text('prompt'),
    framework: text('framework'),
    brandAssets: json('brand_assets'),
    storyText: text('story_text'),
    referenceImages: json('reference_images'),
    scenes: json('scenes'),
    videoClips: json('video_clips'),
    finalVideoUrl: text('final_video_url'),
    createdAt: stamp('created_at').notNull(),
    updatedAt: stamp('updated_at').notNull().defaultNow(),
    startedAt: stamp('started_at'),
    finishedAt: stamp('finished_at'),
    /** The session a generation belongs to (several generations may share one; clients watch a session). */
    sessionId: text('session_id'),
    /** The folder the run's nodes write in (`<out>/<run id>`), where it was last driven; null for runs recorded before it was kept. */
    folder: text('folder'),
    /** Reserved for the resume lease: the process driving the run, and until when its claim holds. */
    owner: text('owner'),
    leaseUntil: stamp('lease_until'),
    /** The lease holder's host and process id: on that host, a lease whose process is gone is taken over at once. */
    ownerHost: text('owner_host'),
    ownerPid: integer('owner_pid'),
  },
  (t) => [
    index('generations_created_idx').on(t.createdAt.desc().nullsFirst(), t.id.desc().nullsFirst()),
    index('generations_status_created_idx').on(t.status, t.createdAt.desc().nullsFirst(), t.id.desc().nullsFirst()),
    index('generations_session_idx').on(t.sessionId, t.createdAt),
  ],
)

/** One row per node of a run; replaced whole by each node update. */
export const generationNodes = pgTable(
  'generation_nodes',
  {
    runId: text('run_id')
      .notNull()
      .references(() => generations.id, { onDelete: 'cascade' }),
    nodeId: text('node_id').notNull(),
    /** Place of the node in the run as created (the pipeline's order); null for nodes first seen in an update. */
    position: integer('position'),
    type: text('type').notNull(),
    status: text('status').notNull(),
    attempts: integer('attempts').notNull().default(0),
    startedAt: stamp('started_at'),
    finishedAt: stamp('finished_at'),
    durationMs: doublePrecision('duration_ms'),
    output: json('output'),
    error: json('error'),
    skipReason: text('skip_reason'),
    stage: text('stage'),
    /** The node cache's key for the node's result (a hash of everything that determines it), when the cache took part. */
    inputsHash: text('inputs_hash'),
    /** For an output taken from the node cache: the run and node that computed it (`{ run, node }`). */
    cachedFrom: json('cached_from'),
    /** What the node's attempts used and cost (engine/usage.ts `Usage`). */
    usage: json('usage'),
    /** For a fleet run: the step (`fleet_runs.step`) that last wrote the row, so that a worker reads only what changed. */
    fleetStep: integer('fleet_step').notNull().default(0),
  },
  (t) => [primaryKey({ columns: [t.runId, t.nodeId] })],
)

/** The append-only event log; `seq` grows by one per run. */
export const generationEvents = pgTable(
  'generation_events',
  {
    runId: text('run_id')
      .notNull()
      .references(() => generations.id, { onDelete: 'cascade' }),
    seq: integer('seq').notNull(),
    type: text('type').notNull(),
    node: text('node'),
    timestamp: stamp('timestamp').notNull(),
    payload: json('payload').notNull().default(sql`'{}'::jsonb`),
  },
  (t) => [primaryKey({ columns: [t.runId, t.seq] })],
)

/** Approval requests and their decisions, one row per gate and revision; a decision is written once. */
export const approvals = pgTable(
  'approvals',
  {
    runId: text('run_id')
      .notNull()
      .references(() => generations.id, { onDelete: 'cascade' }),
    gate: text('gate').notNull(),
    revision: integer('revision').notNull(),
    request: json('request').notNull(),
    decision: json('decision'),
    requestedAt: stamp('requested_at').notNull().defaultNow(),
    decidedAt: stamp('decided_at'),
  },
  (t) => [primaryKey({ columns: [t.runId, t.gate, t.revision] })],
)

/**
 * The pieces of a node's work that succeeded (fan-out items and steps, a gate's revisions), one row per task key: a run
 * resumed in one process reuses them instead of paying for them again (the fleet keeps its tasks in `fleet_tasks`).
 */
export const taskResults = pgTable(
  'task_results',
  {
    runId: text('run_id')
      .notNull()
      .references(() => generations.id, { onDelete: 'cascade' }),
    key: text('key').notNull(),
    node: text('node').notNull(),
    print: text('print').notNull(),
    outcome: json('outcome').notNull(),
  },
  (t) => [primaryKey({ columns: [t.runId, t.key] })],
)

/**
 * Postgres only (the fleet of `weft worker` processes needs a shared server database): a run driven by the fleet,
 * with what every worker needs to pick it up and the position counter of its tasks.
 */
export const fleetRuns = pgTable('fleet_runs', {
  runId: text('run_id')
    .primaryKey()
    .references(() => generations.id, { onDelete: 'cascade' }),
  /** Base directory of run files (the run's own is `<work_dir>/<run id>`); the same path on every worker. */
  workDir: text('work_dir').notNull(),
  /** Next task position: tasks are admitted in the order they were asked for. */
  nextPosition: integer('next_position').notNull().default(0),
  /** Set when someone asked to cancel the run (the next step ends it). */
  cancel: json('cancel'),
  /** A re-run's nodes executed again whatever the node cache holds (`rerun --from`): a list of node ids. */
  refresh: json('refresh'),
  /** Steps committed so far: each stamps the node and task rows it writes with its number. */
  step: integer('step').notNull().default(0),
})

/**
 * One unit of work of a fleet run: a worker node's attempt, a fan-out item's step, a gated node's revision, or a
 * control node's own memo. `fence` grows each time a worker claims the task: only the holder of the current
 * fence may record its outcome, so a worker thought lost cannot commit after the task was handed to another.
 */
export const fleetTasks = pgTable(
  'fleet_tasks',
  {
    runId: text('run_id')
      .notNull()
      .references(() => generations.id, { onDelete: 'cascade' }),
    key: text('key').notNull(),
    /** node | child | revise | control */
    kind: text('kind').notNull(),
    /** The pipeline node the task belongs to (a child's or a revision's control node). */
    node: text('node').notNull(),
    position: integer('position').notNull(),
    /** ready | queued | running | done (ended, not settled yet) | backoff | succeeded | failed | cancelled */
    status: text('status').notNull(),
    attempt: integer('attempt').notNull().default(0),
    fence: integer('fence').notNull().default(0),
    /** What to run: type, module, config, retry, timeout, pool, revision. */
    spec: json('spec').notNull(),
    outcome: json('outcome'),
    /** A control node's replay memo (events already emitted, decisions already announced, its deadline). */
    memo: json('memo'),
    worker: text('worker'),
    heartbeatAt: stamp('heartbeat_at'),
    /** The step (`fleet_runs.step`) that last wrote the row; a claim or a recorded outcome (outside steps) leaves it. */
    step: integer('step').notNull().default(0),
  },
  (t) => [
    primaryKey({ columns: [t.runId, t.key] }),
    index('fleet_tasks_running_idx').on(t.heartbeatAt).where(sql`${t.status} = 'running'`),
    /** Attempts that ended and wait for a step to settle them. */
    index('fleet_tasks_done_idx').on(t.runId).where(sql`${t.status} = 'done'`),
  ],
)

/** Live `weft worker` processes (Postgres only): the queue's worker ids each holds, so that jobs of a worker gone silent can be unlocked. */
export const fleetWorkers = pgTable('fleet_workers', {
  id: text('id').primaryKey(),
  queueWorkers: json('queue_workers').notNull(),
  heartbeatAt: stamp('heartbeat_at').notNull(),
  /** Its heartbeat TTL (`WEFT_HEARTBEAT_TTL`): the fleet waits out the longest of its live workers' before a hand-over. */
  ttlMs: integer('ttl_ms'),
})
