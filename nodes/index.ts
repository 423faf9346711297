// The built-in node types. This list is the registry: it also drives the DSL's validation.
import type { NodeDefinition } from '../engine/node-def.ts'
import { fanOutNode } from './fan-out.ts'

export const builtinNodes: readonly NodeDefinition[] = [fanOutNode]

export default builtinNodes
