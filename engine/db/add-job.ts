// How the fleet adds a job to its queue: a call of graphile-worker's `add_job`, sent inside the transaction that makes
// the job's work ready, so that the two commit together.
import { sql, type SQL } from 'drizzle-orm'
import { QUEUE_SCHEMA, type Job } from '../fleet/queue.ts'

/** A call of graphile-worker's `add_job` (a SQL function), to run inside the caller's transaction. */
export function jobCall(job: Job, opts: { runAt?: number } = {}): SQL {
  // always a parameter (null for now): the statement's text then depends only on how many jobs it adds
  const runAt = opts.runAt === undefined ? null : new Date(opts.runAt).toISOString()
  return sql`${sql.raw(QUEUE_SCHEMA)}.add_job(${job.task}, ${JSON.stringify(job.payload)}::json, run_at => ${runAt}::timestamptz, max_attempts => 25)`
}
