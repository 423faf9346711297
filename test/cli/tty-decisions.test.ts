// Approval gates on the terminal: `weft run --interactive` driven through a pseudo-terminal like a person would
// (approve with edits from $EDITOR, revise with feedback, reject), and TtyDecisions itself on injected streams.
import { describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { spawn, spawnSync, type ChildProcessWithoutNullStreams } from 'node:child_process'
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import path from 'node:path'
import { PassThrough, Writable } from 'node:stream'
import { setTimeout as delay } from 'node:timers/promises'
import type { ApprovalRequest, RunEvent, RunRecord } from '../../engine/ports.ts'
import { TtyDecisions } from '../../cli/tty-decisions.ts'
import { fixtures } from '../helpers.ts'

const root = path.resolve(import.meta.dirname, '..', '..')
const weftArgs = ['--import', 'tsx', path.join(root, 'cli', 'weft.ts')]
const gated = path.join(fixtures, 'pipelines', 'interactive-gate.yaml')
const key = { down: '\x1b[B', enter: '\r' }
const WAIT_MS = 30_000

/** Strips terminal control sequences and folds whitespace, so what was drawn can be matched as plain text. */
const plain = (s: string) =>
  s
    .replace(/\x1b\[[0-9;?]*[ -/]*[@-~]/g, '')
    .replace(/\x1b\][^\x07]*\x07/g, '')
    .replace(/\s+/g, ' ')

/** Quotes a word for /bin/sh. */
const sh = (s: string) => `'${s.replaceAll("'", `'\\''`)}'`

/**
 * Text drawn on a screen, read like `expect`: `waitFor` finds a pattern after the previous match, so a question
 * asked twice is matched twice, and keys are only sent once the question they answer is on screen (keys typed
 * before a prompt listens are lost, as on a real terminal).
 */
class Screen {
  raw = ''
  #from = 0
  #waiters = new Set<() => void>()
  #ended: string | undefined

  append(chunk: string): void {
    this.raw += chunk
    for (const w of this.#waiters) w()
  }

  end(why: string): void {
    this.#ended = why
    for (const w of this.#waiters) w()
  }

  /** What was drawn after the previous match. */
  rest(): string {
    return plain(this.raw).slice(this.#from)
  }

  /** Resolves with the text from the previous match up to the end of this one. */
  waitFor(pattern: RegExp): Promise<string> {
    return new Promise((resolve, reject) => {
      const check = () => {
        const text = plain(this.raw)
        const m = new RegExp(pattern.source, pattern.flags.replace('g', '') + 'g')
        m.lastIndex = this.#from
        const hit = m.exec(text)
        if (hit) {
          const seen = text.slice(this.#from, hit.index + hit[0].length)
          this.#from = hit.index + hit[0].length
          done()
          resolve(seen)
        } else if (this.#ended !== undefined) {
          done()
          reject(new Error(`${pattern} never appeared (${this.#ended}); the screen after the last match:\n${text.slice(this.#from)}`))
        }
      }
      const timer = setTimeout(() => {
        done()
        reject(new Error(`${pattern} did not appear within ${WAIT_MS} ms; the screen after the last match:\n${plain(this.raw).slice(this.#from)}`))
      }, WAIT_MS)
      const done = () => {
        clearTimeout(timer)
        this.#waiters.delete(check)
      }
      this.#waiters.add(check)
      check()
    })
  }
}

/** `weft <args>` on a pseudo-terminal (util-linux `script`): stdin, stdout and stderr are the terminal unless `stdoutTo` takes stdout. */
class Terminal {
  readonly screen = new Screen()
  readonly exit: Promise<number | null>
  readonly #child: ChildProcessWithoutNullStreams

  constructor(args: string[], env: NodeJS.ProcessEnv, stdoutTo?: string) {
    // a wide terminal, so no line of a question wraps
    const command = `stty cols 200 rows 50; exec ${[process.execPath, ...weftArgs, ...args].map(sh).join(' ')}${stdoutTo ? ` > ${sh(stdoutTo)}` : ''}`
    // -e: script exits with the command's exit code; -f: output is passed on as it comes
    this.#child = spawn('script', ['-qefc', command, '/dev/null'], { cwd: root, env: { ...env, SHELL: '/bin/sh', TERM: 'xterm-256color' } })
    this.#child.stdout.setEncoding('utf8')
    this.#child.stdout.on('data', (d: string) => this.screen.append(d))
    this.#child.stderr.setEncoding('utf8')
    this.#child.stderr.on('data', (d: string) => this.screen.append(d))
    this.exit = new Promise((resolve) =>
      this.#child.on('exit', (code) => {
        this.screen.end(`exited with ${code}`)
        resolve(code)
      }),
    )
  }

  type(keys: string): void {
    this.#child.stdin.write(keys)
  }

  /** Moves down `downs` choices, checks the pointer is on `label`, and picks it. */
  async choose(downs: number, label: string): Promise<void> {
    this.type(key.down.repeat(downs))
    await this.screen.waitFor(new RegExp(`❯ ${label.replace(/[()]/g, '\\$&')}`))
    this.type(key.enter)
  }

  /** Ends the child if a test failed before it did. */
  kill(): void {
    if (this.#child.exitCode === null) this.#child.kill('SIGKILL')
  }
}

/** A scripted $EDITOR: keeps a copy of the file it was handed, then edits that file in place. */
function scriptedEditor(sedExpression: string): { editor: string; seen: string } {
  const dir = mkdtempSync(path.join(tmpdir(), 'weft-editor-'))
  const editor = path.join(dir, 'editor.sh')
  const seen = path.join(dir, 'seen.yaml')
  writeFileSync(editor, `#!/bin/sh\ncp "$1" ${sh(seen)}\nsed -i ${sh(sedExpression)} "$1"\n`, { mode: 0o755 })
  return { editor, seen }
}

// runs with `--store db` are recorded in one throwaway data directory (its database is set up once, by the first run)
const dataDir = mkdtempSync(path.join(tmpdir(), 'weft-tty-data-'))
const baseEnv = (): NodeJS.ProcessEnv => {
  const env: NodeJS.ProcessEnv = { ...process.env, WEFT_DATA_DIR: dataDir }
  delete env.VISUAL
  return env
}

/** `weft show <id> --json`: the recorded run with its events. */
function show(runId: string): RunRecord & { events: RunEvent[] } {
  const r = spawnSync(process.execPath, [...weftArgs, 'show', runId, '--json'], { cwd: root, env: baseEnv(), encoding: 'utf8', timeout: 60_000 })
  assert.equal(r.status, 0, r.stderr)
  return JSON.parse(r.stdout) as RunRecord & { events: RunEvent[] }
}

function runRecord(file: string): RunRecord {
  const text = readFileSync(file, 'utf8')
  try {
    return JSON.parse(text) as RunRecord
  } catch {
    throw new Error(`no run record in ${file}:\n${text}`)
  }
}

interface ApprovalOutput {
  value: unknown
  edited: boolean
  revisions: number
  by: string
  history: Array<{ decision: string; by: string; edited: boolean; revision: number; feedback?: string }>
}

const hasScript = spawnSync('script', ['--version']).status === 0

describe('weft run --interactive on a terminal', { skip: hasScript ? false : 'needs `script` (util-linux) to give the CLI a pseudo-terminal; runs wherever util-linux is installed' }, () => {
  it('approve with edits: $EDITOR is handed the gated value, and its edit replaces that value downstream', async () => {
    const { editor, seen } = scriptedEditor('s/^Fizz$/Fizz, now with twice the bubbles/')
    const out = path.join(mkdtempSync(path.join(tmpdir(), 'weft-tty-')), 'record.json')
    const term = new Terminal(['run', gated, '--interactive', '--input', 'prompt=Fizz', '--store', 'memory', '--json'], { ...baseEnv(), EDITOR: editor }, out)
    try {
      // the value under review is shown before the question
      assert.match(await term.screen.waitFor(/Decision for review/), /── approval: review ── Is this the story\? Fizz \?/)
      await term.choose(1, 'edit, then approve')
      await term.screen.waitFor(/Press <enter> to launch your preferred editor/)
      term.type(key.enter)
      assert.equal(await term.exit, 0, term.screen.raw)
    } finally {
      term.kill()
    }
    assert.equal(readFileSync(seen, 'utf8'), 'Fizz\n')
    const record = runRecord(out)
    assert.equal(record.status, 'completed')
    assert.equal(record.interactive, true)
    const edited = 'Fizz, now with twice the bubbles'
    assert.equal((record.nodes.story!.output as { draft: string }).draft, 'Fizz')
    assert.deepEqual(record.nodes.review!.output, {
      value: edited,
      edited: true,
      revisions: 0,
      by: 'human',
      history: [{ decision: 'approve', by: 'human', edited: true, revision: 0 }],
    } satisfies ApprovalOutput)
    assert.equal((record.nodes.after!.output as { draft: string }).draft, edited)
    assert.deepEqual(record.outputs, { approved: edited, after: edited })
  })

  it('revise with feedback: the gated node runs again with it, the gate asks again (without revise, at max_revisions), and the live display steps aside', async () => {
    // no --json: the live progress table is drawn on the terminal and must pause for each question
    const term = new Terminal(['run', gated, '--interactive', '--input', 'prompt=Fizz', '--store', 'db'], baseEnv())
    let runId: string
    try {
      runId = (await term.screen.waitFor(/run [0-9a-f-]{36}/)).match(/run ([0-9a-f-]{36})/)![1]!
      // the live table (redrawn every 100 ms while it runs) is on screen, then steps aside for the question
      await term.screen.waitFor(/interactive-gate · /)
      await term.screen.waitFor(/── approval: review ── Is this the story\? Fizz \? Decision for review ❯ approve edit, then approve revise \(send back with feedback\) reject \(end the run\)/)
      await delay(400)
      assert.doesNotMatch(term.screen.rest(), /interactive-gate · /)
      await term.choose(2, 'revise (send back with feedback)')
      await term.screen.waitFor(/What should change\?/)
      term.type('more bubbles' + key.enter)
      // asked again, about the revised draft; max_revisions is 1, so revise is no longer offered
      await term.screen.waitFor(/── approval: review \(after 1 revision\) ── Is this the story\? Fizz \+ more bubbles \?/)
      const second = await term.screen.waitFor(/reject \(end the run\)/)
      assert.match(second, /Decision for review ❯ approve edit, then approve reject \(end the run\)$/)
      term.type(key.enter)
      assert.equal(await term.exit, 0, term.screen.raw)
    } finally {
      term.kill()
    }
    const record = show(runId)
    assert.equal(record.status, 'completed')
    // only the drafter's revision path makes `<previous> + <feedback>`: the gated node ran again, given the feedback
    const revised = 'Fizz + more bubbles'
    const revising = record.events.filter((e) => e.type === 'node.progress' && e.payload.revising === 'story').map((e) => [e.node, e.payload.round])
    assert.deepEqual(revising, [['review', 1]])
    assert.deepEqual(record.nodes.review!.output, {
      value: revised,
      edited: false,
      revisions: 1,
      by: 'human',
      history: [
        { decision: 'revise', by: 'human', edited: false, revision: 0, feedback: 'more bubbles' },
        { decision: 'approve', by: 'human', edited: false, revision: 1 },
      ],
    } satisfies ApprovalOutput)
    assert.equal((record.nodes.after!.output as { draft: string }).draft, revised)
    // the record keeps both questions and both answers
    const asked = record.events.filter((e) => e.type === 'approval.requested').map((e) => [e.payload.revision, e.payload.value, e.payload.allowed])
    assert.deepEqual(asked, [
      [0, 'Fizz', ['approve', 'reject', 'revise']],
      [1, revised, ['approve', 'reject']],
    ])
    const answered = record.events.filter((e) => e.type === 'approval.resolved').map((e) => [e.payload.revision, e.payload.decision, e.payload.feedback ?? null, e.payload.by])
    assert.deepEqual(answered, [
      [0, 'revise', 'more bubbles', 'human'],
      [1, 'approve', null, 'human'],
    ])
  })

  it("a fan-out item's gates ask one at a time by their address; reject fails that item only", async () => {
    const file = path.join(mkdtempSync(path.join(tmpdir(), 'weft-tty-items-')), 'items.yaml')
    writeFileSync(
      file,
      `
pipeline: items
plugins: [${JSON.stringify(path.join(fixtures, 'plugins', 'drafts.mjs'))}]
nodes:
  clips:
    type: fan_out
    items: [0, 1]
    concurrency: 1
    on_item_error: collect
    steps:
      draft: { type: drafter, text: "\${{ 'scene ' + string(item) }}" }
      review: { type: approval, gate: draft, path: draft }
    result: \${{ steps.review.output.value }}
`,
    )
    const out = path.join(mkdtempSync(path.join(tmpdir(), 'weft-tty-')), 'record.json')
    const term = new Terminal(['run', file, '--interactive', '--store', 'memory', '--json'], baseEnv(), out)
    try {
      assert.match(await term.screen.waitFor(/Decision for clips\[0\]\.review/), /── approval: clips\[0\]\.review ── scene 0/)
      term.type(key.enter)
      await term.screen.waitFor(/Decision for clips\[1\]\.review/)
      await term.choose(3, 'reject (fail this item)')
      await term.screen.waitFor(/Why reject it\? \(optional\)/)
      term.type('too dark' + key.enter)
      assert.equal(await term.exit, 0, term.screen.raw)
    } finally {
      term.kill()
    }
    const record = runRecord(out)
    assert.equal(record.status, 'completed')
    const output = record.nodes.clips!.output as { results: unknown[]; failed: Array<{ index: number; error: { code: string; message: string } }> }
    assert.deepEqual(output.results, ['scene 0', null])
    assert.equal(output.failed[0]!.error.code, 'APPROVAL_REJECTED')
    assert.match(output.failed[0]!.error.message, /too dark/)
  })

  it('reject: the run ends failed at the gate with the reason kept; nothing after the gate runs', async () => {
    const term = new Terminal(['run', gated, '--interactive', '--input', 'prompt=Fizz', '--store', 'db'], baseEnv())
    let runId: string
    try {
      runId = (await term.screen.waitFor(/run [0-9a-f-]{36}/)).match(/run ([0-9a-f-]{36})/)![1]!
      await term.screen.waitFor(/Decision for review/)
      await term.choose(3, 'reject (end the run)')
      await term.screen.waitFor(/Why reject it\? \(optional\)/)
      term.type('off brand' + key.enter)
      assert.equal(await term.exit, 1, term.screen.raw)
    } finally {
      term.kill()
    }
    const record = show(runId)
    assert.equal(record.status, 'failed')
    assert.equal(record.error?.code, 'APPROVAL_REJECTED')
    assert.equal(record.nodes.review!.status, 'failed')
    assert.equal(record.nodes.review!.error?.code, 'APPROVAL_REJECTED')
    assert.ok(record.nodes.review!.error!.message.includes('off brand'), record.nodes.review!.error!.message)
    assert.deepEqual(
      record.events.filter((e) => e.type === 'approval.resolved').map((e) => [e.payload.decision, e.payload.feedback, e.payload.by]),
      [['reject', 'off brand', 'human']],
    )
    // what ran before the gate is kept; what needs the gate never ran
    assert.equal(record.nodes.story!.status, 'succeeded')
    assert.equal((record.nodes.story!.output as { draft: string }).draft, 'Fizz')
    assert.notEqual(record.nodes.after!.status, 'succeeded')
    assert.equal(record.nodes.after!.output, null)
    assert.equal(record.outputs, null)
  })
})

/** A terminal's screen as a stream: outlives each question (a prompt ends the stream it writes to, except stdout and stderr). */
function screenStream(screen: Screen): Writable {
  const stream = new Writable({
    write(chunk: Buffer, _enc, cb) {
      screen.append(chunk.toString())
      cb()
    },
  })
  stream.end = () => stream
  return stream
}

function request(over: Partial<ApprovalRequest> = {}): ApprovalRequest {
  return { runId: 'r1', gate: 'review', value: { story: 'Fizz' }, allowed: ['approve', 'reject', 'revise'], revision: 0, ...over }
}

describe('TtyDecisions on injected streams', () => {
  function tty() {
    const input = new PassThrough()
    const screen = new Screen()
    const calls: string[] = []
    const decisions = new TtyDecisions({ input, output: screenStream(screen), pause: () => calls.push('pause'), resume: () => calls.push('resume') })
    return { decisions, screen, calls, type: (keys: string) => input.write(keys) }
  }

  /**
   * Asks for `request` with a scripted $EDITOR (`sed`, run on each save), chooses "edit, then approve" and saves once:
   * the first save is refused with `refusal`, and the editor opens again. Answers the decision and what the editor was
   * handed each time (the last `seen`).
   */
  async function editedTwice(sed: string, req: ApprovalRequest, refusal: RegExp) {
    const { editor, seen } = scriptedEditor(sed)
    const saved = { EDITOR: process.env.EDITOR, VISUAL: process.env.VISUAL }
    process.env.EDITOR = editor
    delete process.env.VISUAL
    try {
      const t = tty()
      const decided = t.decisions.decide(req, new AbortController().signal)
      await t.screen.waitFor(/Decision for review/)
      t.type(key.down)
      await t.screen.waitFor(/❯ edit, then approve/)
      t.type(key.enter)
      await t.screen.waitFor(/Press <enter> to launch your preferred editor/)
      t.type(key.enter)
      await t.screen.waitFor(refusal)
      const first = readFileSync(seen, 'utf8')
      t.type(key.enter)
      return { decision: await decided, first, second: readFileSync(seen, 'utf8'), calls: t.calls }
    } finally {
      for (const [k, v] of Object.entries(saved)) {
        if (v === undefined) delete process.env[k]
        else process.env[k] = v
      }
    }
  }

  it('edit: YAML that does not parse is refused and the editor opens again; the parsed edit is the decision', async () => {
    // the first save breaks the YAML, the second (sed on the broken file) mends it with a changed value
    const r = await editedTwice('s/^story: \\[Fizz$/story: Fizz!/; t; s/^story: Fizz$/story: [Fizz/', request(), /not valid YAML/)
    assert.equal(r.first, 'story: Fizz\n')
    assert.deepEqual(r.decision, { decision: 'approve', edits: { story: 'Fizz!' }, by: 'human' })
    // the second time, the editor was handed the broken text to mend, not the original
    assert.equal(r.second, 'story: [Fizz\n')
    assert.deepEqual(r.calls, ['pause', 'resume'])
  })

  it('edit: an edit out of the shape of the value is refused with the place at fault, and the editor opens again', async () => {
    // the first save makes a number a string, the second (sed on the refused file) mends it with a changed value
    const r = await editedTwice(
      's/^  seconds: six$/  seconds: 8/; t; s/^  seconds: 6$/  seconds: six/',
      request({ value: { scene: { text: 'Fizz', seconds: 6 } } }),
      /edits\.scene\.seconds must be the same kind of value as the one under review \(a number\), got a string/,
    )
    assert.deepEqual(r.decision, { decision: 'approve', edits: { scene: { text: 'Fizz', seconds: 8 } }, by: 'human' })
    assert.equal(r.second, 'scene:\n  text: Fizz\n  seconds: six\n', 'handed the refused text to mend')
  })

  it('revise needs feedback; without revise allowed, the same keys reach reject, whose reason is optional', async () => {
    const t = tty()
    const revised = t.decisions.decide(request(), new AbortController().signal)
    await t.screen.waitFor(/Decision for review/)
    t.type(key.down + key.down)
    await t.screen.waitFor(/❯ revise \(send back with feedback\)/)
    t.type(key.enter)
    await t.screen.waitFor(/What should change\?/)
    t.type(key.enter)
    await t.screen.waitFor(/You must provide a value/)
    t.type('shorter' + key.enter)
    assert.deepEqual(await revised, { decision: 'revise', feedback: 'shorter', by: 'human' })

    const rejected = t.decisions.decide(request({ allowed: ['approve', 'reject'], revision: 2 }), new AbortController().signal)
    await t.screen.waitFor(/── approval: review \(after 2 revisions\) ──/)
    t.type(key.down + key.down)
    await t.screen.waitFor(/❯ reject \(end the run\)/)
    t.type(key.enter)
    await t.screen.waitFor(/Why reject it\? \(optional\)/)
    t.type(key.enter)
    assert.deepEqual(await rejected, { decision: 'reject', by: 'human' })
  })

  it('asks one question at a time; aborting the run ends the question it is on', async () => {
    const t = tty()
    const stop = new AbortController()
    const first = t.decisions.decide(request({ gate: 'first' }), stop.signal)
    const second = t.decisions.decide(request({ gate: 'second' }), new AbortController().signal)
    await t.screen.waitFor(/Decision for first/)
    assert.doesNotMatch(plain(t.screen.raw), /approval: second/)
    stop.abort(new Error('run cancelled'))
    await assert.rejects(first, { name: 'AbortPromptError' })
    await t.screen.waitFor(/── approval: second ──.*Decision for second/)
    t.type(key.enter)
    assert.deepEqual(await second, { decision: 'approve', by: 'human' })
    assert.deepEqual(t.calls, ['pause', 'resume', 'pause', 'resume'])
  })
})
