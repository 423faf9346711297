// Turns valibot issues into short, precise messages: `expected number, got "three"`.
import type * as v from 'valibot'
import { didYouMean, type DocPath, type Reporter } from './reporter.ts'

function issueMessage(issue: v.BaseIssue<unknown>): string {
  // a schema given a custom message keeps it
  if (!issue.message.startsWith('Invalid ')) return issue.message
  if (issue.kind === 'schema' && issue.type === 'picklist') return `expected one of ${issue.expected?.replaceAll('|', ',')}, got ${issue.received}`
  if (issue.expected != null) return `expected ${issue.expected.replace(/^"(\w+)"$/, '$1')}, got ${issue.received}`
  return issue.message
}

/** Path of an issue inside the validated value (`[retry, attempts]`). */
export function issuePath(issue: v.BaseIssue<unknown>): Array<string | number> {
  return (issue.path ?? []).map((item) => (typeof item.key === 'number' ? item.key : String(item.key)))
}

/** A strict object's issue about a key it does not know (valibot says the key's value should be `never`). */
const unknownKey = (issue: v.BaseIssue<unknown>): boolean => issue.type === 'strict_object' && issue.expected === 'never'
const OBJECTS: ReadonlySet<string> = new Set(['object', 'strict_object', 'loose_object', 'object_with_rest'])
/** An object's issue about a required key that is absent (valibot expects the key, quoted, and got nothing). */
const missingKey = (issue: v.BaseIssue<unknown>): boolean => OBJECTS.has(issue.type) && issue.input === undefined && (issue.path?.length ?? 0) > 0 && /^".*"$/.test(issue.expected ?? '')

/**
 * Reports valibot issues for the value at `at`: a key a strict object does not know is
 * SCHEMA_UNKNOWN_KEY (with a did-you-mean among `known`), anything else SCHEMA_INVALID.
 */
export function reportIssues(r: Reporter, at: DocPath, issues: ReadonlyArray<v.BaseIssue<unknown>>, known: readonly string[] = []): void {
  for (const issue of issues) {
    const ip = issuePath(issue)
    const last = ip[ip.length - 1]
    if (unknownKey(issue) && last !== undefined) r.report('SCHEMA_UNKNOWN_KEY', [...at, ...ip], `unknown key "${last}"${didYouMean(String(last), known)}`, { which: 'key' })
    else if (missingKey(issue) && last !== undefined) r.report('SCHEMA_INVALID', [...at, ...ip.slice(0, -1)], `the key "${last}" is required`)
    else r.report('SCHEMA_INVALID', [...at, ...ip], issueMessage(issue))
  }
}

/**
 * A valibot issue as a sentence about the value it names (`name`, e.g. `brand_assets.logo`): "framework must be one
 * of AIDA, PAS, FAB, custom; got "XYZ"", not valibot's "Invalid type: Expected ("AIDA" | …) but received "XYZ"".
 * A schema's own custom message is kept, after the name.
 */
export function issueSentence(issue: v.BaseIssue<unknown>, name: string): string {
  const subject = name || 'the value'
  const got = received(issue.input)
  const req = (issue as { requirement?: unknown }).requirement
  const custom = !issue.message.startsWith('Invalid ')
  if (missingKey(issue)) {
    const path = issuePath(issue)
    const parent = path.slice(0, -1).join('.')
    return `the key "${String(path.at(-1))}" is required${parent ? ` in ${parent}` : ''}`
  }
  if (unknownKey(issue) || (issue.kind === 'schema' && issue.expected === 'never')) {
    const key = issuePath(issue).at(-1)
    const parent = issuePath(issue).slice(0, -1).join('.')
    return `"${String(key ?? issue.input)}" is not a known key${parent ? ` of ${parent}` : ''}`
  }
  if (custom) return `${subject}: ${issue.message}`
  switch (issue.type) {
    case 'picklist':
    case 'enum':
      return `${subject} must be one of ${(issue.expected ?? '')
        .replace(/^\(|\)$/g, '')
        .split(' | ')
        .map((s) => s.replace(/^"(.*)"$/, '$1'))
        .join(', ')}; got ${got}`
    case 'min_length':
      return `${subject} must have at least ${String(req)} ${typeof issue.input === 'string' ? 'character' : 'item'}${req === 1 ? '' : 's'}`
    case 'max_length':
      return `${subject} must have at most ${String(req)} ${typeof issue.input === 'string' ? 'characters' : 'items'}; it has ${lengthOf(issue.input)}`
    case 'min_value':
      return `${subject} must be at least ${String(req)}; got ${got}`
    case 'max_value':
      return `${subject} must be at most ${String(req)}; got ${got}`
    case 'integer':
      return `${subject} must be a whole number; got ${got}`
    case 'max_entries':
      return `${subject} must have at most ${String(req)} entries`
  }
  if (issue.kind === 'schema' && issue.expected) {
    const expected = issue.expected.replace(/^"(\w+)"$/, '$1')
    return `${subject} must be ${/^[aeiou]/.test(expected) ? 'an' : 'a'} ${expected}; got ${got}`
  }
  return `${subject}: ${issueMessage(issue)}`
}

function received(x: unknown): string {
  if (x === undefined) return 'nothing'
  if (x === null) return 'null'
  if (Array.isArray(x)) return 'a list'
  if (typeof x === 'object') return 'a mapping'
  if (typeof x === 'string') return JSON.stringify(x.length > 40 ? `${x.slice(0, 40)}…` : x)
  return `${typeof x === 'number' ? 'the number' : typeof x} ${String(x)}`
}

const lengthOf = (x: unknown): number => (typeof x === 'string' || Array.isArray(x) ? x.length : 0)
