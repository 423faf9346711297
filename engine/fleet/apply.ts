// One event and every control-node replay it leads to, as one step's worth of state, writes and actions.
import type { StoreWrite } from '../ports.ts'
import type { FleetState } from './state.ts'
import { advance, type StepAction, type StepEnv, type StepEvent } from './step.ts'
import { replayControl } from './replay.ts'

export interface Applied {
  state: FleetState
  writes: StoreWrite[]
  changed: Set<string>
  /** What the driver carries out: dispatches, timers, automated decisions, the end. */
  actions: StepAction[]
}

/**
 * Applies `event`, then replays each control node the step names and applies what the replay found, until none is left.
 * The state given is left as it was, unless `owned` (the caller holds the only copy): then it is changed in place.
 */
export async function applyEvent(state: FleetState, event: StepEvent, env: StepEnv, opts: { owned?: boolean } = {}): Promise<Applied> {
  // one copy for the whole chain of steps, not one per step
  const out: Applied = { state: opts.owned ? state : structuredClone(state), writes: [], changed: new Set(), actions: [] }
  const queue: StepEvent[] = [event]
  while (queue.length) {
    const res = advance(out.state, queue.shift()!, env)
    out.state = res.state
    out.writes.push(...res.writes)
    for (const k of res.changed) out.changed.add(k)
    // a node's replay reads the state as this step left it: asked for twice by one step, it is replayed once
    const replayed = new Set<string>()
    for (const a of res.actions) {
      // a replay that finds nothing new asks for no other: the chain ends
      if (a.type !== 'replay') out.actions.push(a)
      else if (!replayed.has(a.node)) {
        replayed.add(a.node)
        queue.push({ type: 'replayed', node: a.node, result: await replayControl(out.state, env.pipeline, a.node) })
      }
    }
  }
  return out
}
