// A statement a hot path sends over and over, built by drizzle once (its values as placeholders) and sent as it is
// on the connection the caller holds, filled with each call's values. On a fleet step, building its queries cost
// drizzle more than Postgres spent running them; the text is the same every time, so it is built once.
import { Column, fillPlaceholders, is, type SQL } from 'drizzle-orm'
import type { Sql } from 'postgres'
import type { PgDb } from '../adapters/pg-store.ts'

/** A drizzle database whose driver is postgres.js (its `$client`: a pool, a transaction or a reserved connection). */
export type PgConn = PgDb & { $client: Sql }

/** What a statement answers per row: its selected fields, each a table's column (decoded as drizzle does) or an SQL value (as the driver read it). */
type Fields = Record<string, Column | SQL | SQL.Aliased>

type Decoded<F extends Fields> = {
  [K in keyof F]: F[K] extends Column ? F[K]['_']['data'] | (F[K]['_']['notNull'] extends true ? never : null) : F[K] extends SQL<infer T> | SQL.Aliased<infer T> ? T : unknown
}

export class Statement<F extends Fields> {
  #built: { sql: string; params: unknown[] } | undefined
  readonly #decoders: Array<[string, Column | undefined]>

  constructor(
    /** What it selects (or returns), in the order the query lists it. */
    readonly fields: F,
    /** The query, with `sql.placeholder(name)` where each call's values go; it must select exactly `fields`. */
    readonly build: (db: PgDb) => { toSQL(): { sql: string; params: unknown[] } },
  ) {
    this.#decoders = Object.entries(fields).map(([k, f]) => [k, is(f, Column) ? f : undefined])
  }

  /**
   * Sends the statement and answers its rows. Values go to the driver as they are: a placeholder in a JSON column
   * needs its text.
   */
  async run(db: PgConn, values: Record<string, unknown>): Promise<Array<Decoded<F>>> {
    const built = (this.#built ??= this.build(db).toSQL())
    // awaited at once, with nothing awaited before, as drizzle awaits the queries it runs: postgres.js sends a query
    // when it is awaited, so statements and drizzle's queries made in turn are sent, and run, in that order
    const rows = await db.$client.unsafe(built.sql, fillPlaceholders(built.params, values) as never[], { prepare: true }).values()
    return rows.map((row) => this.#decode(row as unknown[]))
  }

  #decode(row: unknown[]): Decoded<F> {
    // a query that selects other fields than declared would be read shifted: refused instead
    if (row.length !== this.#decoders.length) throw new Error(`a statement selects ${row.length} values where its fields are ${this.#decoders.length}: ${this.#built?.sql.slice(0, 120)}`)
    const out: Record<string, unknown> = {}
    for (let i = 0; i < this.#decoders.length; i++) {
      const [key, column] = this.#decoders[i]!
      const raw = row[i]
      out[key] = raw === null || raw === undefined || !column ? (raw ?? null) : column.mapFromDriverValue(raw)
    }
    return out as Decoded<F>
  }
}
