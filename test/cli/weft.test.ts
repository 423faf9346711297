import { describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { spawn, spawnSync } from 'node:child_process'
import path from 'node:path'
import { copyFileSync, existsSync, mkdtempSync, readdirSync, readFileSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { fixtures } from '../helpers.ts'

const root = path.resolve(path.dirname(new URL(import.meta.url).pathname), '..', '..')
const weftArgs = ['--import', 'tsx', path.join(root, 'cli', 'weft.ts')]
const pipe = (name: string) => path.join(fixtures, 'pipelines', name)

// runs are recorded in a throwaway data directory (or in Postgres when DATABASE_URL is set)
const dataDir = mkdtempSync(path.join(tmpdir(), 'weft-data-'))
const env = { ...process.env, WEFT_DATA_DIR: dataDir }

function weft(...args: string[]) {
  const r = spawnSync(process.execPath, [...weftArgs, ...args], { cwd: root, encoding: 'utf8', timeout: 60_000, env })
  return { code: r.status, stdout: r.stdout, stderr: r.stderr }
}

describe('weft', () => {
  it('with no command prints help and exits 2', () => {
    const r = weft()
    assert.equal(r.code, 2)
    assert.match(r.stderr, /Usage: weft/)
  })

  it('ends quietly when its reader closes the pipe first (weft --help | true)', async () => {
    const child = spawn(process.execPath, [...weftArgs, '--help'], { cwd: root, env, stdio: ['ignore', 'pipe', 'pipe'] })
    // closed before the command has started: its first write meets a closed pipe
    child.stdout!.destroy()
    let stderr = ''
    child.stderr!.setEncoding('utf8').on('data', (d: string) => (stderr += d))
    const code = await new Promise<number | null>((resolve) => child.on('exit', resolve))
    assert.equal(code, 0, stderr)
    assert.doesNotMatch(stderr, /EPIPE|at /)
  })
})

describe('weft validate', () => {
  it('exits 0 for a valid pipeline', () => {
    const r = weft('validate', pipe('valid.yaml'))
    assert.equal(r.code, 0, r.stderr)
  })
  it('exits 1 and prints file:line:col CODE for each problem', () => {
    const r = weft('validate', pipe('many-errors.yaml'))
    assert.equal(r.code, 1)
    const lines = r.stderr
      .trim()
      .split('\n')
      .filter((l) => /^\S+:\d+:\d+ [A-Z_]+ /.test(l))
    assert.equal(lines.length, 8)
    assert.match(r.stderr, /many-errors\.yaml:8:\d+ INVALID_DURATION nodes\.story\.timeout: /)
  })
  it('--json prints { valid, diagnostics } with every field', () => {
    const r = weft('validate', pipe('unknown-needs.yaml'), '--json')
    assert.equal(r.code, 1)
    const out = JSON.parse(r.stdout)
    assert.equal(out.valid, false)
    assert.deepEqual(Object.keys(out.diagnostics[0]).sort(), ['code', 'col', 'file', 'line', 'message', 'path', 'severity'])
    assert.equal(out.diagnostics[0].code, 'UNKNOWN_NODE')
    assert.equal(JSON.parse(weft('validate', pipe('valid.yaml'), '--json').stdout).valid, true)
  })
})

describe('weft validate: hostile files end in a diagnostic, never a crash', () => {
  const cases: Array<[string, string, string]> = [
    [
      'alias bomb',
      'YAML_ALIAS_LIMIT',
      [
        'a: &a ["x","x","x","x","x","x","x","x","x"]',
        ...Array.from(
          { length: 9 },
          (_, i) =>
            `${String.fromCharCode(98 + i)}: &${String.fromCharCode(98 + i)} [*${String.fromCharCode(97 + i)},*${String.fromCharCode(97 + i)},*${String.fromCharCode(97 + i)},*${String.fromCharCode(97 + i)},*${String.fromCharCode(97 + i)},*${String.fromCharCode(97 + i)},*${String.fromCharCode(97 + i)},*${String.fromCharCode(97 + i)},*${String.fromCharCode(97 + i)}]`,
        ),
      ].join('\n'),
    ],
    ['deep nesting', 'YAML_TOO_DEEP', 'nodes: ' + '['.repeat(50_000)],
    ['custom tag', 'YAML_TAG', 'pipeline: !!js/function "x"\nnodes: { a: { type: fan_out } }'],
    ['__proto__ key', 'YAML_UNSAFE_KEY', 'pipeline: p\n__proto__: { polluted: true }\nnodes: {}'],
  ]
  for (const [name, code, text] of cases) {
    it(name, () => {
      const dir = mkdtempSync(path.join(tmpdir(), 'weft-hostile-'))
      const file = path.join(dir, 'hostile.yaml')
      writeFileSync(file, text)
      const r = weft('validate', file, '--json')
      assert.equal(r.code, 1, r.stderr)
      assert.ok(
        JSON.parse(r.stdout).diagnostics.some((d: { code: string }) => d.code === code),
        r.stdout,
      )
    })
  }
})

describe('weft run', () => {
  it('reads inputs from --inputs-file (JSON), --input overriding it', () => {
    const dir = mkdtempSync(path.join(tmpdir(), 'weft-inputs-'))
    const file = path.join(dir, 'inputs.json')
    writeFileSync(file, JSON.stringify({ word: 'file', times: 1 }))
    const rec = JSON.parse(weft('run', pipe('cli-run.yaml'), '--inputs-file', file, '--json').stdout)
    assert.deepEqual(rec.outputs, { words: ['file 1'] })
    const over = JSON.parse(weft('run', pipe('cli-run.yaml'), '--inputs-file', file, '--input', 'word=flag', '--json').stdout)
    assert.deepEqual(over.outputs, { words: ['flag 1'] })
  })

  it('--json prints the final run record; inputs and --set change the run', () => {
    const r = weft('run', pipe('cli-run.yaml'), '--input', 'word=hey', '--input', 'times=3', '--json')
    assert.equal(r.code, 0, r.stderr)
    const rec = JSON.parse(r.stdout)
    assert.equal(rec.status, 'completed')
    assert.deepEqual(rec.outputs, { words: ['hey 1', 'hey 2', 'hey 3'] })
    const node = rec.nodes.repeat
    assert.equal(node.status, 'succeeded')
    assert.equal(node.attempts, 1)
    assert.match(node.started_at, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/)
    assert.equal(typeof node.duration_ms, 'number')
    assert.equal(rec.nodes.maybe_fail.status, 'skipped')
  })
  it('exits 1 when a node fails, with the error in the record', () => {
    const r = weft('run', pipe('cli-run.yaml'), '--input', 'word=x', '--set', 'fail=true', '--json')
    assert.equal(r.code, 1)
    const rec = JSON.parse(r.stdout)
    assert.equal(rec.status, 'failed')
    assert.deepEqual(Object.keys(rec.nodes.maybe_fail.error).sort(), ['code', 'message'])
    assert.equal(rec.nodes.maybe_fail.error.code, 'PLANNED_FAILURE')
  })
  it('exits 2 on invalid inputs or config, listing every problem', () => {
    const r = weft('run', pipe('cli-run.yaml'), '--input', 'times=many', '--input', 'colour=red', '--set', 'fial=true', '--set', 'fail=maybe')
    assert.equal(r.code, 2)
    for (const code of ['INPUT_MISSING', 'INPUT_INVALID', 'INPUT_UNKNOWN', 'CONFIG_UNKNOWN', 'CONFIG_INVALID']) assert.match(r.stderr, new RegExp(code))
  })
  it('exits 2 before running anything when the config gives a node a value it cannot take', () => {
    const data = mkdtempSync(path.join(tmpdir(), 'weft-cli-preflight-'))
    const r = spawnSync(
      process.execPath,
      [...weftArgs, 'run', path.join(root, 'pipelines', 'default.yaml'), '--input', 'prompt=Fizz', '--set', 'critic.story_threshold=500', '--set', 'timeouts.story=forever'],
      { cwd: root, encoding: 'utf8', env: { ...process.env, WEFT_DATA_DIR: data, DATABASE_URL: '' } },
    )
    assert.equal(r.status, 2)
    assert.match(r.stderr, /CONFIG_INVALID nodes\.story\.threshold: node "story": threshold must be at most 100; got the number 500 \(from config\.critic\.story_threshold\)/)
    assert.match(r.stderr, /CONFIG_INVALID nodes\.story\.timeout: node "story": timeout is "forever"/)
    // no run was recorded
    assert.equal(existsSync(path.join(data, 'runs')) ? readdirSync(path.join(data, 'runs')).length : 0, 0)
  })
  it('exits 2 before running anything when a node names a model whose key is not set, naming the variable', () => {
    const data = mkdtempSync(path.join(tmpdir(), 'weft-cli-models-'))
    const env = { ...process.env, WEFT_DATA_DIR: data, DATABASE_URL: '', ANTHROPIC_API_KEY: '' }
    const r = spawnSync(process.execPath, [...weftArgs, 'run', path.join(root, 'pipelines', 'default.yaml'), '--input', 'prompt=Fizz', '--set', 'models.critic=anthropic/claude-haiku-4-5'], {
      cwd: root,
      encoding: 'utf8',
      env,
    })
    assert.equal(r.status, 2, r.stderr)
    assert.match(r.stderr, /MODEL_REF_INVALID nodes\.story\.critic_model: node "story": "anthropic\/claude-haiku-4-5" needs ANTHROPIC_API_KEY, which is not set \(from config\.models\.critic\)/)
    assert.equal(existsSync(path.join(data, 'runs')) ? readdirSync(path.join(data, 'runs')).length : 0, 0)
  })
  it('exits 2 on an invalid pipeline', () => {
    assert.equal(weft('run', pipe('cycle.yaml')).code, 2)
  })
  it('prints one plain line per event when not on a TTY', () => {
    const r = weft('run', pipe('cli-run.yaml'), '--input', 'word=x')
    assert.equal(r.code, 0)
    assert.match(r.stderr, /run [0-9a-f-]{36}/)
    assert.match(r.stderr, /node\.started repeat \(fan_out\)/)
    assert.match(r.stderr, /node\.completed repeat in/)
    assert.match(r.stderr, /run\.completed/)
  })
  it('Ctrl-C cancels the run: exit 130', async () => {
    const child = spawn(process.execPath, [...weftArgs, 'run', pipe('cli-run.yaml'), '--input', 'word=x', '--set', 'wait=true'], { cwd: root, env })
    let err = ''
    let sent = false
    child.stderr.on('data', (d: Buffer) => {
      err += d.toString()
      if (!sent && err.includes('node.started hold')) sent = child.kill('SIGINT')
    })
    const code = await new Promise<number | null>((resolve) => child.on('exit', resolve))
    assert.equal(code, 130, err)
    assert.match(err, /node\.cancelled hold/)
    assert.match(err, /run\.cancelled/)
  })
})

describe('weft graph', () => {
  it('prints mermaid, dot and json', () => {
    const m = weft('graph', pipe('valid.yaml'))
    assert.equal(m.code, 0)
    assert.match(m.stdout, /^flowchart LR/)
    const key = (name: string) => m.stdout.match(new RegExp(`(n\\d+)\\["${name}<br/>`))![1]
    assert.ok(m.stdout.includes(`${key('brief')} --> ${key('clips')}`))
    assert.match(weft('graph', pipe('valid.yaml'), '--format', 'dot').stdout, /"plan" -> "clips";/)
    const j = JSON.parse(weft('graph', pipe('valid.yaml'), '--format', 'json').stdout)
    assert.deepEqual(
      j.levels.map((l: string[]) => l.sort()),
      [['brief', 'plan'], ['clips', 'extra'], ['done']],
    )
  })

  it("draws a fan-out's steps with what each needs", () => {
    const m = weft('graph', pipe('steps.yaml'))
    assert.equal(m.code, 0)
    assert.match(m.stdout, /each<br\/>fan_out × \[draft, poster, poster\+draft → check\]/)
    const j = JSON.parse(weft('graph', pipe('steps.yaml'), '--format', 'json').stdout)
    assert.deepEqual(j.nodes[0].steps, [
      { id: 'draft', type: 'work', needs: [] },
      { id: 'poster', type: 'work', needs: [] },
      { id: 'check', type: 'work', needs: ['poster', 'draft'] },
    ])
  })
})

describe('the built CLI (dist/, as npm installs it)', () => {
  const built = path.join(root, 'dist', 'cli', 'weft.js')
  it("validates the default pipeline copied to a folder of its own: the package's prompts are found from dist/", {
    skip: existsSync(built) ? false : 'dist/ is not built (npm install builds it; CI runs npm ci)',
  }, () => {
    const dir = mkdtempSync(path.join(tmpdir(), 'weft-elsewhere-'))
    copyFileSync(path.join(root, 'pipelines', 'default.yaml'), path.join(dir, 'ad.yaml'))
    const r = spawnSync(process.execPath, [built, 'validate', 'ad.yaml'], { cwd: dir, encoding: 'utf8', env })
    assert.equal(r.status, 0, r.stdout + r.stderr)
    assert.doesNotMatch(r.stdout + r.stderr, /PROMPT_NOT_FOUND/)
  })

  it('records a run in SQLite and shows it, through the bundled drizzle module (one file, no drizzle-orm import left)', {
    skip: existsSync(built) ? false : 'dist/ is not built (npm install builds it; CI runs npm ci)',
  }, () => {
    const bundle = readFileSync(path.join(root, 'dist', 'engine', 'db', 'drizzle-sqlite.js'), 'utf8')
    assert.doesNotMatch(bundle, /^import .* from ['"]drizzle-orm/m, 'drizzle is bundled into the file, not imported')
    assert.match(bundle, /^import Client from "better-sqlite3"/m, 'the native binding stays a package')
    const data = mkdtempSync(path.join(tmpdir(), 'weft-built-'))
    const run = (...args: string[]) => spawnSync(process.execPath, [built, ...args], { cwd: root, encoding: 'utf8', env: { ...env, WEFT_DATA_DIR: data, DATABASE_URL: '' } })
    const done = run('run', pipe('cli-run.yaml'), '--input', 'word=hi', '--json')
    assert.equal(done.status, 0, done.stderr)
    const id = (JSON.parse(done.stdout) as { id: string }).id
    const shown = run('show', id, '--json')
    assert.equal(shown.status, 0, shown.stderr)
    assert.equal((JSON.parse(shown.stdout) as { status: string }).status, 'completed')
  })
})
