// Crash-test node type: logs each execution's start and its end (before the engine records it) around a
// short sleep, with the node id and an id unique to the execution; `end` also has the time.
import { appendFileSync } from 'node:fs'
import { randomUUID } from 'node:crypto'
import { setTimeout as delay } from 'node:timers/promises'

export default [
  {
    type: 'logged',
    async execute({ config, node, signal }) {
      const exec = randomUUID()
      appendFileSync(config.log, 'start ' + node.id + ' ' + exec + '\n')
      await delay(config.ms, undefined, { signal })
      appendFileSync(config.log, 'end ' + node.id + ' ' + exec + ' ' + (performance.timeOrigin + performance.now()).toFixed(2) + '\n')
      return { value: config.value }
    },
  },
]
