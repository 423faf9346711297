// Prompt files (`prompts/<name>.yaml`): loading, checking, rendering `{variable}` templates, validating answers.
import { readFileSync, statSync } from 'node:fs'
import path from 'node:path'
import { fileURLToPath } from 'node:url'
import * as v from 'valibot'
import { parseYamlSource, type YamlSource } from './dsl/yaml-source.ts'
import { Ajv, type ValidateFunction } from 'ajv'
import { WeftError } from './errors.ts'

/** The Weft package's own `prompts/` folder: the last place a prompt name is looked up. */
/**
 * The package's own prompts: `prompts/` at the package's root, seen from the sources (`engine/`) or from the build
 * (`dist/engine/`, where tsc copies no YAML).
 */
export const builtinPromptDir = ['../prompts/', '../../prompts/'].map((rel) => fileURLToPath(new URL(rel, import.meta.url))).find(isDir) ?? fileURLToPath(new URL('../prompts/', import.meta.url))

const VariableSchema = v.strictObject({
  description: v.optional(v.string()),
  /** A variable with a default is optional; without one it must be supplied. */
  default: v.optional(v.unknown()),
  required: v.optional(v.boolean()),
})

const PromptFileSchema = v.strictObject({
  description: v.optional(v.string()),
  /** What the answer is for; the offline model provider writes its answer by this task. */
  task: v.optional(v.pipe(v.string(), v.regex(/^[a-z][a-z0-9_]*$/, 'a snake_case task name'))),
  system: v.optional(v.string()),
  template: v.pipe(v.string(), v.minLength(1, 'the template is empty')),
  variables: v.optional(v.record(v.pipe(v.string(), v.regex(/^[a-z_][a-z0-9_]*$/, 'a snake_case variable name')), VariableSchema), {}),
  /** A JSON Schema: the answer must be JSON of this shape. Absent: the answer is text. */
  output: v.optional(v.record(v.string(), v.unknown())),
  temperature: v.optional(v.pipe(v.number(), v.minValue(0), v.maxValue(2))),
})

interface PromptVariable {
  description?: string
  required: boolean
  default?: unknown
}

/** A prompt file, checked. */
export interface Prompt {
  name: string
  file: string
  description?: string
  task?: string
  system?: string
  template: string
  variables: Record<string, PromptVariable>
  output?: Record<string, unknown>
  temperature?: number
}

/** `{name}` placeholders; `{{` and `}}` write literal braces. */
const PLACEHOLDER = /\{\{|\}\}|\{([a-z_][a-z0-9_]*)\}/g

/** Placeholder names used by a template, in order of first use. */
export function placeholders(template: string): string[] {
  const names = new Set<string>()
  for (const m of template.matchAll(PLACEHOLDER)) if (m[1]) names.add(m[1])
  return [...names]
}

const cache = new Map<string, { mtimeMs: number; prompt: Prompt }>()
const ajv = new Ajv({ allErrors: true, strict: false })
const validators = new WeakMap<object, ValidateFunction>()

/** Where in a prompt file a problem is: `details.at` of PROMPT_INVALID and CRITIC_PROMPT_INVALID. */
interface PromptFilePosition {
  file: string
  line: number
  col: number
  /** The key's path inside the prompt file (`output.properties.score`), empty for the file as a whole. */
  path: string
}

function promptError(file: string, why: string, pos?: { line: number; col: number }, at: readonly (string | number)[] = []): WeftError {
  const where: PromptFilePosition | undefined = pos ? { file, line: pos.line, col: pos.col, path: at.join('.') } : undefined
  return new WeftError('PROMPT_INVALID', `prompt file ${file}${pos ? `:${pos.line}:${pos.col}` : ''}: ${why}`, { retryable: false, details: { file, ...(where ? { at: where } : {}) } })
}

/** Looks a prompt up by name in `dirs` (first match wins), reads and checks it. Throws PROMPT_NOT_FOUND / PROMPT_INVALID. */
export function loadPrompt(name: string, dirs: readonly string[]): Prompt {
  if (!/^[A-Za-z0-9][\w-]*$/.test(name)) throw new WeftError('PROMPT_NOT_FOUND', `"${name}" is not a prompt name (letters, digits, \`_\` and \`-\`; no paths)`, { retryable: false })
  for (const dir of dirs) {
    const file = path.join(dir, `${name}.yaml`)
    let mtimeMs: number
    try {
      mtimeMs = statSync(file).mtimeMs
    } catch {
      continue
    }
    const hit = cache.get(file)
    if (hit && hit.mtimeMs === mtimeMs) return hit.prompt
    const prompt = readPrompt(name, file)
    cache.set(file, { mtimeMs, prompt })
    return prompt
  }
  throw new WeftError('PROMPT_NOT_FOUND', `no prompt "${name}" (looked for ${name}.yaml in ${dirs.join(', ') || 'no folder'})`, { retryable: false, details: { dirs } })
}

function readPrompt(name: string, file: string): Prompt {
  let source: YamlSource
  try {
    source = parseYamlSource(readFileSync(file, 'utf8'), file)
  } catch (err) {
    throw promptError(file, (err as Error).message.split('\n')[0]!)
  }
  // a problem is reported where it is in the prompt file: line and column, and the key's path there
  const fail = (why: string, at: readonly (string | number)[] = [], which: 'key' | 'value' = 'value', offset?: { text: string; at: number }) => {
    let pos = source.locate(at, which)
    const range = offset ? source.range(at) : undefined
    if (range && offset) {
      const i = source.text.slice(range[0], range[1]).indexOf(offset.text)
      if (i >= 0) pos = source.position(range[0] + i + offset.at)
    }
    return promptError(file, why, pos, at)
  }
  const syntax = source.diagnostics.find((d) => d.severity === 'error')
  if (syntax) throw promptError(file, syntax.message, { line: syntax.line, col: syntax.col })
  const res = v.safeParse(PromptFileSchema, source.value)
  if (!res.success) {
    const first = res.issues[0]
    const at = (first.path ?? []).map((seg) => seg.key as string | number)
    const unknownKey = first.type === 'strict_object' && first.input !== undefined
    throw fail(res.issues.map((i) => `${v.getDotPath(i) ?? '(top level)'}: ${i.message}`).join('; '), at, unknownKey ? 'key' : 'value')
  }
  const doc = res.output
  const variables: Record<string, PromptVariable> = {}
  for (const [k, spec] of Object.entries(doc.variables)) {
    const required = spec.required ?? spec.default === undefined
    variables[k] = { required, ...(spec.description !== undefined ? { description: spec.description } : {}), ...(spec.default !== undefined ? { default: spec.default } : {}) }
  }
  const used = [...placeholders(doc.template), ...placeholders(doc.system ?? '')]
  const undeclared = used.filter((u) => !Object.hasOwn(variables, u))
  if (undeclared.length) {
    const inTemplate = placeholders(doc.template).includes(undeclared[0]!)
    throw fail(
      `the template uses ${undeclared.map((u) => `{${u}}`).join(', ')} but \`variables:\` does not declare ${undeclared.length > 1 ? 'them' : 'it'}`,
      [inTemplate ? 'template' : 'system'],
      'value',
      { text: `{${undeclared[0]}}`, at: 0 },
    )
  }
  if (doc.output) {
    try {
      ajv.compile(doc.output)
    } catch (err) {
      throw fail(`output is not a valid JSON Schema: ${(err as Error).message}`, ['output'])
    }
  }
  const prompt: Prompt = { name, file, template: doc.template, variables }
  if (doc.description !== undefined) prompt.description = doc.description
  if (doc.task !== undefined) prompt.task = doc.task
  if (doc.system !== undefined) prompt.system = doc.system
  if (doc.output !== undefined) prompt.output = doc.output
  if (doc.temperature !== undefined) prompt.temperature = doc.temperature
  return prompt
}

/** The variable names a prompt declares; undefined when it cannot be loaded (its own check reports why) or is not a literal name. */
export function promptVariables(name: unknown, dirs: readonly string[]): string[] | undefined {
  if (typeof name !== 'string') return undefined
  try {
    return Object.keys(loadPrompt(name, dirs).variables)
  } catch {
    return undefined
  }
}

/** Required variables of `prompt` that `supplied` lacks. */
function missingVariables(prompt: Prompt, supplied: Iterable<string>): string[] {
  const have = new Set(supplied)
  return Object.entries(prompt.variables)
    .filter(([k, s]) => s.required && !have.has(k))
    .map(([k]) => k)
}

/** Variables with defaults applied; throws PROMPT_VARIABLE_MISSING for a required one that is absent. */
function withDefaults(prompt: Prompt, vars: Record<string, unknown>): Record<string, unknown> {
  const missing = missingVariables(
    prompt,
    Object.keys(vars).filter((k) => vars[k] !== undefined),
  )
  if (missing.length) throw new WeftError('PROMPT_VARIABLE_MISSING', `prompt "${prompt.name}" needs ${missing.map((m) => `{${m}}`).join(', ')}`, { retryable: false, details: { missing } })
  const out: Record<string, unknown> = {}
  for (const [k, s] of Object.entries(prompt.variables)) out[k] = vars[k] ?? s.default
  return out
}

/** How a variable's value reads inside a prompt: text as is, anything else as indented JSON. */
function show(value: unknown): string {
  if (typeof value === 'string') return value
  if (value === null || value === undefined) return ''
  return JSON.stringify(value, null, 2)
}

function fill(template: string, vars: Record<string, unknown>): string {
  return template.replace(PLACEHOLDER, (m, name: string | undefined) => (m === '{{' ? '{' : m === '}}' ? '}' : show(vars[name!])))
}

/** Renders the prompt's system and user text with `vars` (defaults applied first). */
export function renderPrompt(prompt: Prompt, vars: Record<string, unknown>): { system?: string; prompt: string; vars: Record<string, unknown> } {
  const full = withDefaults(prompt, vars)
  const out: { system?: string; prompt: string; vars: Record<string, unknown> } = { prompt: fill(prompt.template, full), vars: full }
  if (prompt.system !== undefined) out.system = fill(prompt.system, full)
  return out
}

/** Checks an answer against the prompt's output schema; returns readable problems (empty when it conforms). */
export function checkAnswer(prompt: Prompt, value: unknown): string[] {
  if (!prompt.output) return []
  let validate = validators.get(prompt.output)
  if (!validate) {
    validate = ajv.compile(prompt.output)
    validators.set(prompt.output, validate)
  }
  if (validate(value)) return []
  return (validate.errors ?? []).map((e) => `${e.instancePath || '(the answer)'} ${e.message ?? 'is invalid'}`.trim())
}

/**
 * Where a pipeline's prompt names are looked up: its `prompts:` folder when it names one, else every
 * `prompts/` folder from the pipeline's own folder up to the root, then the package's built-in prompts.
 */
export function promptDirsFor(pipelineFile: string, declared?: string): string[] {
  const base = path.dirname(path.resolve(pipelineFile))
  const dirs: string[] = []
  if (declared !== undefined) dirs.push(path.resolve(base, declared))
  else {
    for (let d = base; ; d = path.dirname(d)) {
      const candidate = path.join(d, 'prompts')
      if (isDir(candidate)) dirs.push(candidate)
      if (path.dirname(d) === d) break
    }
  }
  if (!dirs.includes(path.resolve(builtinPromptDir))) dirs.push(path.resolve(builtinPromptDir))
  return dirs
}

function isDir(p: string): boolean {
  try {
    return statSync(p).isDirectory()
  } catch {
    return false
  }
}

/** A problem with how a node uses a prompt, at a path below the node (for `weft validate`); `at` when it is in the prompt file. */
export interface PromptUseProblem {
  path: Array<string | number>
  code: string
  message: string
  at?: PromptFilePosition
}

/** The position of a key in a prompt file (its nearest existing ancestor when missing). */
function positionIn(file: string, at: readonly string[]): PromptFilePosition | undefined {
  try {
    const pos = parseYamlSource(readFileSync(file, 'utf8'), file).locate(at)
    return { file, line: pos.line, col: pos.col, path: at.join('.') }
  } catch {
    return undefined
  }
}

/**
 * A prompt used as a critic must declare the answer the critic reads: an `output:` schema whose `score` is a number
 * (0–100) and whose `feedback` is text, both required. Without it the run would fail at the first critique
 * (CRITIC_ANSWER_INVALID) after the writer had been paid; this says so before anything runs.
 */
export function checkCriticOutput(field: string, name: unknown, dirs: readonly string[]): PromptUseProblem[] {
  if (typeof name !== 'string' || name.includes('${{')) return []
  let prompt: Prompt
  try {
    prompt = loadPrompt(name, dirs)
  } catch {
    return [] // checkPromptUse reports why it cannot be loaded
  }
  const out = prompt.output as { type?: unknown; properties?: Record<string, { type?: unknown }>; required?: unknown } | undefined
  const example = 'output: { type: object, required: [score, feedback], properties: { score: { type: integer, minimum: 0, maximum: 100 }, feedback: { type: string } } }'
  if (!out) {
    const at = positionIn(prompt.file, [])
    return [
      {
        path: [field],
        code: 'CRITIC_PROMPT_INVALID',
        message: `critic prompt "${name}" declares no \`output:\` schema; a critic answers JSON with a numeric score and a feedback text, e.g. ${example}`,
        ...(at ? { at } : {}),
      },
    ]
  }
  const problems: string[] = []
  const types = (t: unknown) => (Array.isArray(t) ? t : [t])
  const required = Array.isArray(out.required) ? out.required : []
  const score = out.properties?.score
  const feedback = out.properties?.feedback
  if (!score || !types(score.type).some((t) => t === 'number' || t === 'integer')) problems.push('`score` must be a number (type: integer or number)')
  if (!feedback || !types(feedback.type).includes('string')) problems.push('`feedback` must be a text (type: string)')
  const notRequired = ['score', 'feedback'].filter((k) => !required.includes(k))
  if (notRequired.length) problems.push(`${notRequired.map((k) => `\`${k}\``).join(' and ')} must be listed under \`required:\``)
  if (!problems.length) return []
  // pointed at the first property at fault, else at the schema
  const key = !score || !types(score.type).some((t) => t === 'number' || t === 'integer') ? 'score' : !feedback || !types(feedback.type).includes('string') ? 'feedback' : undefined
  const at = positionIn(prompt.file, key && out.properties?.[key] ? ['output', 'properties', key] : ['output'])
  return [
    {
      path: [field],
      code: 'CRITIC_PROMPT_INVALID',
      message: `critic prompt "${name}" (${path.basename(prompt.file)}): its \`output:\` schema does not give what a critic needs: ${problems.join('; ')}`,
      ...(at ? { at } : {}),
    },
  ]
}

/**
 * Static check of a node field naming a prompt: the file exists and is valid, every required variable is
 * supplied by `vars` (a literal mapping; values may be expressions) or by the node itself (`provided`),
 * and no supplied variable is unknown to the prompt (or to the prompts it shares `vars` with: `sharedWith`).
 */
export function checkPromptUse(field: string, name: unknown, vars: unknown, dirs: readonly string[], provided: readonly string[] = [], sharedWith: readonly string[] = []): PromptUseProblem[] {
  if (typeof name !== 'string' || name.includes('${{')) return []
  let prompt: Prompt
  try {
    prompt = loadPrompt(name, dirs)
  } catch (err) {
    const e = err as WeftError
    const at = (e.details as { at?: PromptFilePosition } | undefined)?.at
    return [{ path: [field], code: e.code ?? 'PROMPT_INVALID', message: e.message, ...(at ? { at } : {}) }]
  }
  // vars given as one expression: its keys are known only at run time
  if (vars !== undefined && (typeof vars !== 'object' || vars === null || Array.isArray(vars))) return []
  const supplied = Object.keys((vars as Record<string, unknown> | undefined) ?? {})
  const problems: PromptUseProblem[] = []
  const missing = missingVariables(prompt, [...supplied, ...provided])
  if (missing.length) {
    problems.push({
      path: vars === undefined ? [field] : ['vars'],
      code: 'PROMPT_VARIABLE_MISSING',
      message: `prompt "${name}" needs ${missing.map((m) => `{${m}}`).join(', ')}; add ${missing.length > 1 ? 'them' : 'it'} under \`vars:\``,
    })
  }
  for (const k of supplied) {
    if (!Object.hasOwn(prompt.variables, k) && !provided.includes(k) && !sharedWith.includes(k)) {
      const known = Object.keys(prompt.variables)
      problems.push({ path: ['vars', k], code: 'PROMPT_VARIABLE_UNKNOWN', message: `prompt "${name}" has no variable {${k}}; it has ${known.map((x) => `{${x}}`).join(', ') || 'none'}` })
    }
  }
  return problems
}
