// Node-type registry: the built-in list plus plugin types from a pipeline's `plugins:`.
import { pathToFileURL } from 'node:url'
import { builtinNodes } from '../nodes/index.ts'
import { checkDefinition, type NodeDefinition } from './node-def.ts'
import { enableTypeScript, isTypeScriptFile, moduleExt } from './runtime.ts'

export interface RegisteredType {
  def: NodeDefinition
  /** URL of the module a worker imports to find this type. */
  module: string
  /** `builtin`, or the plugin file it came from. */
  source: string
}

const builtinModule = new URL(`../nodes/index${moduleExt}`, import.meta.url).href

/** An explicit map from DSL `type` to definition. */
export class NodeRegistry {
  readonly types = new Map<string, RegisteredType>()

  static builtin(): NodeRegistry {
    const r = new NodeRegistry()
    for (const def of builtinNodes) r.types.set(def.type, { def, module: builtinModule, source: 'builtin' })
    return r
  }

  get(type: string): RegisteredType | undefined {
    return this.types.get(type)
  }

  clone(): NodeRegistry {
    const r = new NodeRegistry()
    for (const [k, t] of this.types) r.types.set(k, t)
    return r
  }
}

/** Result of importing one plugin file. */
export type PluginLoad = { ok: true; defs: NodeDefinition[]; module: string } | { ok: false; code: 'PLUGIN_LOAD_FAILED' | 'PLUGIN_INVALID'; message: string }

/**
 * Imports a plugin module and checks its default export (a node definition, or an array of them).
 * A plain `.mjs` file that imports nothing but Node's own modules is enough.
 */
export async function loadPlugin(file: string): Promise<PluginLoad> {
  const module = pathToFileURL(file).href
  let mod: { default?: unknown }
  try {
    if (isTypeScriptFile(file)) await enableTypeScript()
    mod = (await import(module)) as { default?: unknown }
  } catch (err) {
    const e = err as { code?: string; message?: string }
    const why = e.code === 'ERR_MODULE_NOT_FOUND' ? `cannot find ${file}` : (e.message ?? String(err)).split('\n')[0]
    return { ok: false, code: 'PLUGIN_LOAD_FAILED', message: `plugin could not be loaded: ${why}` }
  }
  const exported = mod.default
  const defs = Array.isArray(exported) ? exported : [exported]
  if (defs.length === 0) return { ok: false, code: 'PLUGIN_INVALID', message: 'plugin exports an empty list of node types' }
  for (const def of defs) {
    const why = checkDefinition(def)
    if (why) return { ok: false, code: 'PLUGIN_INVALID', message: `plugin's default export is not a node definition: ${why}` }
  }
  return { ok: true, defs: defs as NodeDefinition[], module }
}
