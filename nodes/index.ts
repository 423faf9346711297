// The built-in node types. This list is the registry: it also drives the DSL's validation.
import type { NodeDefinition } from '../engine/node-def.ts'
import { agentNode } from './agent.ts'
import { approvalNode } from './approval.ts'
import { criticLoopNode } from './critic-loop.ts'
import { fanOutNode } from './fan-out.ts'
import { renderNode } from './render.ts'

export const builtinNodes: readonly NodeDefinition[] = [agentNode, criticLoopNode, approvalNode, fanOutNode, renderNode]

/**
 * Worker threads load node types by module, taking its default export: here the built-in set.
 * @alias builtinNodes
 */
export default builtinNodes
