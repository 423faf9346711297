// `weft cancel <id>` against runs as they are in the field: driven by a `weft run` in another process, left behind by
// a process killed with -9, already over, or handed to a fleet.
import { describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { spawn, spawnSync, type ChildProcess } from 'node:child_process'
import { mkdtempSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import path from 'node:path'
import { workPlugin } from '../helpers.ts'

const root = path.resolve(import.meta.dirname, '..', '..')
const weftArgs = ['--import', 'tsx', path.join(root, 'cli', 'weft.ts')]

/** A data directory and a pipeline whose one node works for a minute (it only ends when stopped). */
function setup() {
  const dir = mkdtempSync(path.join(tmpdir(), 'weft-cancel-'))
  const file = path.join(dir, 'slow.yaml')
  writeFileSync(file, `pipeline: slow\nplugins: [${workPlugin}]\nnodes:\n  long: { type: work, ms: 60000 }\n`)
  const env = { ...process.env, WEFT_DATA_DIR: path.join(dir, 'data'), DATABASE_URL: '', WEFT_LEASE_TTL: '30s' }
  return { file, env }
}

function weft(env: NodeJS.ProcessEnv, ...args: string[]) {
  const r = spawnSync(process.execPath, [...weftArgs, ...args], { cwd: root, encoding: 'utf8', timeout: 60_000, env })
  return { code: r.status, stdout: r.stdout, stderr: r.stderr }
}

/** Starts `weft run` and resolves with the child and the run id once the run is recorded. */
function startRun(env: NodeJS.ProcessEnv, file: string): Promise<{ child: ChildProcess; id: string; exited: Promise<number | null> }> {
  const child = spawn(process.execPath, [...weftArgs, 'run', file], { cwd: root, env, stdio: ['ignore', 'ignore', 'pipe'] })
  const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)))
  return new Promise((resolve, reject) => {
    let err = ''
    child.stderr!.setEncoding('utf8')
    child.stderr!.on('data', (d: string) => {
      err += d
      const m = /node\.started long/.test(err) && /run ([0-9a-f-]{36})/.exec(err)
      if (m) resolve({ child, id: m[1]!, exited })
    })
    child.on('exit', () => reject(new Error(`weft run exited before the node started:\n${err}`)))
  })
}

describe('weft cancel', () => {
  it('interrupts a run a `weft run` process drives on this machine, which records it as cancelled and exits 130', async () => {
    const { file, env } = setup()
    const { id, exited } = await startRun(env, file)
    const r = weft(env, 'cancel', id, '--reason', 'wrong brief')
    assert.equal(r.code, 0, r.stderr)
    assert.match(r.stderr, new RegExp(`run ${id} cancelled by the process driving it`))
    assert.equal(await exited, 130)
    const shown = JSON.parse(weft(env, 'show', id, '--json').stdout)
    const cancelled = shown.record ?? shown
    assert.equal(cancelled.status, 'cancelled')
    assert.deepEqual([cancelled.error.code, cancelled.error.message], ['CANCELLED', 'cancelled: wrong brief'], 'the reason given to `weft cancel`, not "This operation was aborted"')
    assert.equal(cancelled.nodes.long.status, 'cancelled')
    // a second cancel finds it over
    const again = weft(env, 'cancel', id)
    assert.equal(again.code, 1)
    assert.match(again.stderr, /RUN_FINISHED: run .* has already ended \(cancelled\)/)
  })

  it('ends a run whose driver was killed with -9, without waiting out its lease', async () => {
    const { file, env } = setup()
    const { child, id, exited } = await startRun(env, file)
    child.kill('SIGKILL')
    await exited
    const started = Date.now()
    const r = weft(env, 'cancel', id)
    assert.equal(r.code, 0, r.stderr)
    assert.match(r.stderr, /no process was driving it/)
    assert.ok(Date.now() - started < 20_000, 'the 30 s lease was not waited out')
    const shown = JSON.parse(weft(env, 'show', id, '--json').stdout)
    const record = shown.record ?? shown
    assert.equal(record.status, 'cancelled')
    assert.equal(record.error.code, 'CANCELLED')
    // the node the killed process left running ends with the run, as a step would end it
    for (const n of Object.values(record.nodes) as Array<{ status: string }>) assert.ok(!['running', 'waiting', 'pending'].includes(n.status), JSON.stringify(record.nodes))
    assert.ok(Object.values(record.nodes).some((n) => (n as { status: string }).status === 'cancelled'))
  })

  it('SIGTERM to `weft run` leaves the run to resume: it says how, exits 143, and `weft resume` takes the run at once', async () => {
    const { file, env } = setup()
    const { child, id, exited } = await startRun(env, file)
    let err = ''
    child.stderr!.on('data', (d: string) => (err += d))
    child.kill('SIGTERM')
    assert.equal(await exited, 143)
    assert.match(err, new RegExp(`run ${id} stopped before it finished: \`weft resume ${id}\` continues it`))
    assert.equal(JSON.parse(weft(env, 'show', id, '--json').stdout).status, 'running', 'left as it was')
    // the lease was let go (its TTL is 30 s here): a resume drives the run straight away
    const resume = spawn(process.execPath, [...weftArgs, 'resume', id], { cwd: root, env, stdio: ['ignore', 'ignore', 'pipe'] })
    const resumed = new Promise<number | null>((resolve) => resume.on('exit', resolve))
    let out = ''
    resume.stderr!.setEncoding('utf8')
    await new Promise<void>((resolve, reject) => {
      resume.stderr!.on('data', (d: string) => {
        out += d
        if (/node\.started long/.test(out)) resolve()
      })
      resume.on('exit', () => reject(new Error(`weft resume exited:\n${out}`)))
    })
    resume.kill('SIGINT')
    assert.equal(await resumed, 130)
    // Ctrl-C, with no reason left by `weft cancel`, says what stopped it
    const interrupted = JSON.parse(weft(env, 'show', id, '--json').stdout)
    assert.deepEqual([interrupted.status, interrupted.error.message], ['cancelled', 'cancelled: interrupted (SIGINT)'])
  })

  it('says so for a run that does not exist (2)', () => {
    const { env } = setup()
    const r = weft(env, 'cancel', '00000000-0000-4000-8000-000000000000')
    assert.equal(r.code, 2)
    assert.match(r.stderr, /RUN_NOT_FOUND/)
  })

  it('cancels a detached fleet run through its step function', { skip: !process.env.DATABASE_URL && 'needs DATABASE_URL' }, () => {
    const { file, env } = setup()
    const fleetEnv = { ...env, DATABASE_URL: process.env.DATABASE_URL }
    const run = weft(fleetEnv, 'run', file, '--detach')
    assert.equal(run.code, 0, run.stderr)
    const id = /([0-9a-f-]{36})/.exec(run.stdout + run.stderr)![1]!
    const r = weft(fleetEnv, 'cancel', id)
    assert.equal(r.code, 0, r.stderr)
    assert.match(r.stderr, /its workers stop at their next heartbeat/)
    const shown = JSON.parse(weft(fleetEnv, 'show', id, '--json').stdout)
    assert.equal((shown.record ?? shown).status, 'cancelled')
    // nothing drives it any more: resume says it has ended and how to run it again, not that the fleet drives it
    const resumed = weft(fleetEnv, 'resume', id)
    assert.equal(resumed.code, 1, resumed.stderr)
    assert.match(
      resumed.stderr,
      new RegExp(`RUN_FINISHED: run ${id} ran on the fleet and has ended \\(cancelled\\); a fleet run is not resumed: re-run it \\(\`weft rerun ${id} --detach\` hands the new run to the fleet\\)`),
    )
  })
})
