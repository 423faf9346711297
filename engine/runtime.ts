// Where this code runs from: TypeScript sources (through tsx, in tests and development) or the built dist/.
import { isMainThread } from 'node:worker_threads'

/** True when running the TypeScript sources directly (tests, `node --import tsx`). */
export const fromSources = import.meta.url.endsWith('.ts')

/** The extension sibling modules have here: `.ts` in the sources, `.js` in dist/. */
export const moduleExt = fromSources ? '.ts' : '.js'

// `--import tsx` covers the main thread; a worker thread registers tsx itself (its execArgv flag does not
// reach modules it imports later)
let tsxRegistered: Promise<void> | undefined = fromSources && isMainThread ? Promise.resolve() : undefined

/** Makes TypeScript modules importable in this thread (for `.ts` plugins when running from dist/); registers tsx once however many ask at once. */
export function enableTypeScript(): Promise<void> {
  tsxRegistered ??= import('tsx/esm/api').then(({ register }) => void register())
  // a failed registration may be tried again
  tsxRegistered.catch(() => (tsxRegistered = undefined))
  return tsxRegistered
}

export const isTypeScriptFile = (file: string): boolean => /\.[cm]?tsx?$/.test(file)
