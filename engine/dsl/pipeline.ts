// The validated, compiled form of a pipeline file, as the scheduler consumes it.
import type { NodeDefinition } from '../node-def.ts'
import type { Template } from '../expressions.ts'

/** A run input as declared under `inputs:`. */
export interface InputSpec {
  type: 'string' | 'number' | 'integer' | 'boolean' | 'list' | 'object'
  required: boolean
  default?: unknown
  enum?: unknown[]
  description?: string
  minimum?: number
  maximum?: number
  max_length?: number
}

/** When a node may start, given how its dependencies ended (after Airflow's trigger rules). */
export type Trigger = 'all_succeeded' | 'none_failed' | 'all_done'

export interface RetrySpec {
  /** Total attempts, including the first. */
  attempts: number
  /** Delay before the second attempt; doubles (× factor) each time, capped by maxBackoffMs. */
  backoffMs: number
  factor: number
  maxBackoffMs: number
  /** Randomise each delay between 50% and 100% of its value, so retries of many nodes spread out. */
  jitter: boolean
}

/** A node after validation. `config` keeps the raw field values; `template` holds them compiled. */
export interface NodeSpec {
  id: string
  type: string
  def: NodeDefinition
  /** URL of the module defining the type (workers import it). */
  module: string
  /** Dependencies: `needs` plus every node referenced by an expression. */
  deps: string[]
  needs: string[]
  when?: Template
  timeoutMs?: number
  /** `timeout:` written as an expression (e.g. `${{ config.timeouts.story }}`), evaluated when the node starts. */
  timeout?: Template
  retry: RetrySpec
  continueOnError: boolean
  /** `cache:` — false: never cached; true: cached whatever the providers; absent: the run's rule (engine/cache/policy.ts). */
  cache?: boolean
  trigger: Trigger
  pool?: string
  stage?: string
  description?: string
  /** Type-specific fields, compiled (deferred fields are kept literal for the node to resolve). */
  template: Template
  /** Set for control nodes with a child template (`fan_out.node`). */
  child?: ChildNodeSpec
  /** Set for control nodes given a small graph of steps per item instead (`fan_out.steps`). */
  steps?: ChildGraphSpec
}

/** The child node of a control node: its type, module and compiled fields (evaluated with `item`/`index`). */
export interface ChildNodeSpec {
  type: string
  def: NodeDefinition
  module: string
  template: Template
  timeoutMs?: number
  retry: RetrySpec
  cache?: boolean
}

/** One step of a child graph: a worker node with its dependencies among the steps. */
export interface ChildStepSpec extends ChildNodeSpec {
  id: string
  /** `needs` plus every step referenced as `steps.<id>` (filled in while references are checked). */
  deps: string[]
  when?: Template
}

/** A small graph run per item (`fan_out.steps`): steps in file order, and what the item's result is. */
export interface ChildGraphSpec {
  steps: Map<string, ChildStepSpec>
  /** `result:` (evaluated with `steps` in scope); without it, the result maps each step id to its output. */
  result?: Template
}

export interface Pipeline {
  file: string
  name: string
  version: string | number
  description?: string
  inputs: Record<string, InputSpec>
  /** Config defaults; a run overrides parts with `--set`. */
  config: Record<string, unknown>
  /** Global cap on nodes running at once (undefined: no cap). */
  concurrency?: number
  /** Named caps shared by the nodes that name them in `pool:`. */
  pools: Record<string, number>
  /** Pools whose tasks a fleet sends to a queue of their own (pool → queue); the others go to `default`. */
  queues?: Record<string, string>
  plugins: string[]
  /** Folders where prompt names are looked up, in order (see engine/prompts.ts). */
  promptDirs: string[]
  /** In file order. */
  nodes: Map<string, NodeSpec>
  outputs: Template
}

export const defaultRetry: RetrySpec = { attempts: 1, backoffMs: 1000, factor: 2, maxBackoffMs: 60_000, jitter: true }
