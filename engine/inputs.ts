// Run inputs and config overrides: checked against the pipeline before a run starts, every problem listed.
import { parse as parseYaml } from 'yaml'
import type { Diagnostic } from './errors.ts'
import type { Pipeline } from './dsl/pipeline.ts'
import { checkInputValue, describe, isMap } from './dsl/load.ts'
import { didYouMean } from './dsl/reporter.ts'

function problem(code: string, path: string, message: string, file: string): Diagnostic {
  return { code, message, file, line: 0, col: 0, path, severity: 'error' }
}

/**
 * Applies defaults and checks types, enums and required inputs. `given` values that arrived as text
 * (`--input k=v`) are read as YAML for non-string inputs, so `count=3` and `tags=[a, b]` work.
 */
export function resolveRunInputs(
  pipeline: Pipeline,
  given: Record<string, unknown>,
  opts: { fromText?: ReadonlySet<string>; origin?: string } = {},
): { inputs: Record<string, unknown>; diagnostics: Diagnostic[] } {
  const origin = opts.origin ?? 'inputs'
  const diagnostics: Diagnostic[] = []
  const inputs: Record<string, unknown> = {}
  for (const name of Object.keys(given)) {
    if (!Object.hasOwn(pipeline.inputs, name))
      diagnostics.push(
        problem(
          'INPUT_UNKNOWN',
          `inputs.${name}`,
          `unknown input "${name}"${didYouMean(name, Object.keys(pipeline.inputs))}; this pipeline takes ${Object.keys(pipeline.inputs).join(', ') || 'no inputs'}`,
          origin,
        ),
      )
  }
  for (const [name, spec] of Object.entries(pipeline.inputs)) {
    let value = given[name]
    if (value !== undefined && opts.fromText?.has(name) && spec.type !== 'string' && typeof value === 'string') value = readText(value)
    if (value === undefined) value = spec.default
    if (value === undefined) {
      if (spec.required) diagnostics.push(problem('INPUT_MISSING', `inputs.${name}`, `required input "${name}" is missing (${spec.type}${spec.description ? `: ${spec.description}` : ''})`, origin))
      else inputs[name] = null
      continue
    }
    const why = checkInputValue(spec, value)
    if (why) diagnostics.push(problem('INPUT_INVALID', `inputs.${name}`, `input "${name}": ${why}`, origin))
    else if (spec.required && spec.type === 'string' && (value as string).trim() === '') diagnostics.push(problem('INPUT_INVALID', `inputs.${name}`, `input "${name}" must not be empty`, origin))
    else inputs[name] = value
  }
  return { inputs, diagnostics }
}

/**
 * Applies `--set path=value` overrides to the config defaults (or to `base`, a recorded run's config). The path must exist (a leading `config.`
 * is optional); the value is read as a YAML scalar and must keep the default's type.
 */
export function resolveConfig(
  pipeline: Pipeline,
  sets: ReadonlyArray<{ path: string; value: string | unknown }>,
  base: Record<string, unknown> = pipeline.config,
): { config: Record<string, unknown>; diagnostics: Diagnostic[] } {
  const config = structuredClone(base)
  const diagnostics: Diagnostic[] = []
  for (const { path, value } of sets) {
    let segs = path.split('.').filter(Boolean)
    if (segs[0] === 'config' && !Object.hasOwn(config, 'config')) segs = segs.slice(1)
    if (segs.some((seg) => seg === '__proto__' || seg === 'constructor' || seg === 'prototype')) {
      diagnostics.push(problem('CONFIG_UNKNOWN', path, `"${path}" names an object's internals, not a config key`, '--set'))
      continue
    }
    if (segs.length === 0) {
      diagnostics.push(problem('CONFIG_UNKNOWN', path, 'expected a config path such as `parallel.max_concurrent`', '--set'))
      continue
    }
    let parent: Record<string, unknown> = config
    let ok = true
    for (const [i, seg] of segs.slice(0, -1).entries()) {
      const next = Object.hasOwn(parent, seg) ? parent[seg] : undefined
      if (!isMap(next)) {
        const at = segs.slice(0, i + 1).join('.')
        diagnostics.push(
          problem(
            'CONFIG_UNKNOWN',
            `config.${segs.join('.')}`,
            next === undefined ? `unknown config key "${at}"${didYouMean(seg, Object.keys(parent))}` : `config "${at}" is ${describe(next)}, not a mapping`,
            '--set',
          ),
        )
        ok = false
        break
      }
      parent = next
    }
    if (!ok) continue
    const last = segs[segs.length - 1]!
    const current = Object.hasOwn(parent, last) ? parent[last] : undefined
    const parsed = typeof value === 'string' ? readText(value) : value
    const emptyMap = isMap(parent) && Object.keys(parent).length === 0
    if (current === undefined && !emptyMap) {
      diagnostics.push(problem('CONFIG_UNKNOWN', `config.${segs.join('.')}`, `unknown config key "${segs.join('.')}"${didYouMean(last, Object.keys(parent))}`, '--set'))
      continue
    }
    const coerced = current === undefined || current === null ? parsed : coerce(current, parsed, value)
    if (coerced === undefined) {
      diagnostics.push(problem('CONFIG_INVALID', `config.${segs.join('.')}`, `"${segs.join('.')}" expects ${kind(current)}, got ${describe(parsed)}`, '--set'))
      continue
    }
    parent[last] = coerced
  }
  return { config, diagnostics }
}

function readText(text: string): unknown {
  try {
    return parseYaml(text, { maxAliasCount: 0 })
  } catch {
    return text
  }
}

function coerce(current: unknown, parsed: unknown, raw: unknown): unknown {
  if (typeof current === 'string') return typeof parsed === 'string' ? parsed : typeof raw === 'string' ? raw : undefined
  if (typeof current === 'number') return typeof parsed === 'number' ? parsed : undefined
  if (typeof current === 'boolean') return typeof parsed === 'boolean' ? parsed : undefined
  if (Array.isArray(current)) return Array.isArray(parsed) ? parsed : undefined
  if (isMap(current)) return isMap(parsed) ? parsed : undefined
  return parsed
}

function kind(v: unknown): string {
  return Array.isArray(v) ? 'a list' : isMap(v) ? 'a mapping' : `a ${typeof v}`
}
