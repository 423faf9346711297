import { describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { compileExpression, compileTemplate, findExpressions, renderTemplate, toCel, type ExpressionProblem } from '../../engine/expressions.ts'

const scope = toCel({
  inputs: { prompt: 'a fizzy drink', count: 3, ratio: 0.5, tags: ['x', 'y'] },
  config: { parallel: { max_concurrent: 5 }, stages: { videos: true } },
  nodes: { story: { output: { text: 'Once.', score: 91, beats: [{ title: 'hook' }, { title: 'cta' }] }, status: 'succeeded' } },
  run: { id: 'r1', interactive: false },
}) as Record<string, unknown>

const render = (v: unknown) => renderTemplate(compileTemplate(v), scope)

describe('expressions', () => {
  it('a field that is exactly one expression keeps the value type', () => {
    assert.equal(render('${{ inputs.count }}'), 3)
    assert.equal(render('${{ inputs.ratio }}'), 0.5)
    assert.equal(render('  ${{ config.stages.videos }}'), true)
    assert.deepEqual(render('${{ inputs.tags }}'), ['x', 'y'])
    assert.deepEqual(render('${{ nodes.story.output.beats.map(b, b.title) }}'), ['hook', 'cta'])
  })
  it('expressions inside longer text interpolate', () => {
    assert.equal(render('Ad for ${{ inputs.prompt }} (${{ inputs.count + 1 }} scenes)'), 'Ad for a fizzy drink (4 scenes)')
    assert.equal(render('tags: ${{ inputs.tags }}'), 'tags: ["x","y"]')
  })
  it('walks lists and mappings', () => {
    assert.deepEqual(render({ a: ['${{ run.id }}', 2], b: { c: '${{ nodes.story.output.score >= 85 }}' } }), { a: ['r1', 2], b: { c: true } })
  })
  it('integers from data are CEL ints, so arithmetic with literals works', () => {
    assert.equal(render('${{ config.parallel.max_concurrent * 2 }}'), 10)
    assert.equal(render('${{ size(inputs.tags) }}'), 2)
  })
  it('whole numbers and fractions mix in arithmetic, as they do in JSON data', () => {
    assert.equal(render('${{ config.parallel.max_concurrent * 0.5 }}'), 2.5)
    assert.equal(render('${{ inputs.ratio + 1 }}'), 1.5)
    assert.equal(render('${{ inputs.count / 2 }}'), 1)
  })
  it('a }} inside a quoted string does not close the expression', () => {
    const spans = findExpressions('x ${{ "a}}b" + "c" }} y')
    assert.equal(spans.length, 1)
    assert.equal(spans[0]!.source.trim(), '"a}}b" + "c"')
    assert.equal(render('${{ "a}}b" + "c" }}'), 'a}}bc')
  })
  it('collects references with their static path, ignoring macro variables', () => {
    const e = compileExpression('nodes.story.output.beats.map(b, b.title + inputs.prompt)')
    assert.deepEqual(
      e.references.map((r) => [r.root, r.path]),
      [
        ['nodes', ['story', 'output', 'beats']],
        ['inputs', ['prompt']],
      ],
    )
    const idx = compileExpression('nodes["story"].output.text')
    assert.deepEqual(
      idx.references.map((r) => [r.root, r.path]),
      [['nodes', ['story', 'output', 'text']]],
    )
  })
  it('reports syntax errors with their offset in the string', () => {
    const problems: ExpressionProblem[] = []
    compileTemplate({ a: 'hello ${{ inputs. }}' }, problems)
    assert.equal(problems.length, 1)
    assert.equal(problems[0]!.code, 'EXPRESSION_SYNTAX')
    assert.deepEqual(problems[0]!.path, ['a'])
    assert.ok(problems[0]!.offset >= 'hello ${{ '.length, `offset ${problems[0]!.offset}`)
    const unclosed: ExpressionProblem[] = []
    compileTemplate('x ${{ inputs.prompt', unclosed)
    assert.equal(unclosed[0]!.offset, 2)
  })
  it('evaluation errors are EXPRESSION_FAILED and cannot reach JavaScript internals', () => {
    assert.throws(() => render('${{ inputs.missing }}'), { code: 'EXPRESSION_FAILED' })
    assert.throws(() => render('${{ inputs.constructor }}'), { code: 'EXPRESSION_FAILED' })
    assert.throws(() => render('${{ inputs.__proto__ }}'), { code: 'EXPRESSION_FAILED' })
  })
})

describe('expression errors quote a long expression briefly', () => {
  const long = Array.from({ length: 20_000 }, () => '1').join(' + ')
  const errorOf = (f: () => unknown) => {
    try {
      f()
    } catch (err) {
      return err as { code: string; message: string; details: { expression?: string } }
    }
    assert.fail('expected an error')
  }
  it('a syntax error in an 80 KB expression: its start, its length and the reason, in a few hundred characters', () => {
    const e = errorOf(() => compileExpression(`${long} +`))
    assert.equal(e.code, 'EXPRESSION_SYNTAX')
    assert.ok(e.message.length < 500, `${e.message.length} characters`)
    assert.match(e.message, /^invalid expression `1 \+ 1 \+ .*…` \(\d+ characters\): \S/)
  })
  it('an evaluation error likewise, with at most 2,000 characters of it in the details', () => {
    const e = errorOf(() => compileExpression(`inputs.missing.field + '${'x'.repeat(80_000)}'`).evaluate({ inputs: {} }))
    assert.equal(e.code, 'EXPRESSION_FAILED')
    assert.ok(e.message.length < 500, `${e.message.length} characters`)
    assert.equal(e.details.expression?.length, 2000)
  })
})

describe('expressions: regular expressions are RE2', () => {
  it('a pattern that backtracks for minutes in JavaScript answers at once', () => {
    const started = performance.now()
    const out = compileExpression("!inputs.prompt.matches('^(a+)+$')").evaluate(toCel({ inputs: { prompt: `${'a'.repeat(40)}!` } }) as Record<string, unknown>)
    assert.equal(out, true)
    assert.ok(performance.now() - started < 1000)
  })
  it('matches anywhere in the text, as CEL says', () => {
    const m = (text: string, re: string) => compileExpression(`t.matches('${re}')`).evaluate({ t: text })
    assert.equal(m('a fizzy drink', 'fizz'), true)
    assert.equal(m('a fizzy drink', '^fizz'), false)
    assert.equal(m('Orbit Mug', '(?i)orbit\\\\s+mug'), true)
    assert.equal(compileExpression("['ab', 'xy'].filter(s, s.matches('^a')).size()").evaluate({}), 1)
  })
  it('a pattern RE2 cannot run is refused with the pattern, not run by another engine', () => {
    assert.throws(
      () => compileExpression("t.matches('(a)\\\\1')").evaluate({ t: 'aa' }),
      (err: unknown) => {
        assert.equal((err as { code: string }).code, 'EXPRESSION_FAILED')
        assert.match((err as Error).message, /invalid regular expression "\(a\)\\\\1" \(RE2 syntax\)/)
        return true
      },
    )
  })
  it('type errors still speak of matches', () => {
    assert.throws(() => compileExpression("n.matches('a')").evaluate({ n: 3n }), /no matching overload for 'int\.matches\(string\)'/)
  })
  it('literal patterns are listed for the validator', () => {
    assert.deepEqual(compileExpression("a.matches('x+') || b.matches(c)").patterns, ['x+'])
  })
})
