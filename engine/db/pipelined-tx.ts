// A transaction whose BEGIN travels with its first statements and whose COMMIT travels with its last (and with what
// is read after it), on a reserved postgres.js connection. postgres.js's own `begin` waits for BEGIN before it runs
// the body and for the body before it sends COMMIT: two round trips a transaction that this saves.
import type { Sql } from 'postgres'
import { drizzle } from 'drizzle-orm/postgres-js'
import type { PgConn } from './statement.ts'

export interface Pipelined<T, A> {
  /** What the body answered. */
  value: T
  /** What `after` read once the transaction had committed. */
  after: A
}

/**
 * Runs `body` in a transaction on a connection of its own. Postgres runs the body's statements in the order they are
 * sent, and postgres.js sends a query once it is awaited or executed: a body sends each at once, with `.execute()`
 * (drizzle) or a `Statement`, never as a query builder awaited later inside a helper (it would go after queries made
 * after it). `after` is sent right behind the COMMIT and runs once the
 * transaction has committed (its failure does not undo the commit, and is thrown: a caller whose commit must count
 * makes `after` answer a default instead). A body that throws rolls back.
 */
export async function pipelinedTx<T, A = undefined>(client: Sql, body: (tx: PgConn) => Promise<T>, after?: (db: PgConn) => Promise<A>): Promise<Pipelined<T, A>> {
  const conn = await client.reserve()
  try {
    // a reserved connection has no `options` of its own; drizzle reads the pool's parsers from there
    const db = drizzle({ client: Object.assign(conn, { options: client.options }) })
    const began = conn.unsafe('begin')
    // awaited below, with the body's own statements; caught here so that it is never an unobserved rejection
    began.catch(() => {})
    let value: T
    try {
      value = await body(db)
      await began
    } catch (err) {
      // the first failure is the cause: a BEGIN that failed makes every statement after it fail too
      const cause = await began.then(
        () => err,
        (beginErr: unknown) => beginErr,
      )
      await conn.unsafe('rollback').catch(() => {})
      throw cause
    }
    // sent now, so that it goes before anything `after` sends (postgres.js sends a query once it is executed)
    const committed = conn.unsafe('commit').execute()
    let read: Promise<A> | undefined
    try {
      read = after?.(db)
    } catch (err) {
      read = Promise.reject(err)
    }
    read?.catch(() => {})
    // a COMMIT in a transaction that failed answers ROLLBACK, without an error
    const done = await committed
    if (done.command !== 'COMMIT') throw new Error(`the transaction was rolled back (${done.command})`)
    return { value, after: (await read) as A }
  } finally {
    conn.release()
  }
}
