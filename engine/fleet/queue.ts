// Names the fleet shares with its queue (graphile-worker) and its listeners.

/** graphile-worker's schema (its own migrations create it). */
export const QUEUE_SCHEMA = 'graphile_worker'
/** Channel of `NOTIFY`s sent when a fleet step commits events: `{ run, seq }`. */
export const EVENTS_CHANNEL = 'weft_events'
/** The lease owner of a run the fleet drives: no single process may claim it (`weft resume`, a server's resume sweep). */
export const FLEET_OWNER = 'fleet'
/** When a fleet run's lease ends: never, while the run is the fleet's. */
export const FLEET_LEASE_UNTIL = '9999-12-31T00:00:00.000Z'
