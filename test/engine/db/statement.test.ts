// A statement built once answers what drizzle's own query answers (timestamps, JSON, nulls, SQL values), on the pool
// and inside a pipelined transaction, and its text is built on its first call only.
import { after, before, describe, it } from 'node:test'
import assert from 'node:assert/strict'
import postgres, { type Sql } from 'postgres'
import { asc, eq, getTableColumns, sql } from 'drizzle-orm'
import { drizzle } from 'drizzle-orm/postgres-js'
import { closeAdmin, createDatabase } from '../../support/pg-database.ts'
import { openPostgresStore } from '../../../engine/adapters/postgres-store.ts'
import { generationNodes, generations } from '../../../engine/db/schema.ts'
import { Statement } from '../../../engine/db/statement.ts'
import { pipelinedTx } from '../../../engine/db/pipelined-tx.ts'
import { nodeRecord, runRecord } from '../../support/run-record.ts'

const url = process.env.DATABASE_URL

describe('Statement', { skip: url ? false : 'DATABASE_URL is not set; this runs in CI, where it is set' }, () => {
  let db: Awaited<ReturnType<typeof createDatabase>>
  let client: Sql
  before(async () => {
    db = await createDatabase()
    const store = await openPostgresStore(db.url)
    const run = runRecord(
      [
        nodeRecord('a', { status: 'succeeded', attempts: 1, started_at: '2026-01-01T00:00:01.000Z', finished_at: '2026-01-01T00:00:02.500Z', duration_ms: 1500, output: { text: 'hi', n: [1, 2] } }),
        nodeRecord('b', { status: 'failed', attempts: 2, error: { code: 'BOOM', message: 'no' } }),
        nodeRecord('c'),
      ],
      { inputs: { prompt: 'x' }, started_at: '2026-01-01T00:00:01.000Z' },
    )
    await store.write([{ kind: 'run.create', run }])
    await store.close()
    client = postgres(db.url, { max: 2, onnotice: () => {} })
  })
  after(async () => {
    await client?.end()
    await db?.drop()
    await closeAdmin()
  })

  const run = sql.placeholder('run')

  it('answers the rows drizzle answers, decoded the same way, on the pool and in a pipelined transaction', async () => {
    let builds = 0
    const nodes = new Statement(getTableColumns(generationNodes), (d) => {
      builds++
      return d.select().from(generationNodes).where(eq(generationNodes.runId, run)).orderBy(asc(generationNodes.nodeId))
    })
    const pool = drizzle({ client })
    const expected = await pool.select().from(generationNodes).where(eq(generationNodes.runId, 'r1')).orderBy(asc(generationNodes.nodeId))
    assert.equal(expected.length, 3)
    // timestamps, JSON and nulls among them
    assert.ok(expected.some((n) => n.startedAt instanceof Date && n.output !== null) && expected.some((n) => n.error !== null && n.startedAt === null))
    assert.deepEqual(await nodes.run(pool, { run: 'r1' }), expected)
    const inTx = await pipelinedTx(client, (tx) => nodes.run(tx, { run: 'r1' }))
    assert.deepEqual(inTx.value, expected)
    assert.deepEqual(await nodes.run(pool, { run: 'nope' }), [])
    assert.equal(builds, 1, 'built on its first call only')
  })

  it('is sent after the drizzle queries made before it in a pipelined transaction, and before those made after', async () => {
    const stage = new Statement({ stage: generations.currentStage }, (d) => d.select({ stage: generations.currentStage }).from(generations).where(eq(generations.id, run)))
    const out = await pipelinedTx(client, async (tx) => {
      // none awaited before the next is made: Postgres runs them in the order they are sent
      const first = tx.update(generations).set({ currentStage: 'one' }).where(eq(generations.id, 'r1')).execute()
      const read = stage.run(tx, { run: 'r1' })
      const second = tx.update(generations).set({ currentStage: 'two' }).where(eq(generations.id, 'r1')).execute()
      await Promise.all([first, second])
      return read
    })
    assert.deepEqual(out.value, [{ stage: 'one' }])
  })

  it('decodes a selection of columns and SQL values by position, and fills placeholders in an update', async () => {
    const fields = { id: generations.id, nodes: sql<number>`(select count(*)::int from ${generationNodes} where ${generationNodes.runId} = ${run})`, startedAt: generations.startedAt }
    const summary = new Statement(fields, (d) => d.select(fields).from(generations).where(eq(generations.id, run)))
    const pool = drizzle({ client })
    assert.deepEqual(await summary.run(pool, { run: 'r1' }), [{ id: 'r1', nodes: 3, startedAt: new Date('2026-01-01T00:00:01.000Z') }])
    const stage = new Statement({ id: generations.id, stage: generations.currentStage }, (d) =>
      d
        .update(generations)
        .set({ currentStage: sql`${sql.placeholder('stage')}` })
        .where(eq(generations.id, run))
        .returning({ id: generations.id, stage: generations.currentStage }),
    )
    assert.deepEqual(await stage.run(pool, { run: 'r1', stage: 'videos' }), [{ id: 'r1', stage: 'videos' }])
    assert.deepEqual(await stage.run(pool, { run: 'r1', stage: 'final' }), [{ id: 'r1', stage: 'final' }])
    const [row] = await pool.select({ stage: generations.currentStage }).from(generations).where(eq(generations.id, 'r1'))
    assert.equal(row!.stage, 'final')
  })
})
