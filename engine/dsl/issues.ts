// Turns valibot issues into short, precise messages: `expected number, got "three"`.
import type * as v from 'valibot'

export function issueMessage(issue: v.BaseIssue<unknown>): string {
  // a schema given a custom message keeps it
  if (!issue.message.startsWith('Invalid ')) return issue.message
  if (issue.kind === 'schema' && issue.type === 'picklist') return `expected one of ${issue.expected?.replaceAll('|', ',')}, got ${issue.received}`
  if (issue.expected != null) return `expected ${issue.expected.replace(/^"(\w+)"$/, '$1')}, got ${issue.received}`
  return issue.message
}
