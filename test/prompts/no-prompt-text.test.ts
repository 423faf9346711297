// Prompts live in prompts/*.yaml: no TypeScript file carries prompt text.
import { describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { readdirSync, readFileSync, statSync } from 'node:fs'
import path from 'node:path'

const root = path.resolve(import.meta.dirname, '..', '..')
const SOURCE_DIRS = ['engine', 'nodes', 'cli', 'server', 'bench']

function tsFiles(dir: string): string[] {
  let out: string[] = []
  for (const name of readdirSync(dir)) {
    const p = path.join(dir, name)
    if (statSync(p).isDirectory()) out = out.concat(tsFiles(p))
    else if (/\.(m?ts|mjs)$/.test(name)) out.push(p)
  }
  return out
}

/** Phrases that only instructions to a model use. */
const PROMPT_PHRASES = [
  /\byou are an? (expert|senior|award|world|helpful|creative|professional)/i,
  /\b(respond|reply|answer) (only )?(with|in) (valid )?json\b/i,
  /\breturn (only )?(a |valid )?json\b(?!\.)/i,
  /\bas an ai\b/i,
  /\bwrite an? (ad|story|script|scene)s? (for|about)\b/i,
  /\bscore (the|this) (draft|story|scene)s? (from|on a scale|between)\b/i,
]

describe('prompt text', () => {
  it('appears in no TypeScript source file', () => {
    const files = SOURCE_DIRS.filter((d) => {
      try {
        return statSync(path.join(root, d)).isDirectory()
      } catch {
        return false
      }
    }).flatMap((d) => tsFiles(path.join(root, d)))
    assert.ok(files.length > 50, `scanned ${files.length} files`)
    const hits: string[] = []
    for (const f of files) {
      const text = readFileSync(f, 'utf8')
      for (const re of PROMPT_PHRASES) {
        const m = re.exec(text)
        if (m) hits.push(`${path.relative(root, f)}: "${m[0]}"`)
      }
    }
    assert.deepEqual(hits, [])
  })

  it('the check itself catches prompt text', () => {
    const sample = 'const p = `You are an expert copywriter. Reply with JSON only.`'
    assert.ok(PROMPT_PHRASES.some((re) => re.test(sample)))
  })
})
