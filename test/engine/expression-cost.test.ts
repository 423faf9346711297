import { describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { costBound, EXPRESSION_COST_LIMIT, shapeOf, widest } from '../../engine/expression-cost.ts'
import { celRuntime, compileExpression, toCel } from '../../engine/expressions.ts'
import { WeftError } from '../../engine/errors.ts'
import { pipeline, run } from '../helpers.ts'

const shape = (source: string) => shapeOf(celRuntime.parse(source).ast)
const list = (n: number) => toCel(Array.from({ length: n }, (_, i) => i))

describe('expression cost: the shape that decides it', () => {
  it('counts how deep comprehensions nest inside each other, not one after another', () => {
    assert.equal(shape('inputs.a + 1').depth, 0)
    assert.equal(shape('l.map(x, x * 2)').depth, 1)
    assert.equal(shape('l.map(x, x * 2).filter(y, y > 2).exists(z, z == 4)').depth, 1, 'a chain runs each comprehension once')
    assert.equal(shape('l.map(a, l.filter(b, b < a).size())').depth, 2)
    assert.equal(shape('l.all(a, l.exists(b, l.exists_one(c, c == a + b)))').depth, 3)
    assert.equal(shape('l.map(a, l.map(b, l.map(c, l.map(d, l.map(e, e)))))').depth, 5)
  })
  it('notes concatenation and splitting, which can make a list longer than the data it read', () => {
    const s = shape("s.split(',').map(x, x + '!')")
    assert.equal(s.splits, true)
    assert.equal(s.pluses, 1)
    assert.equal(shape('l.map(x, x)').splits, false)
    assert.equal(shape('[1, 2, 3, 4].map(x, {"a": x})').literal, 4)
  })
  it('the widest collection is found anywhere inside the data, strings only when they are split', () => {
    assert.equal(widest([toCel({ a: [1, 2, 3], b: { c: Array.from({ length: 7 }, () => 0) } })], false), 7)
    assert.equal(widest(['x'.repeat(50), [1, 2]], false), 2)
    assert.equal(widest(['x'.repeat(50), [1, 2]], true), 50)
    // a deeply nested value does not overflow the stack
    let deep: unknown = []
    for (let i = 0; i < 100_000; i++) deep = [deep]
    assert.equal(widest([deep], false), 1)
  })
  it('the bound grows with the width to the power of the nesting', () => {
    const s = shape('l.map(a, l.map(b, b))')
    assert.equal(costBound(s, 100), s.nodes * 100 ** 2)
    assert.equal(costBound(shape('inputs.a'), 1_000_000), shape('inputs.a').nodes, 'no comprehension: the tree alone')
  })
})

describe('expression cost: evaluations over the limit are refused unrun', () => {
  it('five nested maps over 100 items are refused at once, with the bound and the limit', () => {
    const expr = compileExpression('l.map(a, l.map(b, l.map(c, l.map(d, l.map(e, e)))))')
    const started = performance.now()
    assert.throws(
      () => expr.evaluate({ l: list(100) }),
      (err: unknown) => {
        assert.ok(err instanceof WeftError)
        assert.equal(err.code, 'EXPRESSION_COST')
        assert.match(err.message, /could take up to 1\.\de\+1[01] steps over this data, more than the limit of 1e\+7/)
        assert.equal((err.details as { limit: number }).limit, EXPRESSION_COST_LIMIT)
        return true
      },
    )
    assert.ok(performance.now() - started < 1000, 'refused before any work')
  })
  it('the same expression over short lists runs', () => {
    const out = compileExpression('l.map(a, l.map(b, l.map(c, l.map(d, l.map(e, e)))))').evaluate({ l: list(3) }) as unknown[]
    assert.equal(out.length, 3)
  })
  it('everyday comprehensions over a thousand items run', () => {
    const items = toCel(Array.from({ length: 1000 }, (_, i) => ({ score: i, tags: ['a', 'b'] })))
    assert.equal(compileExpression('items.filter(x, x.score >= 500).map(x, x.score * 2).size()').evaluate({ items }), 500)
    assert.equal(compileExpression("items.all(x, x.tags.exists(t, t == 'a'))").evaluate({ items }), true)
  })
  it('a split string counts by its length', () => {
    const long = 'w '.repeat(5000)
    assert.throws(() => compileExpression("s.split(' ').map(a, s.split(' ').filter(b, b == a).size())").evaluate({ s: long }), { code: 'EXPRESSION_COST' })
    assert.equal(compileExpression("s.split(' ').size()").evaluate({ s: long }), 5001)
  })
  it('a step that walks a whole list inside a comprehension counts its length: `in`, list `+`, searches', () => {
    const items = list(20_000)
    for (const source of ['l.filter(x, x in l).size()', 'l.map(x, l + l).size()', "l.filter(x, string(x).contains('9')).size()"]) {
      assert.throws(() => compileExpression(source).evaluate({ l: items }), { code: 'EXPRESSION_COST' }, source)
    }
    assert.equal(shape('l.filter(x, x.status == "ok")').linear, false, 'a comparison with a literal is one step')
    assert.equal(shape('l.filter(x, x in ["a", "b"])').linear, false, 'membership in a literal list is bounded by the literal')
    assert.equal(compileExpression('l.filter(x, x in l).size()').evaluate({ l: list(500) }), 500)
  })
  it('cel.bind cannot double a list past the budget, even outside any comprehension', () => {
    // cel.bind(l1, l0 + l0, cel.bind(l2, l1 + l1, … size(l22))): each level doubles the list
    let source = 'size(l22)'
    for (let i = 22; i >= 1; i--) source = `cel.bind(l${i}, l${i - 1} + l${i - 1}, ${source})`
    const started = performance.now()
    assert.throws(() => compileExpression(source).evaluate({ l0: list(4) }), { code: 'EXPRESSION_COST' })
    assert.ok(performance.now() - started < 1000)
    assert.deepEqual(compileExpression('cel.bind(a, l + l, a)').evaluate({ l: list(2) }), [0, 1, 0, 1])
  })
  it('a run whose node field is too costly fails that node with EXPRESSION_COST and ends', async () => {
    const p = await pipeline(`
pipeline: costly
inputs: { n: { type: list, default: [] } }
plugins: [$WORK]
nodes:
  a: { type: work, when: '\${{ inputs.n.map(a, inputs.n.map(b, inputs.n.map(c, inputs.n.map(d, a + b + c + d)))).size() > 0 }}' }
`)
    const { record } = await run(p, { given: { n: Array.from({ length: 100 }, (_, i) => i) } })
    assert.equal(record.status, 'failed')
    assert.equal(record.nodes.a!.error?.code, 'EXPRESSION_COST')
  })
})
