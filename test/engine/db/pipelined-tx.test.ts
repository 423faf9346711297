// A pipelined transaction commits what its body wrote, keeps nothing of a body that fails (and names the statement
// that failed, not the ones aborted after it), and reads `after` once the commit is done.
import { after, before, describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { randomBytes } from 'node:crypto'
import postgres, { type Sql } from 'postgres'
import { sql } from 'drizzle-orm'
import { preparingClient } from '../../../engine/db/prepared-client.ts'
import { pipelinedTx } from '../../../engine/db/pipelined-tx.ts'

const url = process.env.DATABASE_URL

describe('pipelinedTx', { skip: url ? false : 'DATABASE_URL is not set; this runs in CI, where it is set' }, () => {
  let client: Sql
  const table = `weft_pipelined_${randomBytes(4).toString('hex')}`
  const rows = async () => (await client.unsafe(`select k, v from ${table} order by k`)).map((r) => `${r.k}=${r.v}`)

  before(async () => {
    client = preparingClient(postgres(url!, { max: 3, onnotice: () => {} }))
    await client.unsafe(`create table ${table} (k int primary key, v text not null)`)
  })
  after(async () => {
    await client.unsafe(`drop table if exists ${table}`)
    await client.end()
  })

  it('commits the statements the body sent together, and reads `after` once committed', async () => {
    const t = sql.raw(table)
    const out = await pipelinedTx(
      client,
      async (tx) => {
        await Promise.all([tx.execute(sql`insert into ${t} values (1, 'a')`), tx.execute(sql`insert into ${t} values (2, 'b')`)])
        return 'done'
      },
      // on the same connection, after the COMMIT: outside any transaction (no transaction id assigned)
      async (db) => (await db.execute(sql`select count(*)::int as n, txid_current_if_assigned() is null as outside from ${t}`)) as unknown as Array<{ n: number; outside: boolean }>,
    )
    assert.equal(out.value, 'done')
    assert.deepEqual([...out.after], [{ n: 2, outside: true }])
    assert.deepEqual(await rows(), ['1=a', '2=b'])
  })

  it('keeps nothing of a body that fails, and throws the failing statement’s error', async () => {
    const t = sql.raw(table)
    await assert.rejects(
      pipelinedTx(client, async (tx) => {
        await Promise.all([
          tx.execute(sql`insert into ${t} values (3, 'c')`),
          // a duplicate key: the statements after it are aborted, with an error of their own (25P02)
          tx.execute(sql`insert into ${t} values (1, 'again')`),
          tx.execute(sql`insert into ${t} values (4, 'd')`),
        ])
      }),
      (err: unknown) => ((err as { cause?: { code?: string } }).cause ?? (err as { code?: string })).code === '23505',
    )
    assert.deepEqual(await rows(), ['1=a', '2=b'])
  })

  it('rolls back a body that throws after writing, and gives its connection back outside any transaction', async () => {
    const t = sql.raw(table)
    // one connection: what follows runs on the connection the failed transaction used
    const one = preparingClient(postgres(url!, { max: 1, onnotice: () => {} }))
    try {
      await assert.rejects(
        pipelinedTx(one, async (tx) => {
          await tx.execute(sql`insert into ${t} values (5, 'e')`)
          throw new Error('changed its mind')
        }),
        /changed its mind/,
      )
      assert.deepEqual(await rows(), ['1=a', '2=b'])
      const [state] = await one`select txid_current_if_assigned() is null as outside, (select count(*)::int from ${one(table)}) as n`
      assert.deepEqual({ ...state }, { outside: true, n: 2 })
    } finally {
      await one.end()
    }
  })

  it('takes options as the second argument of unsafe(), as postgres.js does', async () => {
    const rows = await client.unsafe('select 1 as one', { prepare: false } as never)
    assert.deepEqual([...rows], [{ one: 1 }])
  })
})
