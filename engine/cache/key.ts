// The cache key of one node attempt: a hash of everything that determines its result. Paths into the run's own
// folder are written relative to it, and every file the config names counts by its content, so two runs that
// feed a node the same bytes under different run folders share the key.
import { createHash } from 'node:crypto'
import { readFileSync } from 'node:fs'
import { readdir } from 'node:fs/promises'
import path from 'node:path'
import { fileURLToPath } from 'node:url'
import stringify from 'safe-stable-stringify'
import type { NodeTask } from '../ports.ts'
import { fileSha256 } from './file-hash.ts'

/** Bumped when the key's recipe or the stored entry's shape changes: every older entry is then a miss. */
export const CACHE_FORMAT = 1

const PROMPT_NAME = /^[A-Za-z0-9][\w-]*$/
const engineVersion = readVersion()

/** What the key depends on besides the task: the providers (kind, endpoint, model; never a secret). */
export interface KeyContext {
  providers: string
}

/** The parts of a key, kept readable: tests and `weft cache ls` show which part changed. */
export interface KeyParts {
  format: number
  type: string
  code: string
  config: unknown
  prompts: Record<string, string>
  providers: string
  revision?: unknown
}

export async function keyParts(task: NodeTask, ctx: KeyContext): Promise<KeyParts> {
  const prompts: Record<string, string> = {}
  const config = await normalise(task.config, task.workDir, async (name) => {
    if (name in prompts) return
    for (const dir of task.prompts) {
      const sha = await fileSha256(path.join(dir, `${name}.yaml`))
      if (sha) {
        prompts[name] = sha
        return
      }
    }
  })
  const parts: KeyParts = { format: CACHE_FORMAT, type: task.type, code: await codeVersion(task.module), config, prompts, providers: ctx.providers }
  if (task.revision) parts.revision = { round: task.revision.round, feedback: task.revision.feedback, previous: await normalise(task.revision.previous, task.workDir, async () => {}) }
  return parts
}

/** The key: sha256 of the canonical JSON of its parts. */
export async function cacheKey(task: NodeTask, ctx: KeyContext): Promise<string> {
  return hashParts(await keyParts(task, ctx))
}

function hashParts(parts: KeyParts): string {
  return createHash('sha256').update(stringify(parts)).digest('hex')
}

/**
 * The config as the key sees it: an absolute path to a file becomes the file's content hash (wherever it lies);
 * another path into the run's folder becomes `{run}/<rel>`; a relative path to a file there keeps its name and adds
 * its content. Strings that name a prompt are reported to `onWord`, which looks the prompt file up.
 */
async function normalise(value: unknown, workDir: string, onWord: (name: string) => Promise<void>): Promise<unknown> {
  if (typeof value === 'string') return normaliseString(value, workDir, onWord)
  if (Array.isArray(value)) return Promise.all(value.map((x) => normalise(x, workDir, onWord)))
  if (value && typeof value === 'object') {
    const out: Record<string, unknown> = {}
    for (const [k, x] of Object.entries(value)) out[k] = await normalise(x, workDir, onWord)
    return out
  }
  return value
}

async function normaliseString(s: string, workDir: string, onWord: (name: string) => Promise<void>): Promise<unknown> {
  if (PROMPT_NAME.test(s) && s.length <= 200) await onWord(s)
  if (s.length > 4096 || s.includes('\n')) return s
  if (path.isAbsolute(s)) {
    // an input file (an upstream render, a brand asset) counts by its content wherever it lies
    const sha = await fileSha256(s)
    if (sha) return { file: sha }
    return s === workDir || s.startsWith(workDir + path.sep) ? `{run}/${path.relative(workDir, s)}` : s
  }
  // a relative path names a file in the run's folder: its name counts, and its content when it is there already
  if (!/^[^\s]+$/.test(s) || !(s.includes('/') || /\.[A-Za-z0-9]{1,5}$/.test(s))) return s
  const sha = await fileSha256(path.resolve(workDir, s))
  return sha ? { path: s, file: sha } : s
}

/**
 * The version of a node type's code: a plugin's source file, or for a built-in type the engine's version and the
 * content of every source file of the engine and the built-in nodes (a built-in node reaches much of the engine:
 * the media encoder, the offline model), so an edited engine never reuses results of the code before.
 */
async function codeVersion(moduleUrl: string): Promise<string> {
  if (!moduleUrl.startsWith('file:')) return moduleUrl
  const file = fileURLToPath(moduleUrl)
  if (/[\\/]nodes[\\/]index\.(ts|js)$/.test(file)) return (builtinVersion ??= builtinCode(path.dirname(path.dirname(file))))
  return `plugin:${(await fileSha256(file)) ?? 'unreadable'}`
}

let builtinVersion: Promise<string> | undefined

async function builtinCode(root: string): Promise<string> {
  const files: string[] = []
  for (const dir of ['engine', 'nodes']) {
    for (const entry of await readdir(path.join(root, dir), { recursive: true, withFileTypes: true }).catch(() => [])) {
      if (entry.isFile() && /\.(ts|js|mjs)$/.test(entry.name)) files.push(path.join(entry.parentPath, entry.name))
    }
  }
  const hash = createHash('sha256').update(`weft@${engineVersion}`)
  for (const f of files.sort()) hash.update(`${path.relative(root, f)}:${(await fileSha256(f)) ?? ''}\n`)
  return `weft@${engineVersion}:${hash.digest('hex')}`
}

function readVersion(): string {
  for (const rel of ['../../package.json', '../../../package.json']) {
    try {
      const pkg = JSON.parse(readFileSync(fileURLToPath(new URL(rel, import.meta.url)), 'utf8')) as { name?: string; version?: string }
      if (pkg.name === 'weft' && pkg.version) return pkg.version
    } catch {
      // not this level
    }
  }
  return 'unknown'
}
