// Cycles among a pipeline's nodes: each named in order, found without recursion however long the graph.
import { describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import path from 'node:path'
import { findCycles } from '../../../engine/dsl/cycles.ts'
import { loadPipeline } from '../../../engine/dsl/load.ts'
import { fixtures } from '../../helpers.ts'

const graph = (edges: Record<string, string[]>) => new Map(Object.entries(edges).map(([id, deps]) => [id, { deps }]))

describe('findCycles', () => {
  it('names one cycle per group of nodes that reach each other, in file order, and self-loops', () => {
    const cycles = findCycles(graph({ a: ['c'], b: ['a'], c: ['b'], d: [], e: ['e'], f: ['g', 'd'], g: ['f'], h: ['f'] }))
    assert.deepEqual(cycles.map((c) => [...c].sort().join(' ')).sort(), ['a b c', 'e', 'f g'])
    const abc = cycles.find((c) => c.includes('a'))!
    assert.deepEqual(abc, ['a', 'b', 'c'], 'from the first node in file order, along its dependents')
  })

  it('finds none in a graph without one', () => {
    assert.deepEqual(findCycles(graph({ a: [], b: ['a'], c: ['a', 'b'] })), [])
  })

  it('handles a chain and a cycle of 20,000 nodes (no call stack to overflow)', () => {
    const n = 20_000
    const chain = new Map(Array.from({ length: n }, (_, i) => [`n${i}`, { deps: i ? [`n${i - 1}`] : [] }]))
    assert.deepEqual(findCycles(chain), [])
    chain.set('n0', { deps: [`n${n - 1}`] })
    const [ring, ...more] = findCycles(chain)
    assert.equal(more.length, 0)
    assert.equal(ring!.length, n)
    assert.deepEqual(ring!.slice(0, 3), ['n0', 'n1', 'n2'])
  })
})

describe('weft validate on very long pipelines', () => {
  it('validates an 8,500-node chain, and names an 8,500-node cycle in a line of bounded length', async () => {
    const dir = mkdtempSync(path.join(tmpdir(), 'weft-long-'))
    try {
      const plugin = path.join(fixtures, 'plugins', 'work.mjs')
      const write = (name: string, closed: boolean) => {
        const lines = ['pipeline: long', `plugins: [${JSON.stringify(plugin)}]`, 'nodes:']
        for (let i = 0; i < 8500; i++) lines.push(`  n${i}: { type: work${i ? `, needs: [n${i - 1}]` : closed ? ', needs: [n8499]' : ''} }`)
        writeFileSync(path.join(dir, name), lines.join('\n') + '\n')
        return path.join(dir, name)
      }
      const ok = await loadPipeline(write('chain.yaml', false))
      assert.deepEqual(ok.diagnostics, [])
      assert.equal(ok.pipeline?.nodes.size, 8500)
      const bad = await loadPipeline(write('ring.yaml', true))
      assert.deepEqual(
        bad.diagnostics.map((d) => [d.code, d.line, d.path]),
        [['CYCLE', 4, 'nodes.n0.needs[0]']],
      )
      assert.ok(bad.diagnostics[0]!.message.length < 200, bad.diagnostics[0]!.message)
      assert.match(bad.diagnostics[0]!.message, /n0 → n1 → .* → n8499 → n0 \(8500 nodes\)/)
    } finally {
      rmSync(dir, { recursive: true, force: true })
    }
  })
})
