// Many weft processes on one data directory (SQLite): 8 `weft run` at once, a `weft serve` driving generations of its
// own, and a `weft runs` loop, all together. Every run is recorded completed with all its nodes, no process reports
// a busy or failed store, and every run's events are numbered without a gap.
import { describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { spawn, type ChildProcess } from 'node:child_process'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import path from 'node:path'
import { setTimeout as sleep } from 'node:timers/promises'
import { openRunStore } from '../../engine/adapters/open-store.ts'
import { fixtures } from '../helpers.ts'

const root = path.resolve(import.meta.dirname, '..', '..')
const weftArgs = ['--import', 'tsx', path.join(root, 'cli', 'weft.ts')]

interface Exit {
  code: number | null
  stdout: string
  stderr: string
}

function start(args: string[], env: Record<string, string | undefined>): { child: ChildProcess; done: Promise<Exit> } {
  const child = spawn(process.execPath, [...weftArgs, ...args], { cwd: root, env, stdio: ['ignore', 'pipe', 'pipe'] })
  let stdout = ''
  let stderr = ''
  child.stdout!.setEncoding('utf8').on('data', (d: string) => (stdout += d))
  child.stderr!.setEncoding('utf8').on('data', (d: string) => (stderr += d))
  const done = new Promise<Exit>((resolve) => child.on('close', (code) => resolve({ code, stdout, stderr })))
  return { child, done }
}

/** What no process may print: SQLite's busy or locked answers, or a store error of ours. */
const STORE_TROUBLE = /SQLITE_BUSY|SQLITE_LOCKED|database is locked|STORE_[A-Z_]+/

describe('one data directory shared by many processes (SQLite)', () => {
  it('records every run of 8 `weft run`, a `weft serve` and a `weft runs` loop working at once', { timeout: 240_000 }, async () => {
    const data = mkdtempSync(path.join(tmpdir(), 'weft-shared-'))
    const env = { ...process.env, WEFT_DATA_DIR: data, DATABASE_URL: '' }
    try {
      const server = start(['serve', '--port', '0', '--pipelines', path.join(fixtures, 'served')], env)
      const url = await new Promise<string>((resolve, reject) => {
        let seen = ''
        server.child.stdout!.on('data', (d: string) => {
          seen += d
          const m = /serving on (http:\/\/\S+)/.exec(seen)
          if (m) resolve(m[1]!)
        })
        void server.done.then((e) => reject(new Error(`weft serve exited ${e.code}:\n${e.stderr}`)))
      })

      // the listing loop: a fresh process every round, reading while the others write
      let listing = true
      const listings: Exit[] = []
      const lister = (async () => {
        while (listing) listings.push(await start(['runs', '--json', '--limit', '100'], env).done)
      })()

      const pipeline = path.join(fixtures, 'pipelines', 'shared-dir.yaml')
      const runs = Array.from({ length: 8 }, (_, i) => start(['run', pipeline, '--input', `tag=cli-${i}`, '--json'], env).done)
      const posted = await Promise.all(
        Array.from({ length: 4 }, async (_, i) => {
          const res = await fetch(`${url}/api/v2/generate`, {
            method: 'POST',
            headers: { 'content-type': 'application/json' },
            body: JSON.stringify({ pipeline: 'gated', prompt: `served ${i}` }),
          })
          assert.equal(res.status, 202, await res.clone().text())
          return ((await res.json()) as { generation_id: string }).generation_id
        }),
      )
      const exits = await Promise.all(runs)
      // the server's generations finish on their own (the gate decides by its `auto` policy)
      for (const id of posted) {
        for (let i = 0; i < 200; i++) {
          const g = (await (await fetch(`${url}/api/v2/generations/${id}`)).json()) as { status: string }
          if (!['pending', 'running', 'awaiting_approval'].includes(g.status)) break
          await sleep(100)
        }
      }
      listing = false
      await lister
      server.child.kill('SIGTERM')
      const served = await server.done

      for (const e of exits) {
        assert.equal(e.code, 0, e.stderr)
        assert.doesNotMatch(e.stderr, STORE_TROUBLE)
      }
      assert.ok(listings.length >= 2, `only ${listings.length} listings ran alongside`)
      for (const l of listings) {
        assert.equal(l.code, 0, l.stderr)
        assert.doesNotMatch(l.stderr, STORE_TROUBLE)
        assert.ok(Array.isArray(JSON.parse(l.stdout)))
      }
      assert.doesNotMatch(served.stderr, STORE_TROUBLE)

      const ids = [...exits.map((e) => (JSON.parse(e.stdout) as { id: string }).id), ...posted]
      const store = await openRunStore({ env })
      try {
        for (const id of ids) {
          const run = await store.getRun(id)
          assert.ok(run, `run ${id} is recorded`)
          assert.equal(run.status, 'completed', `run ${id}: ${JSON.stringify(run.error)}`)
          const nodes = Object.values(run.nodes)
          assert.ok(nodes.length >= 3 && nodes.every((n) => n.status === 'succeeded'), `run ${id}: ${nodes.map((n) => `${n.id}=${n.status}`).join(' ')}`)
          const seqs = (await store.listEvents(id)).map((e) => e.seq)
          assert.deepEqual(
            seqs,
            seqs.map((_, i) => i + 1),
            `run ${id}: events numbered without a gap`,
          )
        }
        assert.equal((await store.listRuns()).length, ids.length)
      } finally {
        await store.close()
      }
    } finally {
      rmSync(data, { recursive: true, force: true })
    }
  })
})
