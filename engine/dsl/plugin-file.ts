// Which files a pipeline may load as plugins: checked before anything is imported (importing a module runs its code).
import { realpathSync, statSync } from 'node:fs'
import path from 'node:path'

/** Extensions a plugin may have: JavaScript, or TypeScript (loaded through tsx). */
const EXTENSIONS = new Set(['.js', '.mjs', '.cjs', '.ts', '.mts', '.cts'])

/** Largest plugin file accepted, in bytes. */
export const MAX_PLUGIN_BYTES = 1024 * 1024

/** The folders named in `WEFT_PLUGIN_DIRS` (separated by `:`; `;` on Windows), besides each pipeline's own. */
export function pluginDirsFromEnv(env: Record<string, string | undefined> = process.env): string[] {
  return (env.WEFT_PLUGIN_DIRS ?? '')
    .split(path.delimiter)
    .map((d) => d.trim())
    .filter(Boolean)
    .map((d) => path.resolve(d))
}

export type PluginFileCheck = { ok: true } | { ok: false; code: 'PLUGIN_LOAD_FAILED' | 'PLUGIN_OUTSIDE' | 'PLUGIN_NOT_A_FILE' | 'PLUGIN_TOO_LARGE'; message: string }

const inside = (file: string, dir: string) => {
  const rel = path.relative(dir, file)
  return rel !== '' && !rel.startsWith('..') && !path.isAbsolute(rel)
}

/**
 * Whether `file` may be imported as a plugin of a pipeline in `pipelineDir`: a regular file with a JavaScript or
 * TypeScript extension, no larger than MAX_PLUGIN_BYTES, inside the pipeline's folder or one of `dirs` once every
 * symbolic link is followed.
 */
export function checkPluginFile(file: string, pipelineDir: string, dirs: readonly string[]): PluginFileCheck {
  let real: string
  try {
    real = realpathSync(file)
  } catch {
    return { ok: false, code: 'PLUGIN_LOAD_FAILED', message: `plugin could not be loaded: cannot find ${file}` }
  }
  const roots = [pipelineDir, ...dirs].flatMap((d) => {
    try {
      return [realpathSync(d)]
    } catch {
      return []
    }
  })
  if (!roots.some((root) => inside(real, root))) {
    return {
      ok: false,
      code: 'PLUGIN_OUTSIDE',
      message: `plugin ${file} is outside the pipeline's folder; move it there, or name its folder in WEFT_PLUGIN_DIRS (a plugin is code: validating the pipeline runs it)`,
    }
  }
  if (!EXTENSIONS.has(path.extname(real).toLowerCase())) {
    return { ok: false, code: 'PLUGIN_NOT_A_FILE', message: `plugin ${file} is not a JavaScript or TypeScript file (${[...EXTENSIONS].join(', ')})` }
  }
  const st = statSync(real)
  if (!st.isFile()) return { ok: false, code: 'PLUGIN_NOT_A_FILE', message: `plugin ${file} is not a regular file` }
  if (st.size > MAX_PLUGIN_BYTES) return { ok: false, code: 'PLUGIN_TOO_LARGE', message: `plugin ${file} has ${st.size} bytes; at most ${MAX_PLUGIN_BYTES} are loaded` }
  return { ok: true }
}
