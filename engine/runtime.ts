// Where this code runs from: TypeScript sources (through tsx, in tests and development) or the built dist/.
import { isMainThread } from 'node:worker_threads'

/** True when running the TypeScript sources directly (tests, `node --import tsx`). */
export const fromSources = import.meta.url.endsWith('.ts')

/** The extension sibling modules have here: `.ts` in the sources, `.js` in dist/. */
export const moduleExt = fromSources ? '.ts' : '.js'

// `--import tsx` covers the main thread; a worker thread registers tsx itself (its execArgv flag does not
// reach modules it imports later)
let tsxRegistered = fromSources && isMainThread

/** Makes TypeScript modules importable in this thread (for `.ts` plugins when running from dist/). */
export async function enableTypeScript(): Promise<void> {
  if (tsxRegistered) return
  const { register } = await import('tsx/esm/api')
  register()
  tsxRegistered = true
}

export const isTypeScriptFile = (file: string): boolean => /\.[cm]?tsx?$/.test(file)
