// The decisions file (`weft run --decisions <file>`): a gate waits until the file holds its decision.
import { after, describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { spawn, spawnSync } from 'node:child_process'
import { mkdtempSync, renameSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import path from 'node:path'
import { fileURLToPath } from 'node:url'
import { FileDecisions } from '../../cli/file-decisions.ts'
import { gateNames } from '../../engine/gate-names.ts'
import type { ApprovalRequest, RunRecord } from '../../engine/ports.ts'
import { fixtures, manualClock, pipeline } from '../helpers.ts'

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..')
const weftArgs = ['--import', 'tsx', path.join(root, 'cli', 'weft.ts')]
const dir = mkdtempSync(path.join(tmpdir(), 'weft-decisions-'))
const env = { ...process.env, WEFT_DATA_DIR: path.join(dir, 'data') }

const request = (gate: string, revision = 0): ApprovalRequest => ({ runId: 'r', gate, value: { title: 'v' }, allowed: ['approve', 'reject', 'revise'], revision })
let files = 0
const fresh = () => path.join(dir, `decisions-${++files}.yaml`)
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms))
/** Resolves once `cond` holds (checked every 5 ms), or rejects after 5 s. */
async function until(cond: () => boolean): Promise<void> {
  for (const t0 = Date.now(); !cond(); await sleep(5)) if (Date.now() - t0 > 5000) throw new Error('timed out')
}

after(() => rmSync(dir, { recursive: true, force: true }))

/**
 * Replaces the file at once: a poller reading it every few ms must never see it half written (a partial
 * `review: approve` reads as another invalid decision, told as a new problem).
 */
function writeAtomic(file: string, text: string): void {
  writeFileSync(`${file}.tmp`, text)
  renameSync(`${file}.tmp`, file)
}

describe('FileDecisions', () => {
  it('waits while the file is missing or names other gates, then answers from it', async () => {
    const file = fresh()
    const problems: string[] = []
    const clock = manualClock()
    const source = new FileDecisions(file, { pollMs: 5, onProblem: (m) => problems.push(m), clock })
    let answered = false
    const decided = source.decide(request('review'), AbortSignal.timeout(10_000)).finally(() => (answered = true))
    // each poll reads the file, finds no answer and sets its timer for the next
    await until(() => clock.pending() === 1)
    assert.equal(answered, false)
    writeFileSync(file, 'other: approve\n')
    clock.advance(5)
    await until(() => clock.pending() === 1)
    assert.equal(answered, false)
    writeFileSync(file, 'other: approve\nreview: { decision: approve, edits: { title: Fizz }, by: ada }\n')
    clock.advance(5)
    assert.deepEqual(await decided, { decision: 'approve', edits: { title: 'Fizz' }, by: 'ada' })
    assert.deepEqual(problems, [])
  })

  it('a single entry answers every revision; a list answers by revision, a missing one waits', async () => {
    const file = fresh()
    writeFileSync(file, JSON.stringify({ once: 'reject', each: [{ decision: 'revise', feedback: 'shorter' }, null, 'approve'] }))
    const source = new FileDecisions(file, { pollMs: 5 })
    assert.deepEqual(await source.decide(request('once', 3), AbortSignal.timeout(5_000)), { decision: 'reject', by: 'file' })
    assert.deepEqual(await source.decide(request('each', 0), AbortSignal.timeout(5_000)), { decision: 'revise', feedback: 'shorter', by: 'file' })
    assert.deepEqual(await source.decide(request('each', 2), AbortSignal.timeout(5_000)), { decision: 'approve', by: 'file' })
    const waiting = new AbortController()
    const second = source.decide(request('each', 1), waiting.signal)
    waiting.abort(new Error('stopped'))
    await assert.rejects(second, /stopped/)
  })

  it('does not answer with a decision the gate cannot take: it tells why and waits for a fix', async () => {
    const file = fresh()
    const problems: string[] = []
    const clock = manualClock()
    const source = new FileDecisions(file, { pollMs: 5, onProblem: (m) => problems.push(m), clock })
    const decided = source.decide({ ...request('review', 1), allowed: ['approve', 'revise'] }, AbortSignal.timeout(10_000))
    // the file is missing at first: the gate waits
    await until(() => clock.pending() === 1)
    const refused = [
      'review: { decision: revise }\n',
      'review: [approve, reject]\n',
      'review: { decision: approve, edits: [1, 2] }\n',
      'review: { decision: revise, feedback: x, edits: { title: x } }\n',
    ]
    for (const [i, text] of refused.entries()) {
      writeAtomic(file, text)
      // several polls of the same file: its problem is told once
      for (let poll = 0; poll < 3; poll++) {
        clock.advance(5)
        await until(() => problems.length === i + 1 && clock.pending() === 1)
      }
    }
    writeAtomic(file, 'review: { decision: revise, feedback: more fizz }\n')
    clock.advance(5)
    assert.deepEqual(await decided, { decision: 'revise', feedback: 'more fizz', by: 'file' })
    assert.deepEqual(
      problems.map((m) => /at review(\[1\])?: .*\((DECISION_\w+)\)/.exec(m)?.slice(1)),
      [
        [undefined, 'DECISION_INVALID'],
        ['[1]', 'DECISION_NOT_ALLOWED'],
        [undefined, 'DECISION_INVALID'],
        [undefined, 'DECISION_INVALID'],
      ],
    )
  })

  it('two gates waiting on one file are each told their problem once, however their polls interleave', async () => {
    const file = fresh()
    writeAtomic(file, 'a: { decision: revise }\nb: { decision: approve, edits: 3 }\n')
    const problems: string[] = []
    const clock = manualClock()
    const source = new FileDecisions(file, { pollMs: 5, onProblem: (m) => problems.push(m), clock })
    const stop = new AbortController()
    const waiting = [source.decide(request('a'), stop.signal), source.decide(request('b'), stop.signal)].map((p) => p.catch(() => 'stopped'))
    for (let poll = 0; poll < 4; poll++) {
      await until(() => clock.pending() === 2)
      clock.advance(5)
    }
    await until(() => clock.pending() === 2)
    stop.abort(new Error('stopped'))
    assert.deepEqual(await Promise.all(waiting), ['stopped', 'stopped'])
    assert.deepEqual(problems.map((m) => /at (a|b):/.exec(m)?.[1]).sort(), ['a', 'b'])
  })

  it("tells once of an entry that names no gate of the run's pipeline (a typo), and answers the gates it names", async () => {
    const drafts = path.join(fixtures, 'plugins', 'drafts.mjs')
    const p = await pipeline(
      `pipeline: gates\nplugins: [${drafts}]\nnodes:\n  story: { type: drafter, text: a }\n  review: { type: approval, gate: story, path: draft }\n  clips:\n    type: fan_out\n    items: [0, 1]\n    steps:\n      draft: { type: drafter, text: b }\n      check: { type: approval, gate: draft, path: draft }\n`,
    )
    const gates = gateNames(p)
    assert.deepEqual(gates.shown, ['review', 'clips[<item>].check'])
    assert.deepEqual(
      ['review', 'clips[3].check', 'clips[x y].check', 'story', 'clips[3].draft', 'revieww', 'clips.check'].map((g) => gates.has(g)),
      [true, true, true, false, false, false, false],
    )
    const file = fresh()
    writeAtomic(file, 'revieww: approve\nreview: approve\n"clips[0].check": approve\n"clips[1].chek": reject\n')
    const problems: string[] = []
    const source = new FileDecisions(file, { pollMs: 5, gates, onProblem: (m) => problems.push(m) })
    assert.deepEqual(await source.decide(request('review'), AbortSignal.timeout(5_000)), { decision: 'approve', by: 'file' })
    assert.deepEqual(await source.decide(request('clips[0].check'), AbortSignal.timeout(5_000)), { decision: 'approve', by: 'file' })
    assert.deepEqual(
      problems.map((m) => /"([^"]+)" names no gate of this pipeline \(its gates: review, clips\[<item>\]\.check\); it is never read/.exec(m)?.[1]),
      ['revieww', 'clips[1].chek'],
    )
  })

  it('reports an invalid file once per problem and goes on waiting until it is fixed', async () => {
    const file = fresh()
    writeAtomic(file, 'review: maybe\n')
    const problems: string[] = []
    const clock = manualClock()
    const source = new FileDecisions(file, { pollMs: 5, onProblem: (m) => problems.push(m), clock })
    const decided = source.decide(request('review'), AbortSignal.timeout(10_000))
    await until(() => problems.length === 1 && clock.pending() === 1)
    writeAtomic(file, 'review: [\n')
    clock.advance(5)
    await until(() => problems.length === 2 && clock.pending() === 1)
    writeAtomic(file, '- review\n')
    clock.advance(5)
    await until(() => problems.length === 3 && clock.pending() === 1)
    clock.advance(5)
    // the same problem again is not told again: five more polls of the same file
    for (let i = 0; i < 5; i++) {
      await until(() => clock.pending() === 1)
      clock.advance(5)
    }
    await until(() => clock.pending() === 1)
    assert.equal(problems.length, 3)
    writeAtomic(file, 'review: approve\n')
    clock.advance(5)
    assert.deepEqual(await decided, { decision: 'approve', by: 'file' })
    assert.deepEqual(
      problems.map((m) => /at review|not valid YAML|got a list/.exec(m)?.[0]),
      ['at review', 'not valid YAML', 'got a list'],
    )
  })
})

describe('weft run --decisions', () => {
  const pipelineFile = path.join(fixtures, 'pipelines', 'decisions-gate.yaml')

  it('waits at the gate (whose auto policy rejects) until the file decides, and takes that decision', { timeout: 60_000 }, async () => {
    const file = fresh()
    const child = spawn(process.execPath, [...weftArgs, 'run', pipelineFile, '--input', 'prompt=Fizz', '--store', 'memory', '--executor', 'inline', '--json', '--decisions', file], { cwd: root, env })
    let stdout = ''
    let stderr = ''
    child.stdout.setEncoding('utf8').on('data', (c: string) => (stdout += c))
    const started = new Promise<void>((resolve) =>
      child.stderr.setEncoding('utf8').on('data', (c: string) => {
        stderr += c
        if (/^run [0-9a-f-]{36}$/m.test(stderr)) resolve()
      }),
    )
    const code = new Promise<number | null>((resolve) => child.on('close', resolve))
    await started
    // the gate asks within moments of the run's start; the process must still be waiting a second later
    await sleep(1000)
    assert.equal(child.exitCode, null, `weft exited before the decision:\n${stderr}`)
    writeFileSync(file, 'review: { decision: approve, edits: Buzz, by: ada }\n')
    assert.equal(await code, 0, stderr)
    const record = JSON.parse(stdout) as RunRecord
    assert.equal(record.interactive, true)
    assert.deepEqual(record.outputs, { approved: 'Buzz' })
    assert.deepEqual(record.nodes.review?.output, { value: 'Buzz', edited: true, revisions: 0, by: 'ada', history: [{ decision: 'approve', by: 'ada', edited: true, revision: 0 }] })
  })

  it('cannot be combined with --interactive', () => {
    const r = spawnSync(process.execPath, [...weftArgs, 'run', pipelineFile, '--input', 'prompt=x', '--store', 'memory', '--interactive', '--decisions', fresh()], {
      cwd: root,
      encoding: 'utf8',
      env,
      timeout: 30_000,
    })
    assert.equal(r.status, 2)
    assert.match(r.stderr, /--decisions/)
  })
})
