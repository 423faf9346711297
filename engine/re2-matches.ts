// CEL's `string.matches(regex)` with RE2 semantics, as the CEL spec says: matching takes time linear in
// the text, so no pattern can stall the process (JavaScript's backtracking RegExp can: `^(a+)+$`).
import { RE2JS } from 're2js'

const compiled = new Map<string, RE2JS>()
const CACHE_SIZE = 256

/** Whether `pattern` matches anywhere in `text`. Throws the RE2 syntax error for an invalid pattern. */
export function re2Matches(text: string, pattern: string): boolean {
  let re = compiled.get(pattern)
  if (!re) {
    re = RE2JS.compile(pattern)
    if (compiled.size >= CACHE_SIZE) compiled.delete(compiled.keys().next().value!)
    compiled.set(pattern, re)
  }
  return re.matcher(text).find()
}

/** The RE2 syntax problem of a pattern, or undefined when it compiles. */
export function re2Problem(pattern: string): string | undefined {
  try {
    RE2JS.compile(pattern)
    return undefined
  } catch (err) {
    return (err as Error).message
  }
}
