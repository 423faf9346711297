// Cases for the SQL stores only (PGlite and Postgres): migrations, the product's columns, corrupt rows.
import { describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { readFileSync } from 'node:fs'
import path from 'node:path'
import { migrationsFolder } from '../../../engine/db/migrations-folder.ts'
import type { RunStore } from '../../../engine/ports.ts'
import { event, newRun, node } from '../../contracts/run-store.ts'

/** An empty database of its own for one test. */
export interface SqlDatabase {
  /** Runs SQL on the database beside the store (through the store's own connection where only one is allowed). */
  query(text: string): Promise<Record<string, unknown>[]>
  /** Opens the store on this database, which migrates it. */
  open(): Promise<RunStore>
  /** Closes what is open and removes the database. */
  cleanup(): Promise<void>
}

const TABLES = ['approvals', 'generation_events', 'generation_nodes', 'generations']

const journal = JSON.parse(readFileSync(path.join(migrationsFolder(), 'meta', '_journal.json'), 'utf8')) as { entries: Array<{ tag: string }> }

async function ourTables(db: SqlDatabase): Promise<string[]> {
  const rows = await db.query(`select table_name from information_schema.tables where table_schema = 'public' order by table_name`)
  return rows.map((r) => String(r.table_name)).filter((t) => TABLES.includes(t))
}

/** Columns of every table of ours, as `table.column type`, to compare a schema before and after. */
async function columns(db: SqlDatabase): Promise<string[]> {
  const rows = await db.query(`select table_name, column_name, data_type from information_schema.columns where table_schema = 'public' order by table_name, ordinal_position`)
  return rows.map((r) => `${r.table_name}.${r.column_name} ${r.data_type}`)
}

const migrationRows = (db: SqlDatabase) => db.query(`select hash, created_at::text as created_at from drizzle.__drizzle_migrations order by id`)

export function sqlStoreCases(name: string, fresh: () => Promise<SqlDatabase>): void {
  describe(`SQL run store: ${name}`, () => {
    it('migrates an empty database, and re-applying the migrations changes nothing', async () => {
      const db = await fresh()
      try {
        assert.deepEqual(await ourTables(db), [])
        const first = await db.open()
        const run = newRun()
        await first.write([{ kind: 'run.create', run }, { kind: 'event', event: event(run.id, 1, 'run.started') }])
        assert.deepEqual(await ourTables(db), TABLES)
        const cols = await columns(db)
        for (const c of ['generations.owner text', 'generations.lease_until timestamp with time zone', 'generations.prompt text', 'generations.final_video_url text',
          'generations.error_message text', 'generations.scenes jsonb', 'generation_nodes.inputs_hash text', 'approvals.decision jsonb']) {
          assert.ok(cols.includes(c), `missing column ${c}`)
        }
        const applied = await migrationRows(db)
        assert.equal(applied.length, journal.entries.length)
        await first.close()

        const second = await db.open()
        assert.deepEqual(await migrationRows(db), applied)
        assert.deepEqual(await columns(db), cols)
        assert.deepEqual(await second.getRun(run.id), run)
        assert.deepEqual(await second.listEvents(run.id), [event(run.id, 1, 'run.started')])
        await second.close()
      } finally {
        await db.cleanup()
      }
    })

    it('fills the product\'s columns from inputs and outputs, and bumps updated_at', async () => {
      const db = await fresh()
      try {
        const store = await db.open()
        const run = newRun({ inputs: { prompt: 'a red bicycle', framework: 'PAS', brand_assets: [{ path: 'logo.png' }] } })
        const bare = newRun({ inputs: { topic: 'no product fields' } })
        await store.write([{ kind: 'run.create', run }, { kind: 'run.create', run: bare }])
        const get = async (id: string) => (await db.query(`select prompt, framework, brand_assets, story_text, reference_images, scenes, video_clips, final_video_url,
          error_message, status, brand_assets is null as no_assets, updated_at >= created_at as bumped, updated_at from generations where id = '${id}'`))[0]!
        const created = await get(run.id)
        assert.deepEqual([created.prompt, created.framework, created.brand_assets, created.story_text, created.final_video_url], ['a red bicycle', 'PAS', [{ path: 'logo.png' }], null, null])
        // absent product fields are SQL NULL, not JSON null
        assert.equal((await get(bare.id)).no_assets, true)

        const outputs = {
          story_text: 'Once there was a bicycle.', reference_images: [{ path: 'ref-1.png', kind: 'image', source: 'generated' }],
          scenes: [{ n: 1, text: 'ride' }], video_clips: [{ scene: 1, path: 'clip-1.mp4', duration_s: 4 }], final_video: '/out/final.mp4',
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
          const all: Record<string, string> = { id: `'${id}'`, pipeline_name: `'ad'`, pipeline_version: `'1'`, pipeline_file: `'/ad.yaml'`, inputs: `'{}'`, config: `'{}'`, created_at: `'2025-06-01T00:00:00Z'`, ...fields }
          return db.query(`insert into generations (${Object.keys(all).join(', ')}) values (${Object.values(all).join(', ')})`)
        }
        await row('bad-status', { status: `'exploded'` })
        await row('bad-json', { status: `'running'`, outputs: `'[1, 2]'`, error: `'"boom"'` })
        await row('bad-node', { status: `'completed'` })
        await db.query(`insert into generation_nodes (run_id, node_id, type, status, started_at) values ('bad-node', 'n1', 'work', 'weird', 'infinity')`)
        await row('bad-time', { status: `'running'`, started_at: `'-infinity'`, pipeline_version: `'one'`, pipeline_version_numeric: 'true' })
        await db.query(`insert into generation_events (run_id, seq, type, timestamp, payload) values ('bad-node', 1, 'run.started', now(), '{}')`)

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
          const issues = (r.error?.details as { issues: Array<{ path: string }> }).issues
          assert.deepEqual(issues.map((i) => i.path), paths, id)
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
        assert.deepEqual((await store.listEvents('bad-node')).map((e) => e.type), ['run.started'])
        await store.close()
      } finally {
        await db.cleanup()
      }
    })
  })
}
