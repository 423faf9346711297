// What `weft validate` can learn from a node type's schemas: field names, expected kinds, CEL types.
import type * as v from 'valibot'
import type { SchemaLike } from '../node-def.ts'

/** The coarse kind a schema expects, for static checks against expression types. */
export type Kind = 'string' | 'number' | 'boolean' | 'array' | 'object' | 'unknown'

interface ValibotNode {
  kind?: string
  type?: string
  entries?: Record<string, ValibotNode>
  wrapped?: ValibotNode
  item?: ValibotNode
  options?: ValibotNode[]
  pipe?: ValibotNode[]
  '~standard'?: { vendor?: string }
}

function asValibot(schema: unknown): ValibotNode | undefined {
  const s = schema as ValibotNode | undefined
  return s && s.kind === 'schema' && s['~standard']?.vendor === 'valibot' ? s : undefined
}

function unwrap(s: ValibotNode): ValibotNode {
  let cur = s
  while (cur.wrapped && ['optional', 'nullish', 'nullable', 'exact_optional', 'undefinedable', 'non_optional', 'non_nullable', 'non_nullish'].includes(cur.type ?? '')) cur = cur.wrapped
  return cur
}

/** Fields of an object schema: name → { schema, optional }, and whether other keys are allowed. */
export function objectFields(schema: SchemaLike | undefined): { fields: Map<string, { schema: v.GenericSchema; optional: boolean }>; open: boolean } | undefined {
  const s = asValibot(schema)
  if (!s) return undefined
  const u = unwrap(s)
  if (!u.entries || !['object', 'strict_object', 'loose_object', 'object_with_rest'].includes(u.type ?? '')) return undefined
  const fields = new Map<string, { schema: v.GenericSchema; optional: boolean }>()
  for (const [name, entry] of Object.entries(u.entries)) {
    fields.set(name, { schema: entry as unknown as v.GenericSchema, optional: ['optional', 'nullish', 'exact_optional', 'undefinedable'].includes(entry.type ?? '') })
  }
  return { fields, open: u.type === 'loose_object' || u.type === 'object_with_rest' }
}

/** The kind a schema expects (unions of several kinds are `unknown`). */
export function schemaKind(schema: unknown): Kind {
  const s = asValibot(schema)
  if (!s) return 'unknown'
  const u = unwrap(s)
  switch (u.type) {
    case 'string':
    case 'picklist':
      return 'string'
    case 'number':
      return 'number'
    case 'boolean':
      return 'boolean'
    case 'array':
    case 'tuple':
      return 'array'
    case 'object':
    case 'strict_object':
    case 'loose_object':
    case 'object_with_rest':
    case 'record':
      return 'object'
    default:
      return 'unknown'
  }
}

/** The kind of a CEL type name as reported by the type checker (`list<string>` → array). */
export function celKind(celType: string): Kind {
  if (celType === 'string') return 'string'
  if (celType === 'int' || celType === 'uint' || celType === 'double') return 'number'
  if (celType === 'bool') return 'boolean'
  if (celType.startsWith('list')) return 'array'
  if (celType.startsWith('map')) return 'object'
  return 'unknown'
}

/** CEL schema (for the type checker) of a valibot schema's output. Numbers are `double` (ints mix with them). */
export function celSchema(schema: unknown, depth = 0): unknown {
  const s = asValibot(schema)
  if (!s || depth > 8) return 'dyn'
  const u = unwrap(s)
  // optional/nullable values may be null at run time: leave them dynamic
  if (u !== s) return 'dyn'
  switch (u.type) {
    case 'string':
    case 'picklist':
      return 'string'
    case 'boolean':
      return 'bool'
    case 'number':
      return 'double'
    case 'array':
      return 'list'
    case 'object':
    case 'strict_object': {
      const out: Record<string, unknown> = {}
      for (const [k, e] of Object.entries(u.entries ?? {})) out[k] = celSchema(e, depth + 1)
      return out
    }
    case 'loose_object':
    case 'object_with_rest':
    case 'record':
      return 'map'
    default:
      return 'dyn'
  }
}

/**
 * CEL schema inferred from a plain value (config defaults). A fraction is a `double`; a whole number is `dyn`:
 * it arrives as an int and `--set` may make it 2.5, so either must fit where the expression puts it (`c ? n : 1`).
 */
export function celSchemaOfValue(value: unknown, depth = 0): unknown {
  if (typeof value === 'string') return 'string'
  if (typeof value === 'number') return Number.isInteger(value) ? 'dyn' : 'double'
  if (typeof value === 'boolean') return 'bool'
  if (Array.isArray(value)) return 'list'
  if (value && typeof value === 'object' && depth < 8) {
    const entries = Object.entries(value)
    if (entries.length === 0) return 'map'
    const out: Record<string, unknown> = {}
    for (const [k, v2] of entries) out[k] = celSchemaOfValue(v2, depth + 1)
    return out
  }
  return 'dyn'
}
