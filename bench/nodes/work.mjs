// Benchmark node types, the same work the peer benchmarks do: return a small object, or sleep first.
import { setTimeout as delay } from 'node:timers/promises'

export default [
  { type: 'bench_noop', execute: ({ node, config }) => ({ id: node.id, nIn: config.n_in }) },
  {
    type: 'bench_sleep',
    async execute({ node, config, signal }) {
      await delay(config.ms, undefined, { signal })
      return { id: node.id, nIn: config.n_in }
    },
  },
]
