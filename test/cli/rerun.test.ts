// `weft rerun` and `weft cache`, as a user runs them: real processes on a SQLite data directory of their own.
import { describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { spawnSync } from 'node:child_process'
import { existsSync, mkdtempSync, readFileSync, statSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import path from 'node:path'
import type { RunRecord } from '../../engine/ports.ts'

const root = path.resolve(import.meta.dirname, '..', '..')

function setup() {
  const dir = mkdtempSync(path.join(tmpdir(), 'weft-rerun-cli-'))
  writeFileSync(
    path.join(dir, 'stamp.mjs'),
    `
import { appendFileSync, mkdirSync, writeFileSync } from 'node:fs'
import path from 'node:path'
export default {
  type: 'stamp', cache: true,
  execute({ config, node, workDir }) {
    appendFileSync(${JSON.stringify(path.join(dir, 'executions.log'))}, node.id + '\\n')
    mkdirSync(workDir, { recursive: true })
    const file = path.join(workDir, node.id + '.txt')
    writeFileSync(file, node.id + ':' + config.text)
    return { path: file, text: config.text }
  },
}
`,
  )
  writeFileSync(
    path.join(dir, 'p.yaml'),
    `
pipeline: stamps
version: 1
plugins: [./stamp.mjs]
config:
  suffix: "!"
nodes:
  brief: { type: stamp, text: brief }
  story: { type: stamp, text: "\${{ nodes.brief.output.text + ' story' }}" }
  clip: { type: stamp, text: "\${{ nodes.story.output.text + config.suffix }}" }
  music: { type: stamp, text: music }
`,
  )
  const env = { ...process.env, WEFT_DATA_DIR: path.join(dir, '.weft'), DATABASE_URL: '' }
  const weft = (...args: string[]) => spawnSync(process.execPath, ['--import', 'tsx', path.join(root, 'cli', 'weft.ts'), ...args], { cwd: root, env, encoding: 'utf8', timeout: 60_000 })
  const executions = () => readFileSync(path.join(dir, 'executions.log'), 'utf8').trim().split('\n')
  return { dir, weft, executions }
}

const recordOf = (r: { stdout: string; stderr: string; status: number | null }) => {
  assert.equal(r.status, 0, r.stderr)
  return JSON.parse(r.stdout) as RunRecord
}

describe('weft rerun', { timeout: 120_000 }, () => {
  it('--from keeps the upstream records and outputs and executes the node and everything downstream again', () => {
    const { dir, weft, executions } = setup()
    const first = recordOf(weft('run', path.join(dir, 'p.yaml'), '--json'))
    assert.deepEqual(executions().sort(), ['brief', 'clip', 'music', 'story'])

    const again = recordOf(weft('rerun', first.id, '--from', 'story', '--json'))
    assert.notEqual(again.id, first.id)
    assert.equal(again.status, 'completed')
    // story and clip executed although the cache holds them; music came from the cache; brief was kept as recorded
    assert.deepEqual(executions().slice(4).sort(), ['clip', 'story'])
    assert.equal(again.nodes.story!.cache?.hit, false)
    assert.equal(again.nodes.music!.cache?.hit, true)
    assert.deepEqual({ ...again.nodes.brief, output: null, cache: null }, { ...first.nodes.brief, output: null, cache: null })
    assert.deepEqual(again.nodes.brief!.cache, { key: first.nodes.brief!.cache!.key, hit: true, from: { run: first.id, node: 'brief' } }, 'a kept output says which run computed it')
    const brief = again.nodes.brief!.output as { path: string }
    assert.equal(brief.path, path.join(dir, '.weft', 'runs', again.id, 'brief.txt'))
    assert.equal(statSync(brief.path).ino, statSync((first.nodes.brief!.output as { path: string }).path).ino)
    const shown = JSON.parse(weft('show', again.id, '--json', '--events', 'all').stdout) as { events: Array<{ type: string; payload: Record<string, unknown> }> }
    assert.deepEqual(shown.events[0]!.payload, { pipeline: 'stamps', nodes: 4, rerun_of: first.id, kept: ['brief'] })
    // a node from the cache names the run that computed it by the id `weft show` takes
    assert.ok(weft('show', again.id).stdout.includes(`(from run ${first.id})`))
    assert.equal(weft('show', first.id).status, 0)
  })

  it('--set changes the recorded config; without --from the cache decides', () => {
    const { dir, weft, executions } = setup()
    const first = recordOf(weft('run', path.join(dir, 'p.yaml'), '--json'))
    const same = recordOf(weft('rerun', first.id, '--json'))
    assert.deepEqual(
      Object.values(same.nodes).map((n) => n.cache?.hit),
      [true, true, true, true],
    )
    const changed = recordOf(weft('rerun', first.id, '--set', 'suffix=?', '--json'))
    assert.equal((changed.nodes.clip!.output as { text: string }).text, 'brief story?')
    assert.equal(changed.config.suffix, '?')
    assert.deepEqual(executions().slice(4), ['clip'])
  })

  it('refuses an unknown run or node with exit 2 and a clear message', () => {
    const { dir, weft } = setup()
    const first = recordOf(weft('run', path.join(dir, 'p.yaml'), '--json'))
    const noNode = weft('rerun', first.id, '--from', 'storey')
    assert.equal(noNode.status, 2)
    assert.match(noNode.stderr, /UNKNOWN_NODE: pipeline "stamps" has no node "storey" \(did you mean "story"\?\)/)
    const noRun = weft('rerun', '00000000-0000-0000-0000-000000000000')
    assert.equal(noRun.status, 2)
    assert.match(noRun.stderr, /RUN_NOT_FOUND/)
  })
})

describe('weft cache', { timeout: 120_000 }, () => {
  it('lists, prunes and clears the cached results; a run with --no-cache neither reads nor writes them', () => {
    const { dir, weft } = setup()
    recordOf(weft('run', path.join(dir, 'p.yaml'), '--no-cache', '--json'))
    assert.match(weft('cache', 'ls').stdout, /no cached results/)
    const first = recordOf(weft('run', path.join(dir, 'p.yaml'), '--json'))
    const ls = JSON.parse(weft('cache', 'ls', '--json').stdout) as { entries: number; blobs: number; results: Array<{ node: string; run: string; type: string }> }
    assert.equal(ls.entries, 4)
    assert.equal(ls.blobs, 4)
    assert.deepEqual(ls.results.map((r) => r.node).sort(), ['brief', 'clip', 'music', 'story'])
    assert.ok(ls.results.every((r) => r.run === first.id && r.type === 'stamp'))
    assert.match(weft('cache', 'ls').stdout, /4 results, .* in .*cache/)
    assert.match(weft('cache', 'prune', '--older-than', '1d').stdout, /removed 0 cached results/)
    const bad = weft('cache', 'prune', '--older-than', 'soon')
    assert.equal(bad.status, 2)
    assert.match(bad.stderr, /--older-than must be a duration/)
    assert.match(weft('cache', 'clear').stdout, /removed 4 cached results; 0 results, 0B/)
    assert.ok(existsSync(path.join(dir, '.weft', 'runs', first.id, 'clip.txt')), "clearing the cache leaves the runs' files")
  })
})
