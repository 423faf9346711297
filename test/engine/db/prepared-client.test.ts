// drizzle over a preparing client: its statements are prepared (one round trip each, so they can be pipelined), on
// the pool, in transactions and on reserved connections; without the wrapper drizzle 0.45 prepares none of them.
import { after, before, describe, it } from 'node:test'
import assert from 'node:assert/strict'
import postgres, { type Sql } from 'postgres'
import { drizzle } from 'drizzle-orm/postgres-js'
import { sql } from 'drizzle-orm'
import { preparingClient } from '../../../engine/db/prepared-client.ts'

const url = process.env.DATABASE_URL

/** The statements prepared on the connection this runs on. */
const preparedHere = sql`select count(*)::int as n from pg_prepared_statements where statement like '%weft_prepared_probe%'`

describe('preparingClient', { skip: url ? false : 'DATABASE_URL is not set; this runs in CI, where it is set' }, () => {
  let raw: Sql
  before(() => {
    // one connection: what was prepared on it is what pg_prepared_statements shows
    raw = postgres(url!, { max: 1, onnotice: () => {} })
  })
  after(async () => {
    await raw.end()
  })

  const probe = (n: number) => sql`select ${n}::int as weft_prepared_probe`

  it('leaves drizzle unprepared without it (the behaviour it corrects)', async () => {
    const db = drizzle({ client: raw })
    await db.execute(probe(1))
    const [row] = (await db.execute(preparedHere)) as unknown as Array<{ n: number }>
    assert.equal(row!.n, 0)
  })

  it('prepares drizzle statements on the pool, in transactions and on reserved connections', async () => {
    const client = preparingClient(raw)
    const db = drizzle({ client })
    await db.execute(probe(2))
    const [pooled] = (await db.execute(preparedHere)) as unknown as Array<{ n: number }>
    assert.equal(pooled!.n, 1)

    const inTx = await db.transaction(async (tx) => {
      await tx.execute(sql`select ${'tx'}::text as weft_prepared_probe`)
      return (await tx.execute(preparedHere)) as unknown as Array<{ n: number }>
    })
    assert.equal(inTx[0]!.n, 2)

    const conn = await client.reserve()
    try {
      await conn.unsafe('select $1::bigint as weft_prepared_probe', [3])
      const [reserved] = await conn.unsafe('select count(*)::int as n from pg_prepared_statements where statement like $1', ['%weft_prepared_probe%'])
      assert.equal(reserved!.n, 3)
    } finally {
      conn.release()
    }
  })

  it('answers the same rows as the client it wraps', async () => {
    const db = drizzle({ client: preparingClient(raw) })
    const rows = (await db.execute(sql`select ${'a'}::text as x, ${42}::int as y`)) as unknown as Array<{ x: string; y: number }>
    assert.deepEqual([...rows], [{ x: 'a', y: 42 }])
  })
})
