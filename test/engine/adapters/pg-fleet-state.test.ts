// A fleet step reads only what other steps wrote since this process's last step of the run: two fleets (two workers'
// worth of kept states) step the same runs in turn, and every state brought up to date agrees with a whole read; a kept
// state that disagrees with the rows is caught by that check. Needs DATABASE_URL (CI sets it).
import { after, before, describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import path from 'node:path'
import postgres, { type Sql } from 'postgres'
import { pipelinedTx } from '../../../engine/db/pipelined-tx.ts'
import { closeAdmin, createDatabase } from '../../support/pg-database.ts'
import { openFleet, pipelineLoader, type OpenFleet } from '../../../engine/adapters/open-fleet.ts'
import { PgFleet } from '../../../engine/adapters/pg-fleet.ts'
import { loadState, StateCheckFailed } from '../../../engine/adapters/pg-fleet-state.ts'
import { preparingClient } from '../../../engine/db/prepared-client.ts'
import { InlineExecutor } from '../../../engine/adapters/inline-executor.ts'
import { startFleetWorker, type FleetWorker } from '../../../engine/fleet/worker.ts'
import { loadPipeline } from '../../../engine/dsl/load.ts'
import { newRunRecord } from '../../../engine/fleet/new-run.ts'
import type { RunRecord } from '../../../engine/ports.ts'

const url = process.env.DATABASE_URL
const work = path.resolve(import.meta.dirname, '..', '..', '..', 'bench', 'nodes', 'work.mjs')

describe('fleet states kept between steps', { skip: url ? false : 'DATABASE_URL is not set; this runs in CI, where it is set', timeout: 120_000 }, () => {
  let db: { url: string; drop(): Promise<void> }
  let opened: OpenFleet
  let client: Sql
  const dir = mkdtempSync(path.join(tmpdir(), 'weft-pg-fleet-state-'))
  const file = path.join(dir, 'kept.yaml')

  before(async () => {
    db = await createDatabase()
    opened = await openFleet(db.url, { max: 2 })
    client = postgres(db.url, { max: 4, onnotice: () => {} })
    writeFileSync(
      file,
      `pipeline: kept
plugins: [${work}]
nodes:
  a: { type: bench_noop }
  wide:
    type: fan_out
    needs: [a]
    items: \${{ [1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12] }}
    concurrency: 4
    node: { type: bench_noop }
  b: { type: bench_noop, needs: [a] }
  c: { type: bench_noop, needs: [wide, b] }
outputs:
  items: \${{ size(nodes.wide.output.results) }}
`,
    )
  })
  after(async () => {
    await client.end()
    await opened.close()
    await db.drop()
    await closeAdmin()
    rmSync(dir, { recursive: true, force: true })
  })

  const submit = async (): Promise<string> => {
    const loaded = await loadPipeline(file)
    assert.ok(loaded.pipeline, JSON.stringify(loaded.diagnostics))
    const run = newRunRecord(loaded.pipeline, { inputs: {}, config: {} })
    await opened.fleet.submit(run, dir)
    return run.id
  }

  const finished = async (ids: string[]): Promise<RunRecord[]> => {
    for (;;) {
      const runs = await Promise.all(ids.map((id) => opened.store.getRun(id)))
      if (runs.every((r) => r && ['completed', 'failed', 'cancelled'].includes(r.status))) return runs as RunRecord[]
      await new Promise((r) => setTimeout(r, 50))
    }
  }

  it('two workers step the same runs in turn: each state brought up to date agrees with a whole read', async () => {
    const fleets = [0, 1].map(() => new PgFleet(preparingClient(client), { pipelineOf: pipelineLoader(), checkCached: true }))
    const workers: FleetWorker[] = []
    try {
      for (const fleet of fleets) workers.push(await startFleetWorker({ connectionString: db.url, fleet, executor: new InlineExecutor(), concurrency: 4, heartbeatTtlMs: 10_000 }))
      const ids = await Promise.all([submit(), submit(), submit()])
      const runs = await finished(ids)
      for (const run of runs) {
        assert.equal(run.status, 'completed', JSON.stringify(run.error))
        assert.deepEqual(run.outputs, { items: 12 })
      }
    } finally {
      await Promise.all(workers.map((w) => w.stop()))
    }
    const reads = fleets.map((f) => f.reads)
    assert.deepEqual(
      reads.map((r) => r.differed),
      [0, 0],
    )
    // both ways of reading were taken, by both fleets
    for (const r of reads) assert.ok(r.merged > 0 && r.whole > 0, JSON.stringify(reads))
  })

  it('a run failed outside a step (its pipeline unloadable) is read as failed by a state kept from before', async () => {
    const id = await submit()
    const kept = (await pipelinedTx(client, (tx) => loadState(tx, id))).value
    assert.ok(kept && kept !== 'busy')
    assert.ok(Object.values(kept.state.tasks).some((t) => t.status === 'queued'))
    await opened.fleet.failRun(id, { code: 'PIPELINE_NOT_FOUND', message: 'gone' })
    const after = (await pipelinedTx(client, (tx) => loadState(tx, id, { cached: { state: kept.state, step: kept.step }, check: true }))).value
    assert.ok(after && after !== 'busy' && after.merged)
    assert.equal(after.state.run.status, 'failed')
    assert.deepEqual(
      Object.values(after.state.tasks).filter((t) => t.status === 'queued'),
      [],
    )
    // the nodes it ended are read by the kept state too (the check above compared them with a whole read)
    assert.deepEqual(
      Object.values(after.state.run.nodes).filter((n) => n.status === 'running' || n.status === 'pending'),
      [],
    )
  })

  it('a kept state that the rows contradict is caught by the check', async () => {
    const id = await submit()
    await pipelinedTx(client, async (db) => {
      const whole = await loadState(db, id)
      assert.ok(whole && whole !== 'busy' && !whole.merged)
      // as kept, it agrees: brought up to date, and checked
      const again = await loadState(db, id, { cached: { state: structuredClone(whole.state), step: whole.step }, check: true })
      assert.ok(again && again !== 'busy' && again.merged)
      // a node's record that no row says changed
      const kept = structuredClone(whole.state)
      kept.run.nodes.b!.status = 'succeeded'
      await assert.rejects(loadState(db, id, { cached: { state: kept, step: whole.step }, check: true }), StateCheckFailed)
    })
  })
})
