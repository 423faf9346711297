// Names the fleet shares with its queue (graphile-worker) and its listeners, and the jobs it adds. No SQL here: the
// in-process driver reads these names, and knows no database.

/** graphile-worker's schema (its own migrations create it). */
export const QUEUE_SCHEMA = 'graphile_worker'
/** Channel of `NOTIFY`s sent when a fleet step commits events: `{ run, seq }`. */
export const EVENTS_CHANNEL = 'weft_events'
/** The lease owner of a run the fleet drives: no single process may claim it (`weft resume`, a server's resume sweep). */
export const FLEET_OWNER = 'fleet'
/** When a fleet run's lease ends: never, while the run is the fleet's. */
export const FLEET_LEASE_UNTIL = '9999-12-31T00:00:00.000Z'

/** The queue of attempts in no routed pool. */
export const DEFAULT_QUEUE = 'default'

/** The job name of an attempt on `queue`: a worker takes the queues it is started with (`--queues`). */
export function attemptTask(queue: string = DEFAULT_QUEUE): AttemptTask {
  return queue === DEFAULT_QUEUE ? 'weft_attempt' : `weft_attempt:${queue}`
}
export type AttemptTask = 'weft_attempt' | `weft_attempt:${string}`

/** A job of the fleet: an attempt to run, or an event to apply to a run. */
export type Job = { task: AttemptTask; payload: { run: string; key: string; fence: number } } | { task: 'weft_advance'; payload: { run: string; event: unknown } }
