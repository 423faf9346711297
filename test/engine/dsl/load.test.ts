import { describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { mkdirSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import path from 'node:path'
import { loadPipeline } from '../../../engine/dsl/load.ts'
import { fixtures, load } from '../../helpers.ts'

const dir = path.join(fixtures, 'pipelines')

/** Where `needle` stands on `line` of a fixture: the position a diagnostic must point at. */
function at(file: string, line: number, needle: string): { line: number; col: number } {
  const text = readFileSync(path.join(dir, file), 'utf8').split('\n')[line - 1]!
  const idx = text.indexOf(needle)
  assert.ok(idx >= 0, `fixture ${file}:${line} has no "${needle}"`)
  return { line, col: idx + 1 }
}

async function diagnose(file: string) {
  const res = await loadPipeline(path.join(dir, file))
  return res.diagnostics.map((d) => ({ code: d.code, line: d.line, col: d.col, path: d.path }))
}

describe('validation: one fixture per kind of problem', () => {
  const cases: Array<[file: string, code: string, line: number, needle: string, docPath: string]> = [
    ['unknown-key.yaml', 'SCHEMA_UNKNOWN_KEY', 6, 'backof', 'nodes.a.retry.backof'],
    ['wrong-type.yaml', 'SCHEMA_INVALID', 7, 'three', 'nodes.each.concurrency'],
    ['unknown-type.yaml', 'UNKNOWN_NODE_TYPE', 4, 'fan_outt', 'nodes.a.type'],
    ['bad-duration.yaml', 'INVALID_DURATION', 6, 'ten seconds', 'nodes.a.timeout'],
    ['unknown-needs.yaml', 'UNKNOWN_NODE', 7, 'story_approval', 'nodes.scenes.needs[0]'],
    ['unknown-ref.yaml', 'UNKNOWN_NODE', 7, 'nodes.stroy', 'nodes.scenes.value'],
    ['unknown-input.yaml', 'UNKNOWN_INPUT', 8, 'inputs.promt', 'nodes.a.value'],
    ['unknown-config.yaml', 'UNKNOWN_CONFIG', 8, 'config.parallel.max_concurent', 'nodes.a.value'],
    ['unknown-output-field.yaml', 'UNKNOWN_OUTPUT_FIELD', 10, 'nodes.each.output.resultz', 'nodes.after.value'],
    ['fanout-not-list.yaml', 'EXPRESSION_TYPE', 8, 'inputs.prompt', 'nodes.each.items'],
    ['expression-syntax.yaml', 'EXPRESSION_SYNTAX', 6, ' }}', 'nodes.a.value'],
    ['unknown-variable.yaml', 'UNKNOWN_VARIABLE', 6, 'item', 'nodes.a.value'],
    ['plugin-missing.yaml', 'PLUGIN_LOAD_FAILED', 2, './nodes/nowhere.mjs', 'plugins[0]'],
  ]
  for (const [file, code, line, needle, docPath] of cases) {
    it(`${code} (${file})`, async () => {
      const found = await diagnose(file)
      const expected = { code, ...at(file, line, needle), path: docPath }
      assert.deepEqual(
        found.filter((d) => d.code !== 'UNKNOWN_NODE_TYPE' || code === 'UNKNOWN_NODE_TYPE'),
        [expected],
      )
    })
  }

  it('YAML_SYNTAX (yaml-syntax.yaml)', async () => {
    const found = await diagnose('yaml-syntax.yaml')
    assert.equal(found[0]!.code, 'YAML_SYNTAX')
    assert.equal(found[0]!.line, 5)
  })

  it('CYCLE names the cycle in order', async () => {
    const res = await loadPipeline(path.join(dir, 'cycle.yaml'))
    const cycles = res.diagnostics.filter((d) => d.code === 'CYCLE')
    assert.equal(cycles.length, 1)
    // at the `needs:` entry that closes the ring: a waits for c
    assert.deepEqual({ line: cycles[0]!.line, col: cycles[0]!.col }, at('cycle.yaml', 4, 'c]'))
    assert.equal(cycles[0]!.path, 'nodes.a.needs[0]')
    assert.match(cycles[0]!.message, /a → b → c → a; it closes where "a" waits for "c"/)
    assert.equal(res.diagnostics.length, 1)
  })

  it('CYCLE closed by an expression points at the field that reads the node', async () => {
    const file = path.join(mkdtempSync(path.join(tmpdir(), 'weft-cycle-')), 'p.yaml')
    writeFileSync(
      file,
      [
        'pipeline: p',
        `plugins: [${JSON.stringify(path.join(dir, '..', 'plugins', 'work.mjs'))}]`,
        'nodes:',
        '  a:',
        '    type: work',
        '    value: ${{ nodes.c.output.value }}',
        '  b: { type: work, needs: [a] }',
        '  c: { type: work, needs: [b] }',
        '',
      ].join('\n'),
    )
    const res = await loadPipeline(file)
    assert.deepEqual(
      res.diagnostics.map((d) => [d.code, d.line, d.path]),
      [['CYCLE', 6, 'nodes.a.value']],
    )
  })

  it('refuses a file that is not UTF-8 at its first bad byte (a U+FFFD written in the file is text)', async () => {
    const file = path.join(mkdtempSync(path.join(tmpdir(), 'weft-utf8-')), 'p.yaml')
    writeFileSync(file, Buffer.concat([Buffer.from('pipeline: p\ndescription: "ok \u{FFFD} caf'), Buffer.from([0xe9]), Buffer.from('"\nnodes: {}\n')]))
    const res = await loadPipeline(file)
    assert.equal(res.pipeline, undefined)
    assert.deepEqual(
      res.diagnostics.map((d) => [d.code, d.line, d.col]),
      [['FILE_ENCODING', 2, 23]],
    )
    assert.match(res.diagnostics[0]!.hint!, /save the file as UTF-8/)
  })

  it('reports every problem of a file at once', async () => {
    const found = await diagnose('many-errors.yaml')
    const codes = found.map((d) => `${d.code}@${d.line}`).sort()
    assert.deepEqual(codes, ['CYCLE@20', 'EXPRESSION_TYPE@12', 'INVALID_DURATION@8', 'SCHEMA_INVALID@13', 'UNKNOWN_CONFIG@23', 'UNKNOWN_INPUT@9', 'UNKNOWN_NODE@19', 'UNKNOWN_NODE_TYPE@16'])
  })

  it('accepts a pipeline using every feature', async () => {
    const res = await loadPipeline(path.join(dir, 'valid.yaml'))
    assert.deepEqual(res.diagnostics, [])
    const p = res.pipeline!
    assert.deepEqual([...p.nodes.keys()], ['brief', 'plan', 'clips', 'extra', 'done'])
    // expressions imply dependencies, including those inside a fan-out's child
    assert.deepEqual(p.nodes.get('clips')!.deps.sort(), ['brief', 'plan'])
    assert.equal(p.nodes.get('brief')!.timeoutMs, 5000)
    assert.deepEqual(p.nodes.get('brief')!.retry, { attempts: 2, backoffMs: 10, factor: 2, maxBackoffMs: 60000, jitter: true })
    assert.equal(p.nodes.get('clips')!.child!.timeoutMs, 2000)
    assert.equal(p.nodes.get('done')!.trigger, 'none_failed')
    assert.equal(p.concurrency, 4)
  })
})

describe('validation: details', () => {
  it('suggests the closest node id', async () => {
    const res = await loadPipeline(path.join(dir, 'unknown-needs.yaml'))
    assert.match(res.diagnostics[0]!.message, /did you mean "approve_story"/)
  })

  it('rejects an interpolated string where the type wants a number', async () => {
    const res = await load(`
pipeline: interp
nodes:
  f:
    type: fan_out
    items: [1]
    concurrency: "n\${{ 1 }}"
    node: { type: fan_out }
`)
    assert.deepEqual(res.diagnostics.map((d) => d.code).sort(), ['EXPRESSION_TYPE', 'SCHEMA_INVALID'])
  })

  it('a missing required field points at the node', async () => {
    const res = await load('pipeline: m\nnodes:\n  f:\n    type: fan_out\n    items: [1]\n')
    assert.deepEqual(
      res.diagnostics.map((d) => [d.code, d.line, d.col, d.path]),
      [['SCHEMA_MISSING_KEY', 3, 3, 'nodes.f']],
    )
  })

  it('type-checks `when` as a boolean', async () => {
    const res = await load('pipeline: w\ninputs: { p: { type: string, default: x } }\nplugins: [$WORK]\nnodes:\n  a: { type: work, when: "${{ inputs.p }}" }\n')
    assert.deepEqual(
      res.diagnostics.map((d) => d.code),
      ['EXPRESSION_TYPE'],
    )
  })

  it('a literal pattern RE2 cannot run is reported at the pattern; RE2 patterns pass', async () => {
    const res = await load(
      'pipeline: w\ninputs: { p: { type: string, default: x } }\nplugins: [$WORK]\nnodes:\n  a: { type: work, when: "${{ inputs.p.matches(\'(?=x)y\') }}" }\n  b: { type: work, when: "${{ inputs.p.matches(\'^(a+)+$\') }}" }\n',
    )
    assert.deepEqual(
      res.diagnostics.map((d) => [d.code, d.line, d.col, d.path]),
      [['EXPRESSION_REGEX', 5, 49, 'nodes.a.when']],
    )
    assert.match(res.diagnostics[0]!.message, /the pattern "\(\?=x\)y" is not RE2 syntax .*no backreferences or lookaround/)
  })

  it('model refs: an unknown provider is an error at the field, a key this machine lacks a warning', async () => {
    const dir = mkdtempSync(path.join(tmpdir(), 'weft-models-'))
    const file = path.join(dir, 'p.yaml')
    mkdirSync(path.join(dir, 'prompts'))
    writeFileSync(path.join(dir, 'prompts', 'hello.yaml'), 'template: "Say hello."\n')
    writeFileSync(
      file,
      [
        'pipeline: m',
        'config: { models: { critic: antropic/claude-haiku-4-5 } }',
        'nodes:',
        '  a: { type: agent, prompt: hello, model: gemini/gemini-2.5-flash }',
        '  b: { type: agent, prompt: hello, model: "${{ config.models.critic }}" }',
        '  c: { type: agent, prompt: hello, model: anthropic/claude-sonnet-4-5 }',
        '  d: { type: agent, prompt: hello, model: offline }',
        '',
      ].join('\n'),
    )
    const models = { default: 'offline', providers: { anthropic: { keyVar: 'ANTHROPIC_API_KEY', hasKey: false }, google: { keyVar: 'GOOGLE_GENERATIVE_AI_API_KEY', hasKey: true } } }
    const res = await loadPipeline(file, { models })
    const got = res.diagnostics.filter((d) => d.code === 'MODEL_REF_INVALID').map((d) => [d.line, d.path, d.severity])
    assert.deepEqual(got, [
      [4, 'nodes.a.model', 'error'],
      [5, 'nodes.b.model', 'error'],
      [6, 'nodes.c.model', 'warning'],
    ])
    const [a, b, c] = res.diagnostics.filter((d) => d.code === 'MODEL_REF_INVALID')
    assert.match(a!.message, /unknown model provider "gemini" in "gemini\/gemini-2.5-flash"; this machine knows offline, anthropic, google/)
    assert.match(b!.message, /unknown model provider "antropic" .*\(from config\.models\.critic\)/)
    assert.match(c!.message, /needs ANTHROPIC_API_KEY, which is not set/)
    // with the key, the warning goes; without a catalog, refs are not checked
    assert.equal(
      (await loadPipeline(file, { models: { ...models, providers: { ...models.providers, antropic: { hasKey: true }, gemini: { hasKey: true }, anthropic: { hasKey: true } } } })).pipeline !==
        undefined,
      true,
    )
    assert.equal((await loadPipeline(file, { models: null })).diagnostics.filter((d) => d.code === 'MODEL_REF_INVALID').length, 0)
  })

  it('a pool may name a fleet queue; "default" and names that are not lower-case words are refused', async () => {
    const ok = await load('pipeline: q\npools: { gpu: { max: 2, queue: gpu }, io: 3 }\nplugins: [$WORK]\nnodes:\n  a: { type: work, pool: gpu }\n')
    assert.deepEqual([ok.pipeline?.pools, ok.pipeline?.queues], [{ gpu: 2, io: 3 }, { gpu: 'gpu' }])
    const bad = await load('pipeline: q\npools: { gpu: { max: 2, queue: default }, x: { max: 1, queue: "Big Box" } }\nnodes: {}\n')
    assert.deepEqual(
      bad.diagnostics
        .map((d) => d.path)
        .filter((p) => p.startsWith('pools'))
        .sort(),
      ['pools.gpu.queue', 'pools.x.queue'],
    )
  })

  it('refers to nodes by literal id only', async () => {
    const res = await load('pipeline: w\ninputs: { p: { type: string, default: x } }\nplugins: [$WORK]\nnodes:\n  a: { type: work, value: "${{ nodes[inputs.p].output }}" }\n')
    assert.deepEqual(
      res.diagnostics.map((d) => d.code),
      ['EXPRESSION_DYNAMIC_REF'],
    )
  })

  it('a node that refers to itself is a cycle', async () => {
    const res = await load('pipeline: w\nplugins: [$WORK]\nnodes:\n  a: { type: work, value: "${{ nodes.a.output.value }}" }\n')
    assert.deepEqual(
      res.diagnostics.map((d) => d.code),
      ['CYCLE'],
    )
  })

  it('a plugin whose export is not a node definition is reported', async () => {
    const res = await load(`pipeline: p\nplugins: [$FIXTURES/plugins/not-a-node.mjs]\nnodes:\n  a: { type: fan_out, items: [], node: { type: fan_out } }\n`)
    assert.equal(res.diagnostics[0]!.code, 'PLUGIN_INVALID')
  })

  it('checks output fields of plugin types that declare a valibot-less schema only at run time', async () => {
    const res = await load(`pipeline: p\nplugins: [$FIXTURES/plugins/typed.mjs]\nnodes:\n  a: { type: typed }\n  b: { type: typed, text: "\${{ nodes.a.output.anything }}" }\n`)
    assert.deepEqual(res.diagnostics, [])
  })

  it('more codes, one case each: UNKNOWN_POOL, DUPLICATE_NODE_TYPE, INVALID_NAME, UNKNOWN_NODE_FIELD', async () => {
    const codes = async (yaml: string) => (await load(yaml)).diagnostics.map((d) => [d.code, d.line, d.path])
    assert.deepEqual(await codes('pipeline: p\nplugins: [$WORK]\nnodes:\n  a: { type: work, pool: gpu }\n'), [['UNKNOWN_POOL', 4, 'nodes.a.pool']])
    assert.deepEqual(await codes('pipeline: p\nplugins: [$WORK, $FIXTURES/plugins/dup-work.mjs]\nnodes:\n  a: { type: work }\n'), [['DUPLICATE_NODE_TYPE', 2, 'plugins[1]']])
    assert.deepEqual(await codes('pipeline: p\nplugins: [$WORK]\nnodes:\n  my-node: { type: work }\n'), [['INVALID_NAME', 4, 'nodes.my-node']])
    assert.deepEqual(await codes('pipeline: p\nplugins: [$WORK]\nnodes:\n  a: { type: work }\n  b: { type: work, value: "${{ nodes.a.outptu }}" }\n'), [['UNKNOWN_NODE_FIELD', 5, 'nodes.b.value']])
  })

  it('durations must be positive and fit a timer', async () => {
    const res = await load('pipeline: p\nplugins: [$WORK]\nnodes:\n  a: { type: work, timeout: 0 }\n  b: { type: work, timeout: 25d }\n  c: { type: work, retry: { attempts: 2, backoff: 0 } }\n')
    assert.deepEqual(
      res.diagnostics.map((d) => [d.code, d.path]),
      [
        ['INVALID_DURATION', 'nodes.a.timeout'],
        ['INVALID_DURATION', 'nodes.b.timeout'],
      ],
    )
  })

  it('retry on a fan-out as a whole is refused (retry goes on its child)', async () => {
    const res = await load('pipeline: p\nplugins: [$WORK]\nnodes:\n  f: { type: fan_out, items: [1], retry: { attempts: 2 }, node: { type: work, retry: { attempts: 2 } } }\n')
    assert.deepEqual(
      res.diagnostics.map((d) => [d.code, d.path]),
      [['SCHEMA_INVALID', 'nodes.f.retry']],
    )
  })

  it('knows number types: a fan-out over a number or a `when` on a number is refused', async () => {
    const res = await load(
      'pipeline: p\ninputs: { n: { type: integer, default: 3 } }\nconfig: { ratio: 0.5 }\nplugins: [$WORK]\nnodes:\n  f: { type: fan_out, items: "${{ inputs.n }}", node: { type: work } }\n  w: { type: work, when: "${{ config.ratio }}" }\n  ok: { type: work, value: "${{ inputs.n * config.ratio }}" }\n',
    )
    assert.deepEqual(
      res.diagnostics.map((d) => [d.code, d.path]),
      [
        ['EXPRESSION_TYPE', 'nodes.f.items'],
        ['EXPRESSION_TYPE', 'nodes.w.when'],
      ],
    )
  })

  it('an empty config mapping is open to any key (as with --set)', async () => {
    const res = await load('pipeline: p\nconfig: { extras: {} }\nplugins: [$WORK]\nnodes:\n  a: { type: work, value: "${{ config.extras.model }}" }\n')
    assert.deepEqual(res.diagnostics, [])
  })
})

describe('validation: fan-out steps', () => {
  it('checks step ids, step references, step cycles and the one-of node/steps rule, each in place', async () => {
    const file = 'fanout-steps.yaml'
    const found = await diagnose(file)
    const want = [
      { code: 'CYCLE', ...at(file, 8, 'a:'), path: 'nodes.each.steps.a' },
      { code: 'UNKNOWN_STEP', ...at(file, 10, 'nope'), path: 'nodes.each.steps.c.needs[0]' },
      { code: 'UNKNOWN_STEP', ...at(file, 10, 'steps.d.output'), path: 'nodes.each.steps.c.value' },
      { code: 'SCHEMA_INVALID', ...at(file, 11, 'maybe'), path: 'nodes.each.steps.e.when' },
      { code: 'SCHEMA_INVALID', ...at(file, 12, 'fan_out'), path: 'nodes.each.steps.f.type' },
      { code: 'SCHEMA_UNKNOWN_KEY', ...at(file, 13, 'pool'), path: 'nodes.each.steps.g.pool' },
      { code: 'UNKNOWN_STEP', ...at(file, 14, 'steps.zz.output'), path: 'nodes.each.result' },
      { code: 'UNKNOWN_VARIABLE', ...at(file, 17, 'steps'), path: 'nodes.after.value' },
      { code: 'SCHEMA_INVALID', ...at(file, 22, 'steps'), path: 'nodes.both.steps' },
      { code: 'SCHEMA_MISSING_KEY', ...at(file, 23, 'neither'), path: 'nodes.neither' },
      { code: 'SCHEMA_INVALID', ...at(file, 26, 'result'), path: 'nodes.neither.result' },
    ]
    const key = (d: { line: number; col: number; code: string }) => `${d.line}:${d.col}:${d.code}`
    assert.deepEqual(
      [...found].sort((x, y) => key(x).localeCompare(key(y))),
      [...want].sort((x, y) => key(x).localeCompare(key(y))),
    )
    const res = await loadPipeline(path.join(dir, file))
    assert.match(res.diagnostics.find((d) => d.code === 'CYCLE')!.message, /step cycle in "each": a → b → a/)
  })
})

describe('validation: fan-out steps are typed from their node types', () => {
  it("checks `steps.<id>.output` fields and types against the step type's output schema", async () => {
    const res = await load(`pipeline: s
nodes:
  each:
    type: fan_out
    items: \${{ ['a'] }}
    steps:
      clip: { type: render, kind: image, out: '\${{ item + ".png" }}', prompt: hi }
      again: { type: render, kind: image, out: x.png, prompt: '\${{ steps.clip.output.pathz }}' }
    result: \${{ steps.clip.output.path + 1 }}
`)
    assert.deepEqual(
      res.diagnostics.map((d) => [d.code, d.line, d.path]),
      [
        ['UNKNOWN_OUTPUT_FIELD', 8, 'nodes.each.steps.again.prompt'],
        ['EXPRESSION_TYPE', 9, 'nodes.each.result'],
      ],
    )
    assert.match(res.diagnostics[0]!.message, /did you mean "path"/)
  })
})
