// Tests for reading pipeline YAML safely: plain data, positions, and a diagnostic (never a crash or hang) for hostile input.
import { describe, it, mock } from 'node:test'
import assert from 'node:assert/strict'
import { spawnSync } from 'node:child_process'
import { fileURLToPath } from 'node:url'
import { parseYamlSource, defaultYamlLimits } from '../../../engine/dsl/yaml-source.ts'

const moduleUrl = new URL('../../../engine/dsl/yaml-source.ts', import.meta.url).href
const repoRoot = fileURLToPath(new URL('../../../', import.meta.url))

/** code@line:col for each diagnostic, the form most assertions compare. */
const where = (text: string, limits = {}) => parseYamlSource(text, 'p.yaml', limits).diagnostics.map((d) => `${d.code}@${d.line}:${d.col}`)

/**
 * Runs parseYamlSource in a child process on text built by `build` (JS source of a function body returning
 * the text), so a crash would fail the test instead of killing the runner. Returns exit status and diagnostics.
 */
function inChild(build: string, limits: object = {}) {
  const script = `
    const { parseYamlSource } = await import(${JSON.stringify(moduleUrl)})
    const text = (() => { ${build} })()
    const started = Date.now()
    const src = parseYamlSource(text, 'deep.yaml', ${JSON.stringify(limits)})
    console.log(JSON.stringify({ ms: Date.now() - started, value: src.value ?? null, diagnostics: src.diagnostics }))`
  const res = spawnSync(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', script], {
    cwd: repoRoot,
    encoding: 'utf8',
    timeout: 120_000,
    maxBuffer: 16 * 1024 * 1024,
  })
  return { status: res.status, signal: res.signal, stderr: res.stderr, out: res.status === 0 ? JSON.parse(res.stdout) : undefined }
}

describe('parseYamlSource: ordinary documents', () => {
  it('reads a normal pipeline into plain data with no diagnostics', () => {
    const text = `pipeline: draft
version: 1
nodes:
  story:
    type: critic_loop
    needs: [outline, "style"]
    timeout: 10s
    config:
      max_iterations: 3
      threshold: 0.8
      enabled: true
      note: ~
    prompt: |
      Write a story about \${inputs.topic}.
`
    const src = parseYamlSource(text, 'draft.yaml')
    assert.deepEqual(src.diagnostics, [])
    assert.deepEqual(src.value, {
      pipeline: 'draft',
      version: 1,
      nodes: {
        story: {
          type: 'critic_loop',
          needs: ['outline', 'style'],
          timeout: '10s',
          config: { max_iterations: 3, threshold: 0.8, enabled: true, note: null },
          prompt: 'Write a story about ${inputs.topic}.\n',
        },
      },
    })
    assert.equal(Object.getPrototypeOf(src.value), Object.prototype)
    assert.equal(src.file, 'draft.yaml')
    assert.equal(src.text, text)
  })

  it('gives null and no diagnostic for an empty or comment-only file', () => {
    for (const text of ['', '# nothing here\n', '\n\n']) {
      const src = parseYamlSource(text, 'empty.yaml')
      assert.equal(src.value, null, JSON.stringify(text))
      assert.deepEqual(src.diagnostics, [])
    }
  })

  it('follows ordinary aliases', () => {
    const src = parseYamlSource('defaults: &d {retries: 2}\na: *d\nb: *d\n', 'p.yaml')
    assert.deepEqual(src.diagnostics, [])
    assert.deepEqual(src.value, { defaults: { retries: 2 }, a: { retries: 2 }, b: { retries: 2 } })
  })

  it('keeps keys as written strings and does not apply YAML 1.1 merge keys or booleans', () => {
    const src = parseYamlSource('%YAML 1.1\n---\n1: a\nyes: b\n<<: {c: 1}\non: no\n', 'p.yaml')
    assert.deepEqual(src.diagnostics, [])
    assert.deepEqual(src.value, { '1': 'a', yes: 'b', '<<': { c: 1 }, on: 'no' })
  })
})

describe('parseYamlSource: syntax errors', () => {
  it('reports a YAML syntax error with its position and no value', () => {
    const src = parseYamlSource('pipeline: x\nnodes:\n  a:\n    type: work\n   b: oops\n', 'p.yaml')
    assert.deepEqual(
      src.diagnostics.map((d) => `${d.code}@${d.line}:${d.col}`),
      ['YAML_SYNTAX@5:1'],
    )
    assert.equal(src.diagnostics[0]!.severity, 'error')
    assert.equal(src.diagnostics[0]!.file, 'p.yaml')
    assert.equal(src.value, undefined)
    // the parser's follow-on messages are folded into the first one, which gets a hint
    assert.deepEqual(where('name: demo\nnodes: 1\n bad: 2\n'), ['YAML_SYNTAX@2:8'])
    assert.match(src.diagnostics[0]!.hint ?? '', /same column/)
  })

  it('gives one diagnostic for a cascade, with a hint at its likely cause', () => {
    const flow = parseYamlSource('pipeline: x\nnodes:\n  s:\n    vars: { brief: ${{ inputs.prompt }}, framework: x }\n', 'p.yaml')
    assert.equal(flow.diagnostics.length, 1)
    assert.match(flow.diagnostics[0]!.message, /and \d+ more parser messages after it/)
    assert.match(flow.diagnostics[0]!.hint!, /must be quoted \("\$\{\{ … \}\}"\)/)
    const quote = parseYamlSource('pipeline: x\nnodes:\n  a:\n    prompt: "unclosed\n  b: {}\n', 'p.yaml')
    assert.deepEqual(
      quote.diagnostics.map((d) => d.code),
      ['YAML_SYNTAX'],
    )
    assert.match(quote.diagnostics[0]!.hint!, /close the quote/)
  })

  it('reports a duplicate key at the second occurrence, with its path', () => {
    const src = parseYamlSource('nodes:\n  a:\n    type: x\n    type: y\n  b: {k: 1, k: 2}\n', 'p.yaml')
    assert.deepEqual(
      src.diagnostics.map((d) => `${d.code}@${d.line}:${d.col} ${d.path}`),
      ['YAML_SYNTAX@4:5 nodes.a.type', 'YAML_SYNTAX@5:13 nodes.b.k'],
    )
    assert.equal(src.value, undefined)
  })

  it('reports an alias to an anchor that does not exist', () => {
    assert.deepEqual(where('a: 1\nb: *nope\n'), ['YAML_SYNTAX@2:4'])
  })

  it('rejects collections as keys', () => {
    assert.deepEqual(where('? [a, b]\n: 1\n'), ['YAML_SYNTAX@1:3'])
  })

  it('reports a second document as YAML_MULTI_DOC at its start', () => {
    const src = parseYamlSource('pipeline: a\nnodes: {}\n---\npipeline: b\n', 'p.yaml')
    assert.deepEqual(
      src.diagnostics.map((d) => `${d.code}@${d.line}:${d.col}`),
      ['YAML_MULTI_DOC@3:1'],
    )
    assert.equal(src.value, undefined)
    assert.deepEqual(where('---\na: 1\n...\n'), [], 'explicit start and end markers around one document are fine')
  })

  it('caps the diagnostics of a file full of errors and says how many were left out', () => {
    const src = parseYamlSource('a: 1\n'.repeat(500), 'p.yaml')
    assert.equal(src.diagnostics.length, 101)
    assert.deepEqual(
      src.diagnostics.slice(0, 2).map((d) => `${d.code}@${d.line}:${d.col}`),
      ['YAML_SYNTAX@2:1', 'YAML_SYNTAX@3:1'],
    )
    assert.match(src.diagnostics[100]!.message, /^399 more/)
  })
})

describe('parseYamlSource: tags', () => {
  it('rejects each custom or non-core tag at the tag, keeping plain fallback data', () => {
    const text = `a: !js/function "function () {}"
b: !!binary aGVsbG8=
c: !include other.yaml
d: !!set
  x: null
e: !!timestamp 2001-12-14
f: ! plain
`
    const src = parseYamlSource(text, 'p.yaml')
    assert.deepEqual(
      src.diagnostics.map((d) => `${d.code}@${d.line}:${d.col} ${d.path}`),
      ['YAML_TAG@1:4 a', 'YAML_TAG@2:4 b', 'YAML_TAG@3:4 c', 'YAML_TAG@4:4 d', 'YAML_TAG@6:4 e', 'YAML_TAG@7:4 f'],
    )
    assert.deepEqual(src.value, { a: 'function () {}', b: 'aGVsbG8=', c: 'other.yaml', d: { x: null }, e: '2001-12-14', f: 'plain' })
  })

  it('accepts the core tags and flags a core tag that does not fit its value', () => {
    const src = parseYamlSource('a: !!str 12\nb: !!int "7"\nc: !!float 1.5\nd: !!bool true\ne: !!null\nf: !!map {x: 1}\ng: !!seq [1]\nh: !!int abc\n', 'p.yaml')
    assert.deepEqual(
      src.diagnostics.map((d) => `${d.code}@${d.line}:${d.col} ${d.path}`),
      ['YAML_TAG@8:4 h'],
    )
    assert.deepEqual(src.value, { a: '12', b: 7, c: 1.5, d: true, e: null, f: { x: 1 }, g: [1], h: 'abc' })
  })

  it('prints nothing to the console', () => {
    const warn = mock.method(console, 'warn', () => {})
    const log = mock.method(console, 'log', () => {})
    const emit = mock.method(process, 'emitWarning', () => {})
    try {
      parseYamlSource('a: !custom 1\nb: !!binary aGk=\n? [x]\n: 1\nc: &a\n  - 1\n', 'p.yaml')
      parseYamlSource('a: 1\n---\nb: 2\n%FOO bar\n', 'p.yaml')
    } finally {
      warn.mock.restore()
      log.mock.restore()
      emit.mock.restore()
    }
    assert.equal(warn.mock.callCount() + log.mock.callCount() + emit.mock.callCount(), 0)
  })
})

describe('parseYamlSource: unsafe keys', () => {
  it('reports __proto__ at the key and never touches a prototype', () => {
    const text = '__proto__:\n  polluted: yes\nnodes:\n  a:\n    "__proto__": {polluted: 1}\n    type: x\n'
    const src = parseYamlSource(text, 'p.yaml')
    assert.deepEqual(
      src.diagnostics.map((d) => `${d.code}@${d.line}:${d.col} ${d.path}`),
      ['YAML_UNSAFE_KEY@1:1 __proto__', 'YAML_UNSAFE_KEY@5:5 nodes.a.__proto__'],
    )
    const value = src.value as { nodes: { a: object } } & Record<string, unknown>
    assert.equal(Object.getPrototypeOf(value), Object.prototype)
    assert.equal(Object.getPrototypeOf(value.nodes.a), Object.prototype)
    assert.equal(Object.hasOwn(value, '__proto__'), false)
    assert.equal(Object.hasOwn(value.nodes.a, '__proto__'), false)
    assert.equal(({} as Record<string, unknown>).polluted, undefined)
    assert.equal(value.polluted, undefined)
    assert.deepEqual(value, { nodes: { a: { type: 'x' } } })
    // Object.assign would follow an own "__proto__" into the target's prototype.
    assert.equal(Object.getPrototypeOf(Object.assign({}, value.nodes.a)), Object.prototype)
  })

  it('also rejects constructor and prototype keys', () => {
    const src = parseYamlSource('a:\n  constructor:\n    prototype: {x: 1}\n  b: 1\n', 'p.yaml')
    assert.deepEqual(
      src.diagnostics.map((d) => `${d.code}@${d.line}:${d.col} ${d.path}`),
      ['YAML_UNSAFE_KEY@2:3 a.constructor', 'YAML_UNSAFE_KEY@3:5 a.constructor.prototype'],
    )
    assert.deepEqual(src.value, { a: { b: 1 } })
  })
})

describe('parseYamlSource: aliases', () => {
  it('stops a billion-laughs bomb quickly with YAML_ALIAS_LIMIT', () => {
    const text = `a: &a ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]
b: &b [*a,*a,*a,*a,*a,*a,*a,*a,*a]
c: &c [*b,*b,*b,*b,*b,*b,*b,*b,*b]
d: &d [*c,*c,*c,*c,*c,*c,*c,*c,*c]
e: &e [*d,*d,*d,*d,*d,*d,*d,*d,*d]
f: &f [*e,*e,*e,*e,*e,*e,*e,*e,*e]
g: &g [*f,*f,*f,*f,*f,*f,*f,*f,*f]
h: &h [*g,*g,*g,*g,*g,*g,*g,*g,*g]
i: &i [*h,*h,*h,*h,*h,*h,*h,*h,*h]
`
    const started = performance.now()
    const src = parseYamlSource(text, 'lol.yaml')
    assert.ok(performance.now() - started < 1000, 'must not expand the bomb')
    // Points at the first alias whose anchor itself holds aliases: where expansion starts multiplying.
    assert.deepEqual(
      src.diagnostics.map((d) => `${d.code}@${d.line}:${d.col} ${d.path}`),
      ['YAML_ALIAS_LIMIT@3:8 c[0]'],
    )
    assert.equal(src.value, undefined)
  })

  it('rejects more aliases than maxAliasCount, at the first one over', () => {
    const text = 'a: &a 1\nb:\n' + '  - *a\n'.repeat(4)
    assert.deepEqual(where(text, { maxAliasCount: 4 }), [])
    assert.deepEqual(where(text, { maxAliasCount: 3 }), ['YAML_ALIAS_LIMIT@6:5'])
  })

  it('rejects an alias inside its own anchor (a cycle)', () => {
    const src = parseYamlSource('a: &x\n  b: [1, *x]\n', 'p.yaml')
    assert.deepEqual(
      src.diagnostics.map((d) => `${d.code}@${d.line}:${d.col} ${d.path}`),
      ['YAML_ALIAS_LIMIT@2:10 a.b[1]'],
    )
    assert.equal(src.value, undefined)
  })
})

describe('parseYamlSource: size and depth limits', () => {
  it('rejects a 2 MB document with YAML_TOO_LARGE only', () => {
    const text = 'nodes:\n' + '  - {type: work, note: "padding padding padding"}\n'.repeat(45_000)
    assert.ok(text.length > 2_000_000)
    const src = parseYamlSource(text, 'big.yaml')
    assert.deepEqual(
      src.diagnostics.map((d) => `${d.code}@${d.line}:${d.col} ${d.path}`),
      ['YAML_TOO_LARGE@1:1 '],
    )
    assert.equal(src.value, undefined)
  })

  it('counts UTF-8 bytes, not characters', () => {
    assert.deepEqual(where(`a: ${'é'.repeat(300)}`, { maxBytes: 500 }), ['YAML_TOO_LARGE@1:1'])
    assert.deepEqual(where(`a: ${'e'.repeat(300)}`, { maxBytes: 500 }), [])
  })

  it('accepts nesting up to maxDepth and rejects one level more, at the opening token', () => {
    assert.deepEqual(where('a: {b: [c]}\n', { maxDepth: 3 }), [])
    assert.deepEqual(where('a: {b: [[c]]}\n', { maxDepth: 3 }), ['YAML_TOO_DEEP@1:9'])
    assert.deepEqual(where('a:\n  b:\n    - c\n', { maxDepth: 3 }), [])
    assert.deepEqual(where('a:\n  b:\n    - - c\n', { maxDepth: 3 }), ['YAML_TOO_DEEP@3:7'])
  })

  it('does not count indentation inside block scalars as nesting', () => {
    const text = 'a:\n  b: |\n' + Array.from({ length: 200 }, (_, i) => `    ${' '.repeat(i)}- k: [[{x`).join('\n') + '\nc: 1\n'
    const src = parseYamlSource(text, 'p.yaml', { maxDepth: 2 })
    assert.deepEqual(src.diagnostics, [])
    assert.deepEqual(Object.keys(src.value as object), ['a', 'c'])
  })

  it('ignores an explicit undefined limit instead of switching the limit off', () => {
    assert.deepEqual(where('['.repeat(100) + ']'.repeat(100), { maxDepth: undefined }), [`YAML_TOO_DEEP@1:${defaultYamlLimits.maxDepth + 1}`])
  })

  it('rejects line after line of compact maps, which yaml nests one level per line', () => {
    assert.deepEqual(where('a: b: c\n'.repeat(70)), ['YAML_TOO_DEEP@64:5'])
  })

  // These run in a child process: if the library recursed this deep it could take the test runner down with it.
  it('survives 100k-deep flow nesting', () => {
    const r = inChild(`return '['.repeat(100_000)`)
    assert.equal(r.status, 0, r.stderr)
    assert.equal(r.signal, null)
    assert.deepEqual(
      r.out.diagnostics.map((d: { code: string; line: number; col: number }) => `${d.code}@${d.line}:${d.col}`),
      ['YAML_TOO_DEEP@1:65'],
    )
    assert.equal(r.out.value, null)
  })

  it('survives 10k-deep compact block sequences', () => {
    const r = inChild(`return '- '.repeat(10_000) + 'x\\nk: v\\n'`)
    assert.equal(r.status, 0, r.stderr)
    assert.deepEqual(
      r.out.diagnostics.map((d: { code: string; line: number; col: number }) => `${d.code}@${d.line}:${d.col}`),
      ['YAML_TOO_DEEP@1:129'],
    )
  })

  it('survives 10k-deep indented block maps', () => {
    // 10k levels of one-space indentation is 50 MB, so the size limit is lifted to reach the depth check.
    const r = inChild(`return Array.from({ length: 10_000 }, (_, i) => ' '.repeat(i) + 'k:').join('\\n') + ' v\\nz: 1\\n'`, { maxBytes: 1e9 })
    assert.equal(r.status, 0, r.stderr)
    assert.deepEqual(
      r.out.diagnostics.map((d: { code: string; line: number; col: number }) => `${d.code}@${d.line}:${d.col}`),
      ['YAML_TOO_DEEP@65:66'],
    )
    assert.ok(r.out.ms < 5000, `took ${r.out.ms} ms`)
  })
})

describe('parseYamlSource: positions', () => {
  const text = `pipeline: demo
nodes:
  story:
    type: "critic_loop"
    timeout: 10s
    needs: [outline, style]
  scenes: &s
    type: fan_out
  again: *s
`
  const src = parseYamlSource(text, 'p.yaml')

  it('locates a key and its value separately', () => {
    assert.deepEqual(src.locate(['nodes', 'story', 'timeout'], 'key'), { line: 5, col: 5 })
    assert.deepEqual(src.locate(['nodes', 'story', 'timeout']), { line: 5, col: 14 })
    assert.deepEqual(src.locate(['nodes', 'story', 'needs', 1]), { line: 6, col: 22 })
    assert.deepEqual(src.locate(['nodes', 'story', 'needs', 1], 'key'), { line: 6, col: 22 }, 'list items have no key')
    assert.deepEqual(src.locate([]), { line: 1, col: 1 })
  })

  it('falls back to the nearest existing ancestor for a missing path', () => {
    // The parent map of a missing key starts at its first key.
    assert.deepEqual(src.locate(['nodes', 'story', 'retry'], 'key'), { line: 4, col: 5 })
    assert.deepEqual(src.locate(['nodes', 'story', 'retry', 'attempts']), { line: 4, col: 5 })
    assert.deepEqual(src.locate(['nodes', 'story', 'needs', 7]), { line: 6, col: 12 })
    assert.deepEqual(src.locate(['nodes', 'story', 'timeout', 'x']), { line: 5, col: 14 })
  })

  it('follows an alias on the way to a path', () => {
    assert.deepEqual(src.locate(['nodes', 'again', 'type']), { line: 8, col: 11 })
    assert.deepEqual(src.locate(['nodes', 'again']), { line: 9, col: 10 })
  })

  it('gives the source range of a scalar', () => {
    const r = src.range(['nodes', 'story', 'timeout'])
    assert.deepEqual(r, [text.indexOf('10s'), text.indexOf('10s') + 3])
    const q = src.range(['nodes', 'story', 'type'])!
    assert.equal(text.slice(q[0], q[1]), '"critic_loop"')
    const alias = src.range(['nodes', 'again'])!
    assert.equal(text.slice(alias[0], alias[1]), 'type: fan_out\n')
    assert.equal(src.range(['nodes', 'story', 'retry']), undefined)
    assert.equal(src.range(['nodes', 'story', 'needs', 9]), undefined)
  })

  it('turns offsets into 1-based line and column', () => {
    assert.deepEqual(src.position(0), { line: 1, col: 1 })
    assert.deepEqual(src.position(text.indexOf('story')), { line: 3, col: 3 })
    assert.deepEqual(src.position(text.length + 50), src.position(text.length))
    const tooLarge = parseYamlSource('a: 1\nb: 2\n', 'p.yaml', { maxBytes: 4 })
    assert.deepEqual(tooLarge.position(7), { line: 2, col: 3 }, 'positions work even when nothing was parsed')
    assert.deepEqual(tooLarge.locate(['a']), { line: 1, col: 1 })
  })
})

describe('parseYamlSource: arbitrary input', () => {
  it('never throws and reports only known codes, for thousands of random documents', () => {
    const codes = new Set(['YAML_SYNTAX', 'YAML_TOO_LARGE', 'YAML_TOO_DEEP', 'YAML_ALIAS_LIMIT', 'YAML_TAG', 'YAML_UNSAFE_KEY', 'YAML_MULTI_DOC'])
    const pieces = [
      '- ',
      '? ',
      ': ',
      'a',
      'k: ',
      '[',
      ']',
      '{',
      '}',
      ', ',
      '\n',
      '\n  ',
      '\n    ',
      '"',
      "'",
      '|',
      '>',
      '#',
      '&x ',
      '*x',
      '!t ',
      '!!int ',
      '---\n',
      '\t',
      '__proto__: ',
      '\\',
      '%YAML 1.2\n',
    ]
    let seed = 42
    const next = () => (seed = (seed * 1103515245 + 12345) & 0x7fffffff) / 0x7fffffff
    const seen = new Set<string>()
    for (let i = 0; i < 3000; i++) {
      let text = ''
      for (let n = 1 + Math.floor(next() * 40); n > 0; n--) text += pieces[Math.floor(next() * pieces.length)]
      const src = parseYamlSource(text, 'fuzz.yaml', { maxDepth: 4, maxAliasCount: 3 })
      for (const d of src.diagnostics) {
        assert.ok(codes.has(d.code), `${d.code} for ${JSON.stringify(text)}`)
        assert.ok(d.line >= 1 && d.col >= 1 && d.file === 'fuzz.yaml', JSON.stringify(text))
        seen.add(d.code)
      }
      if (src.diagnostics.some((d) => d.severity === 'error' && d.code !== 'YAML_TAG' && d.code !== 'YAML_UNSAFE_KEY')) {
        assert.equal(src.value, undefined, JSON.stringify(text))
      }
    }
    // The generator is rich enough to hit most codes, so the loop above is exercising them.
    assert.ok(seen.size >= 5, [...seen].join())
  })
})
