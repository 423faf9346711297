import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import { layoutGraph, withoutImplied, type GraphNode, type PlacedNode } from '../../console/src/dag-layout.ts'

const chain: GraphNode[] = [
  { id: 'story', type: 'critic_loop', needs: [] },
  { id: 'approve_story', type: 'approval', needs: ['story'] },
  { id: 'references', type: 'fan_out', needs: ['approve_story'] },
  { id: 'scenes', type: 'critic_loop', needs: ['approve_story'] },
  { id: 'final', type: 'render', needs: ['references', 'scenes'] },
]

const at = (nodes: PlacedNode[], id: string) => nodes.find((n) => n.id === id)!
const overlap = (a: PlacedNode, b: PlacedNode) => a.x < b.x + b.width && b.x < a.x + a.width && a.y < b.y + b.height && b.y < a.y + a.height

describe('console DAG layout', () => {
  it('places every node after the nodes it needs (left to right), without overlaps, inside the canvas', () => {
    const l = layoutGraph(chain)
    assert.equal(l.nodes.length, 5)
    for (const n of chain) for (const need of n.needs) assert.ok(at(l.nodes, need).x + at(l.nodes, need).width <= at(l.nodes, n.id).x, `${need} before ${n.id}`)
    for (const a of l.nodes) {
      for (const b of l.nodes) if (a !== b) assert.ok(!overlap(a, b), `${a.id} overlaps ${b.id}`)
      assert.ok(a.x >= 0 && a.y >= 0 && a.x + a.width <= l.width && a.y + a.height <= l.height, `${a.id} inside`)
    }
    // the two branches after the gate share a rank, one above the other
    assert.equal(at(l.nodes, 'references').x, at(l.nodes, 'scenes').x)
    assert.notEqual(at(l.nodes, 'references').y, at(l.nodes, 'scenes').y)
  })

  it('draws one edge per dependency, from the needed node to the one needing it', () => {
    const l = layoutGraph(chain)
    assert.deepEqual(l.edges.map((e) => `${e.from}>${e.to}`).sort(), ['approve_story>references', 'approve_story>scenes', 'references>final', 'scenes>final', 'story>approve_story'])
    for (const e of l.edges) {
      assert.ok(e.points.length >= 2)
      assert.ok(e.points[0]!.x < e.points.at(-1)!.x, `${e.from}>${e.to} runs left to right`)
    }
  })

  it('runs top to bottom when asked (narrow screens)', () => {
    const l = layoutGraph(chain, { direction: 'TB' })
    assert.ok(at(l.nodes, 'story').y + at(l.nodes, 'story').height <= at(l.nodes, 'approve_story').y)
    assert.ok(l.height > l.width)
  })

  it('does not depend on the order of the input, and leaves out needs it cannot draw', () => {
    const a = layoutGraph(chain)
    const b = layoutGraph([...chain].reverse())
    assert.deepEqual(b, a)
    const partial = layoutGraph([
      { id: 'x', type: 'agent', needs: ['gone', 'x'] },
      { id: 'y', type: 'agent', needs: ['x', 'x'] },
    ])
    assert.deepEqual(
      partial.edges.map((e) => `${e.from}>${e.to}`),
      ['x>y'],
    )
  })
})

describe('console DAG edges', () => {
  it('leaves out an edge another path already implies, unless every edge is asked for', () => {
    assert.deepEqual(
      withoutImplied([
        ['a', 'b'],
        ['b', 'c'],
        ['a', 'c'],
        ['c', 'd'],
        ['a', 'd'],
        ['x', 'd'],
      ]),
      [
        ['a', 'b'],
        ['b', 'c'],
        ['c', 'd'],
        ['x', 'd'],
      ],
    )
    const nodes: GraphNode[] = [
      { id: 'a', type: 't', needs: [] },
      { id: 'b', type: 't', needs: ['a'] },
      { id: 'c', type: 't', needs: ['a', 'b'] },
    ]
    assert.deepEqual(
      layoutGraph(nodes).edges.map((e) => `${e.from}>${e.to}`),
      ['a>b', 'b>c'],
    )
    assert.deepEqual(
      layoutGraph(nodes, { allEdges: true })
        .edges.map((e) => `${e.from}>${e.to}`)
        .sort(),
      ['a>b', 'a>c', 'b>c'],
    )
  })
})
