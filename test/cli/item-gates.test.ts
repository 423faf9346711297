// Approval gates per fan-out item from the command line: decided in a decisions file by `<fan_out>[<index>].<step>`,
// and crash-safe: a SIGKILL while three gates wait, then `weft resume` with the file, decides each gate once.
import { describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { spawn, spawnSync } from 'node:child_process'
import { mkdtempSync, renameSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import path from 'node:path'
import type { RunEvent, RunRecord } from '../../engine/ports.ts'
import { fixtures } from '../helpers.ts'

const root = path.resolve(import.meta.dirname, '..', '..')
const weftArgs = ['--import', 'tsx', path.join(root, 'cli', 'weft.ts')]

function writeAtomic(file: string, text: string): void {
  writeFileSync(`${file}.tmp`, text)
  renameSync(`${file}.tmp`, file)
}

describe('per-item gates from the command line', { timeout: 120_000 }, () => {
  it('a SIGKILL while three item gates wait: `weft resume --decisions` asks only those, each once, and completes', async () => {
    const dir = mkdtempSync(path.join(tmpdir(), 'weft-item-gates-'))
    const env = { ...process.env, WEFT_DATA_DIR: path.join(dir, 'data'), DATABASE_URL: '' }
    const file = path.join(dir, 'p.yaml')
    writeFileSync(
      file,
      `
pipeline: per_item
plugins: [${JSON.stringify(path.join(fixtures, 'plugins', 'drafts.mjs'))}]
nodes:
  clips:
    type: fan_out
    items: [0, 1, 2, 3, 4]
    on_item_error: collect
    steps:
      draft: { type: drafter, text: "\${{ 'scene ' + string(item) }}" }
      review: { type: approval, gate: draft, path: draft }
    result: \${{ steps.review.output.value }}
`,
    )
    const decisions = path.join(dir, 'decisions.yaml')
    writeAtomic(decisions, '"clips[0].review": approve\n"clips[4].review": { decision: approve, edits: scene four, by: ada }\n')
    const child = spawn(process.execPath, [...weftArgs, 'run', file, '--decisions', decisions, '--json'], { cwd: root, env, stdio: ['ignore', 'pipe', 'pipe'] })
    let stderr = ''
    child.stderr.setEncoding('utf8').on('data', (c: string) => (stderr += c))
    const exited = new Promise((resolve) => child.on('close', resolve))
    const show = (id: string) =>
      JSON.parse(spawnSync(process.execPath, [...weftArgs, 'show', id, '--json', '--events', 'all'], { cwd: root, env, encoding: 'utf8' }).stdout) as RunRecord & { events: RunEvent[] }
    // wait until the run is recorded and three gates wait (two were decided from the file at once)
    let id: string | undefined
    let seen: (RunRecord & { events: RunEvent[] }) | undefined
    for (const t0 = Date.now(); Date.now() - t0 < 60_000; await new Promise((r) => setTimeout(r, 100))) {
      id ??= /run ([0-9a-f-]{36})/.exec(stderr)?.[1]
      if (!id) continue
      seen = show(id)
      const asked = seen.events.filter((e) => e.type === 'approval.requested').length
      const resolved = seen.events.filter((e) => e.type === 'approval.resolved').length
      if (asked === 5 && resolved === 2) break
    }
    assert.ok(id, stderr)
    assert.equal(seen?.status, 'awaiting_approval')
    child.kill('SIGKILL')
    await exited

    writeAtomic(
      decisions,
      [
        '"clips[0].review": approve',
        '"clips[4].review": { decision: approve, edits: scene four, by: ada }',
        '"clips[2].review": { decision: reject, feedback: off brief }',
        '"clips[1].review": [{ decision: revise, feedback: brighter }, approve]',
        '"clips[3].review": approve',
        '',
      ].join('\n'),
    )
    const resumed = spawnSync(process.execPath, [...weftArgs, 'resume', id!, '--decisions', decisions, '--json'], { cwd: root, env, encoding: 'utf8', timeout: 60_000 })
    assert.equal(resumed.status, 0, resumed.stderr)
    const record = JSON.parse(resumed.stdout) as RunRecord
    assert.equal(record.status, 'completed')
    const out = record.nodes.clips!.output as { results: unknown[]; failed: Array<{ index: number; error: { code: string } }> }
    assert.deepEqual(out.results, ['scene 0', 'scene 1 + brighter', null, 'scene 3', 'scene four'])
    assert.deepEqual(
      out.failed.map((f) => [f.index, f.error.code]),
      [[2, 'APPROVAL_REJECTED']],
    )
    // every gate and revision decided once, across the crash
    const events = show(id!).events
    const resolved = events.filter((e) => e.type === 'approval.resolved').map((e) => `${String(e.payload.gate)}#${String(e.payload.revision)}`)
    assert.deepEqual([...resolved].sort(), ['clips[0].review#0', 'clips[1].review#0', 'clips[1].review#1', 'clips[2].review#0', 'clips[3].review#0', 'clips[4].review#0'])
  })
})
