import { describe, it, before } from 'node:test'
import assert from 'node:assert/strict'
import { spawnSync } from 'node:child_process'
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import path from 'node:path'
import { fixtures } from '../helpers.ts'
import { stageNote } from '../../cli/runs.ts'

// Runs are recorded in the durable store: SQLite in a temporary data directory, or Postgres when
// DATABASE_URL is set (as in CI).
const root = path.resolve(path.dirname(new URL(import.meta.url).pathname), '..', '..')
const dataDir = mkdtempSync(path.join(tmpdir(), 'weft-data-'))
const weft = (...args: string[]) => {
  const r = spawnSync(process.execPath, ['--import', 'tsx', path.join(root, 'cli', 'weft.ts'), ...args], {
    cwd: root,
    encoding: 'utf8',
    timeout: 120_000,
    env: { ...process.env, WEFT_DATA_DIR: dataDir },
  })
  return { code: r.status, stdout: r.stdout, stderr: r.stderr }
}

describe('weft runs', () => {
  it('counts the skipped nodes of a run beside the succeeded ones', () => {
    const file = path.join(mkdtempSync(path.join(tmpdir(), 'weft-runs-skips-')), 'skips.yaml')
    writeFileSync(file, `pipeline: skips\nplugins: [${path.join(fixtures, 'plugins', 'work.mjs')}]\nnodes:\n  a: { type: work }\n  b: { type: work, when: false }\n`)
    const r = weft('run', file, '--json')
    assert.equal(r.code, 0, r.stderr)
    const id = JSON.parse(r.stdout).id as string
    const line = weft('runs', '--limit', '50')
      .stdout.split('\n')
      .find((l) => l.startsWith(id))
    assert.match(line ?? '', /completed\s+skips\s+\S+\s+1\/2 nodes \(1 skipped\)/)
  })
})

describe('recorded runs: weft run, runs, show, resume', () => {
  const dir = mkdtempSync(path.join(tmpdir(), 'weft-resume-cli-'))
  const log = path.join(dir, 'executions.log')
  const marker = path.join(dir, 'ready')
  let id = ''

  before(() => {
    const r = weft('run', path.join(fixtures, 'pipelines', 'resumable.yaml'), '--input', `log=${log}`, '--input', `marker=${marker}`, '--json')
    assert.equal(r.code, 1, r.stderr)
    id = JSON.parse(r.stdout).id
    assert.match(r.stderr, new RegExp(`run ${id}`), 'the run id is printed first')
  })

  it('weft runs lists the run; weft show gives its record and event log', () => {
    const runs = JSON.parse(weft('runs', '--json', '--status', 'failed', '--limit', '50').stdout) as Array<{ id: string; status: string }>
    assert.ok(runs.some((r) => r.id === id && r.status === 'failed'))
    const shown = JSON.parse(weft('show', id, '--json').stdout)
    assert.equal(shown.status, 'failed')
    assert.equal(shown.nodes.b.error.code, 'MISSING_FILE')
    assert.deepEqual(
      shown.events.map((e: { seq: number }) => e.seq),
      shown.events.map((_: unknown, i: number) => i + 1),
    )
    assert.equal(weft('show', 'no-such-run').code, 2)
    // as text: the event log, one line per event in order, or the last n
    const text = weft('show', id).stdout
    const logged = [...text.matchAll(/^ {2}#(\d+)\s+\S+ (\S+)/gm)].map((m) => [Number(m[1]), m[2]])
    assert.deepEqual(
      logged,
      shown.events.map((e: { seq: number; type: string }) => [e.seq, e.type]),
    )
    const last2 = [...weft('show', id, '--events', '2').stdout.matchAll(/^ {2}#(\d+)/gm)].map((m) => Number(m[1]))
    assert.deepEqual(
      last2,
      shown.events.slice(-2).map((e: { seq: number }) => e.seq),
    )
  })

  it('weft resume continues the run without executing what already succeeded', () => {
    writeFileSync(marker, '')
    const r = weft('resume', id, '--json')
    assert.equal(r.code, 0, r.stderr)
    const rec = JSON.parse(r.stdout)
    assert.equal(rec.id, id)
    assert.equal(rec.status, 'completed')
    assert.deepEqual(rec.outputs, { c: 3 })
    assert.deepEqual(readFileSync(log, 'utf8').trim().split('\n'), ['a', 'b', 'b', 'c'])
    const again = weft('resume', id)
    assert.equal(again.code, 0)
    assert.match(again.stderr, /already completed/)
  })
})

describe('weft resume and the run folder', () => {
  /**
   * A run of `nodes` (a `counted` node `b` waits for a marker file) started with `--out`, failed at `b`; the marker
   * then made. Resuming it with `--out` naming another folder is refused (2) before anything runs.
   */
  function failedThenRefused(name: string, nodes: (log: string, marker: string) => string) {
    const dir = mkdtempSync(path.join(tmpdir(), `weft-resume-${name}-`))
    const [out, other, marker, log] = ['out', 'other', 'ready', 'log'].map((f) => path.join(dir, f)) as [string, string, string, string]
    const file = path.join(dir, `${name}.yaml`)
    writeFileSync(file, `pipeline: ${name}\nplugins: [${path.join(fixtures, 'plugins', 'work.mjs')}]\nnodes:\n${nodes(log, marker)}`)
    const first = weft('run', file, '--out', out, '--json')
    assert.equal(first.code, 1, first.stderr)
    const id = JSON.parse(first.stdout).id as string
    writeFileSync(marker, '')
    const refused = weft('resume', id, '--out', other)
    assert.equal(refused.code, 2)
    assert.match(refused.stderr, new RegExp(`OUT_CONFLICT: run ${id} writes its files to ${path.join(out, id)}`))
    assert.deepEqual(readFileSync(log, 'utf8').trim().split('\n'), ['b'], 'nothing ran')
    const resumed = weft('resume', id, '--json')
    assert.equal(resumed.code, 0, resumed.stderr)
    return { id, out, record: JSON.parse(resumed.stdout) }
  }

  it('goes on writing in the folder the run wrote to; --out naming another is refused (2) before anything runs', () => {
    const { id, out, record } = failedThenRefused(
      'files',
      (log, marker) => `  a: { type: put_file, name: a.txt }\n  b: { type: counted, needs: [a], log: '${log}', needs_file: '${marker}' }\n  c: { type: put_file, needs: [b], name: c.txt }\n`,
    )
    assert.deepEqual([record.nodes.a.output.path, record.nodes.c.output.path], [path.join(out, id, 'a.txt'), path.join(out, id, 'c.txt')])
    assert.equal(readFileSync(path.join(out, id, 'c.txt'), 'utf8'), 'c.txt')
  })

  it('knows the folder before any output names a file: it is recorded when the run starts', () => {
    const { id, out, record } = failedThenRefused('early', (log, marker) => `  b: { type: counted, log: '${log}', needs_file: '${marker}' }\n  c: { type: put_file, needs: [b], name: c.txt }\n`)
    assert.equal(record.nodes.c.output.path, path.join(out, id, 'c.txt'))
  })
})

describe('where a listed run stands', () => {
  it('names the stage of a run going on, where a failed or cancelled one stopped, and nothing for one completed', () => {
    assert.equal(stageNote({ status: 'running', current_stage: 'videos' }), 'stage videos')
    assert.equal(stageNote({ status: 'awaiting_approval', current_stage: 'scenes' }), 'stage scenes')
    assert.equal(stageNote({ status: 'failed', current_stage: 'videos' }), 'at stage videos')
    assert.equal(stageNote({ status: 'cancelled', current_stage: 'story' }), 'at stage story')
    assert.equal(stageNote({ status: 'completed', current_stage: 'videos' }), undefined)
    assert.equal(stageNote({ status: 'running', current_stage: null }), undefined)
  })
})
