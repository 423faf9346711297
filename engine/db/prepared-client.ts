// A postgres.js client as drizzle should see it: statements prepared. drizzle-orm 0.45 runs every query through
// `unsafe()` with `prepare` false unless the query was given a name (drizzle-orm#6096). An unprepared statement with
// parameters costs postgres.js two round trips (describe, then execute), and the second waits for the first, so
// statements sent together are not pipelined. Prepared, one round trip: postgres.js keeps one statement per SQL
// text and connection.
import type { Sql } from 'postgres'

type Scoped = (sql: Sql) => unknown

/** `client`, with `unsafe()` always preparing, in transactions, savepoints and reserved connections too. */
export function preparingClient<T extends Sql>(client: T): T {
  return new Proxy(client, {
    get(target, prop, receiver) {
      const value = Reflect.get(target, prop, receiver)
      // postgres.js's methods are closures: those not wrapped are answered as they are
      if (typeof value !== 'function') return value
      if (prop === 'unsafe') {
        // unsafe(text, params, options) and unsafe(text, options)
        return (text: string, params?: unknown[] | object, options?: object) =>
          Array.isArray(params) || params === undefined ? value.call(target, text, params ?? [], { ...options, prepare: true }) : value.call(target, text, [], { ...params, prepare: true })
      }
      if (prop === 'begin' || prop === 'savepoint') {
        // begin(fn) and begin(options, fn): the callback is the last argument
        return (...args: unknown[]) => {
          const fn = args[args.length - 1] as Scoped
          return value.apply(target, [...args.slice(0, -1), (scoped: Sql) => fn(preparingClient(scoped))])
        }
      }
      if (prop === 'reserve') return async () => preparingClient(await value.call(target))
      return value
    },
  }) as T
}
