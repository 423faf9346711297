// The drizzle schema of the embedded store (SQLite): the same tables, columns and keys as schema.ts (Postgres).
import { customType, index, integer, primaryKey, real, sql, sqliteTable, text } from './drizzle-sqlite.ts'

/** JSON kept as text; every JSON value round-trips (SQL NULL stays NULL: drizzle does not encode nulls). */
const json = customType<{ data: unknown; driverData: string }>({
  dataType: () => 'text',
  toDriver: (value) => JSON.stringify(value),
  fromDriver: (value) => JSON.parse(value),
})

/** Milliseconds since the epoch, read back as a Date: the precision of `Date#toISOString()`. */
const stamp = (name: string) => integer(name, { mode: 'timestamp_ms' })
const flag = (name: string) => integer(name, { mode: 'boolean' })
/** The insert-time default of `updated_at` and `requested_at`, in milliseconds. */
const nowMs = sql`(cast(unixepoch('subsec') * 1000 as integer))`

/** One row per run; see schema.ts for what each column holds. */
export const generations = sqliteTable(
  'generations',
  {
    id: text('id').primaryKey(),
    pipelineName: text('pipeline_name').notNull(),
    pipelineVersion: text('pipeline_version').notNull(),
    pipelineVersionNumeric: flag('pipeline_version_numeric').notNull().default(false),
    pipelineFile: text('pipeline_file').notNull(),
    status: text('status').notNull(),
    interactive: flag('interactive').notNull().default(false),
    inputs: json('inputs').notNull(),
    config: json('config').notNull(),
    outputs: json('outputs'),
    error: json('error'),
    errorMessage: text('error_message'),
    currentStage: text('current_stage'),
    prompt: text('prompt'),
    framework: text('framework'),
    brandAssets: json('brand_assets'),
    storyText: text('story_text'),
    referenceImages: json('reference_images'),
    scenes: json('scenes'),
    videoClips: json('video_clips'),
    finalVideoUrl: text('final_video_url'),
    createdAt: stamp('created_at').notNull(),
    updatedAt: stamp('updated_at').notNull().default(nowMs),
    startedAt: stamp('started_at'),
    finishedAt: stamp('finished_at'),
    sessionId: text('session_id'),
    /** The folder the run's nodes write in (`<out>/<run id>`), where it was last driven; null for runs recorded before it was kept. */
    folder: text('folder'),
    owner: text('owner'),
    leaseUntil: stamp('lease_until'),
    ownerHost: text('owner_host'),
    ownerPid: integer('owner_pid'),
  },
  (t) => [
    // SQLite walks an index either way: (created_at, id) serves newest-first and oldest-first alike
    index('generations_created_idx').on(t.createdAt, t.id),
    index('generations_status_created_idx').on(t.status, t.createdAt, t.id),
    index('generations_session_idx').on(t.sessionId, t.createdAt),
  ],
)

export const generationNodes = sqliteTable(
  'generation_nodes',
  {
    runId: text('run_id')
      .notNull()
      .references(() => generations.id, { onDelete: 'cascade' }),
    nodeId: text('node_id').notNull(),
    position: integer('position'),
    type: text('type').notNull(),
    status: text('status').notNull(),
    attempts: integer('attempts').notNull().default(0),
    startedAt: stamp('started_at'),
    finishedAt: stamp('finished_at'),
    durationMs: real('duration_ms'),
    output: json('output'),
    error: json('error'),
    skipReason: text('skip_reason'),
    stage: text('stage'),
    inputsHash: text('inputs_hash'),
    cachedFrom: json('cached_from'),
    usage: json('usage'),
  },
  (t) => [primaryKey({ columns: [t.runId, t.nodeId] })],
)

export const generationEvents = sqliteTable(
  'generation_events',
  {
    runId: text('run_id')
      .notNull()
      .references(() => generations.id, { onDelete: 'cascade' }),
    seq: integer('seq').notNull(),
    type: text('type').notNull(),
    node: text('node'),
    timestamp: stamp('timestamp').notNull(),
    payload: json('payload').notNull().default(sql`'{}'`),
  },
  (t) => [primaryKey({ columns: [t.runId, t.seq] })],
)

export const approvals = sqliteTable(
  'approvals',
  {
    runId: text('run_id')
      .notNull()
      .references(() => generations.id, { onDelete: 'cascade' }),
    gate: text('gate').notNull(),
    revision: integer('revision').notNull(),
    request: json('request').notNull(),
    decision: json('decision'),
    requestedAt: stamp('requested_at').notNull().default(nowMs),
    decidedAt: stamp('decided_at'),
  },
  (t) => [primaryKey({ columns: [t.runId, t.gate, t.revision] })],
)

/** See schema.ts. */
export const taskResults = sqliteTable(
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
