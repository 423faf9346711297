// Cases for the SQL stores only (SQLite and Postgres): migrations, the product's columns, corrupt rows, lease holders.
import { describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { readFileSync } from 'node:fs'
import path from 'node:path'
import type { ProcessIdentity } from '../../../engine/adapters/lease-holder.ts'
import type { RunStore } from '../../../engine/ports.ts'
import { event, newRun, node } from '../../contracts/run-store.ts'

/** An empty database of its own for one test, and what differs between the dialects. */
export interface SqlDatabase {
  /** Runs SQL on the database beside the store. */
  query(text: string): Promise<Record<string, unknown>[]>
  /** Opens the store on this database, which migrates it. */
  open(opts?: { identity?: ProcessIdentity }): Promise<RunStore>
  /** Closes what is open and removes the database. */
  cleanup(): Promise<void>
  /** Our tables, by name. */
  tables(): Promise<string[]>
  /** Every column of our tables as `table.column type`, in order. */
  columns(): Promise<string[]>
  /** The migrations recorded as applied, as (hash, created_at) rows. */
  migrations(): Promise<Record<string, unknown>[]>
  /** The folder of the dialect's migrations. */
  migrationsFolder: string
  /** SQL literals: the current time, and a time value that is not a finite timestamp. */
  sql: { now: string; badTime: string }
}

const TABLES = ['approvals', 'generation_events', 'generation_nodes', 'generations']

async function ourTables(db: SqlDatabase): Promise<string[]> {
  return (await db.tables()).filter((t) => TABLES.includes(t)).sort()
}

export function sqlStoreCases(name: string, fresh: () => Promise<SqlDatabase>): void {
  describe(`SQL run store: ${name}`, () => {
    it('migrates an empty database, and re-applying the migrations changes nothing', async () => {
      const db = await fresh()
      try {
        assert.deepEqual(await ourTables(db), [])
        const first = await db.open()
        const run = newRun()
        await first.write([
          { kind: 'run.create', run },
          { kind: 'event', event: event(run.id, 1, 'run.started') },
        ])
        assert.deepEqual(await ourTables(db), TABLES)
        const cols = await db.columns()
        for (const c of [
          'generations.owner',
          'generations.lease_until',
          'generations.owner_host',
          'generations.owner_pid',
          'generations.prompt',
          'generations.final_video_url',
          'generations.error_message',
          'generations.scenes',
          'generation_nodes.inputs_hash',
          'approvals.decision',
        ]) {
          assert.ok(
            cols.some((col) => col.startsWith(`${c} `)),
            `missing column ${c}`,
          )
        }
        const applied = await db.migrations()
        const journal = JSON.parse(readFileSync(path.join(db.migrationsFolder, 'meta', '_journal.json'), 'utf8')) as { entries: Array<{ tag: string }> }
        assert.equal(applied.length, journal.entries.length)
        await first.close()

        const second = await db.open()
        assert.deepEqual(await db.migrations(), applied)
        assert.deepEqual(await db.columns(), cols)
        assert.deepEqual(await second.getRun(run.id), run)
        assert.deepEqual(await second.listEvents(run.id), [event(run.id, 1, 'run.started')])
        await second.close()
      } finally {
        await db.cleanup()
      }
    })

    it("fills the product's columns from inputs and outputs, and bumps updated_at", async () => {
      const db = await fresh()
      try {
        const store = await db.open()
        const run = newRun({ inputs: { prompt: 'a red bicycle', framework: 'PAS', brand_assets: [{ path: 'logo.png' }] } })
        const bare = newRun({ inputs: { topic: 'no product fields' } })
        await store.write([
          { kind: 'run.create', run },
          { kind: 'run.create', run: bare },
        ])
        const get = async (id: string) => {
          const row = (
            await db.query(`select prompt, framework, brand_assets, story_text, reference_images, scenes, video_clips, final_video_url,
            error_message, status, brand_assets is null as no_assets, updated_at >= created_at as bumped, updated_at from generations where id = '${id}'`)
          )[0]!
          // SQLite hands JSON columns over as their text and truth values as 0 or 1
          for (const k of ['brand_assets', 'reference_images', 'scenes', 'video_clips']) if (typeof row[k] === 'string') row[k] = JSON.parse(row[k] as string)
          return { ...row, no_assets: Boolean(row.no_assets), bumped: Boolean(row.bumped) } as Record<string, unknown>
        }
        const created = await get(run.id)
        assert.deepEqual([created.prompt, created.framework, created.brand_assets, created.story_text, created.final_video_url], ['a red bicycle', 'PAS', [{ path: 'logo.png' }], null, null])
        // absent product fields are SQL NULL, not JSON null
        assert.equal((await get(bare.id)).no_assets, true)

        const outputs = {
          story_text: 'Once there was a bicycle.',
          reference_images: [{ path: 'ref-1.png', kind: 'image', source: 'generated' }],
          scenes: [{ n: 1, text: 'ride' }],
          video_clips: [{ scene: 1, path: 'clip-1.mp4', duration_s: 4 }],
          final_video: '/out/final.mp4',
        }
        await store.write([{ kind: 'run.update', runId: run.id, patch: { status: 'completed', outputs } }])
        const done = await get(run.id)
        assert.deepEqual(
          [done.status, done.story_text, done.reference_images, done.scenes, done.video_clips, done.final_video_url, done.bumped],
          ['completed', outputs.story_text, outputs.reference_images, outputs.scenes, outputs.video_clips, '/out/final.mp4', true],
        )
        await store.write([{ kind: 'run.update', runId: run.id, patch: { status: 'failed', error: { code: 'NODE_FAILED', message: 'render failed' } } }])
        assert.equal((await get(run.id)).error_message, 'render failed')
        await store.close()
      } finally {
        await db.cleanup()
      }
    })

    it('reports a corrupt row as a failed run with RUN_RECORD_CORRUPT, and goes on listing', async () => {
      const db = await fresh()
      try {
        const store = await db.open()
        const good = newRun({ created_at: '2026-01-01T00:00:00.000Z' })
        await store.write([{ kind: 'run.create', run: good }])
        // rows written by hand (another version, a manual edit): the values are SQL literals
        const row = (id: string, fields: Record<string, string>) => {
          const all: Record<string, string> = {
            id: `'${id}'`,
            pipeline_name: `'ad'`,
            pipeline_version: `'1'`,
            pipeline_file: `'/ad.yaml'`,
            inputs: `'{}'`,
            config: `'{}'`,
            created_at: db.sql.now,
            ...fields,
          }
          return db.query(`insert into generations (${Object.keys(all).join(', ')}) values (${Object.values(all).join(', ')})`)
        }
        await row('bad-status', { status: `'exploded'` })
        await row('bad-json', { status: `'running'`, outputs: `'[1, 2]'`, error: `'"boom"'` })
        await row('bad-node', { status: `'completed'` })
        await db.query(`insert into generation_nodes (run_id, node_id, type, status, started_at) values ('bad-node', 'n1', 'work', 'weird', ${db.sql.badTime})`)
        await row('bad-time', { status: `'running'`, started_at: db.sql.badTime, pipeline_version: `'one'`, pipeline_version_numeric: 'true' })
        await db.query(`insert into generation_events (run_id, seq, type, timestamp, payload) values ('bad-node', 1, 'run.started', ${db.sql.now}, '{}')`)

        const all = await store.listRuns()
        const byId = new Map(all.map((r) => [r.id, r]))
        assert.deepEqual(byId.get(good.id), good)
        const expected: Record<string, string[]> = {
          'bad-status': ['status'],
          'bad-json': ['outputs', 'error'],
          'bad-node': ['nodes.n1.status', 'nodes.n1.started_at'],
          'bad-time': ['pipeline.version', 'started_at'],
        }
        for (const [id, paths] of Object.entries(expected)) {
          const r = byId.get(id)
          assert.ok(r, `run ${id} is listed`)
          assert.equal(r.status, 'failed', id)
          assert.equal(r.error?.code, 'RUN_RECORD_CORRUPT', id)
          assert.equal(r.error?.retryable, false)
          const issues = (r.error?.details as { issues: Array<{ path: string }> } | undefined)?.issues ?? []
          assert.deepEqual(
            issues.map((i) => i.path),
            paths,
            id,
          )
          assert.deepEqual(await store.getRun(id), r)
        }
        // what did read is kept
        const badNode = byId.get('bad-node')!
        assert.deepEqual(badNode.nodes, { n1: node('n1', { status: 'failed' }) })
        assert.equal(byId.get('bad-json')!.outputs, null)
        assert.equal(byId.get('bad-time')!.pipeline.version, 'one')
        // a status this version does not know is listed as failed; the row itself is left as it was
        const failed = (await store.listRuns({ status: 'failed' })).map((r) => r.id)
        assert.ok(failed.includes('bad-status'))
        assert.ok(!failed.includes(good.id))
        assert.deepEqual((await db.query(`select status from generations where id = 'bad-status'`))[0], { status: 'exploded' })
        assert.deepEqual(
          (await store.listEvents('bad-node')).map((e) => e.type),
          ['run.started'],
        )
        await store.close()
      } finally {
        await db.cleanup()
      }
    })

    it("records the lease holder's host and process; takes over a lease whose process is gone from this host, not one elsewhere", async () => {
      const db = await fresh()
      const running = new Set([1001, 1002, 2001])
      const on = (host: string, pid: number): ProcessIdentity => ({ host, pid, alive: (p) => running.has(p) })
      const stores: RunStore[] = []
      try {
        const [a, b, c] = [await db.open({ identity: on('h1', 1001) }), await db.open({ identity: on('h1', 1002) }), await db.open({ identity: on('h2', 2001) })]
        stores.push(a, b, c)
        const run = newRun()
        await a.write([{ kind: 'run.create', run }])
        assert.equal(await a.claimRun(run.id, 'A', 60_000), true)
        assert.deepEqual(pick(await c.leaseHolder(run.id)), { owner: 'A', host: 'h1', pid: 1001 })
        assert.equal(await b.claimRun(run.id, 'B', 60_000), false, 'its holder runs')
        running.delete(1001)
        assert.equal(await c.claimRun(run.id, 'C', 60_000), false, 'another host cannot tell whether the holder runs: it waits for expiry')
        assert.equal(await b.claimRun(run.id, 'B', 60_000), true, 'the holder is gone from this host: taken over at once')
        assert.deepEqual(pick(await a.leaseHolder(run.id)), { owner: 'B', host: 'h1', pid: 1002 })
        assert.equal(await a.claimRun(run.id, 'A', 60_000), false, 'a process that lost its lease cannot take it back while B runs')
        await b.releaseRun(run.id, 'B')
        assert.equal(await c.leaseHolder(run.id), undefined)
      } finally {
        for (const s of stores) await s.close()
        await db.cleanup()
      }
    })
  })
}

const pick = (h: { owner: string; host: string | null; pid: number | null } | undefined) => h && { owner: h.owner, host: h.host, pid: h.pid }
