// Turns valibot issues into short, precise messages: `expected number, got "three"`.
import type * as v from 'valibot'
import { didYouMean, type DocPath, type Reporter } from './reporter.ts'

export function issueMessage(issue: v.BaseIssue<unknown>): string {
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

/**
 * Reports valibot issues for the value at `at`: a key a strict object does not know is
 * SCHEMA_UNKNOWN_KEY (with a did-you-mean among `known`), anything else SCHEMA_INVALID.
 */
export function reportIssues(r: Reporter, at: DocPath, issues: ReadonlyArray<v.BaseIssue<unknown>>, known: readonly string[] = []): void {
  for (const issue of issues) {
    const ip = issuePath(issue)
    const last = ip[ip.length - 1]
    if (issue.type === 'strict_object' && last !== undefined) r.report('SCHEMA_UNKNOWN_KEY', [...at, ...ip], `unknown key "${last}"${didYouMean(String(last), known)}`, { which: 'key' })
    else r.report('SCHEMA_INVALID', [...at, ...ip], issueMessage(issue))
  }
}
