// Every YAML example in the project's documentation parses: a reader who copies one gets what it shows.
import assert from 'node:assert/strict'
import { readdirSync, readFileSync } from 'node:fs'
import path from 'node:path'
import { describe, it } from 'node:test'
import { parseDocument } from 'yaml'

const root = path.resolve(import.meta.dirname, '..', '..')
const SKIP = new Set(['node_modules', 'dist', '.git', '.weft', '.scratch', 'test-results'])

function markdownFiles(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) => {
    if (SKIP.has(e.name)) return []
    const p = path.join(dir, e.name)
    return e.isDirectory() ? markdownFiles(p) : e.name.endsWith('.md') ? [p] : []
  })
}

/** The ```yaml blocks of a Markdown file, with the line each starts on. */
function yamlBlocks(text: string): Array<{ line: number; source: string }> {
  const out: Array<{ line: number; source: string }> = []
  const lines = text.split('\n')
  for (let i = 0; i < lines.length; i++) {
    if (!/^\s*```ya?ml\s*$/.test(lines[i]!)) continue
    const start = i + 1
    let end = start
    while (end < lines.length && !/^\s*```\s*$/.test(lines[end]!)) end++
    out.push({ line: start + 1, source: lines.slice(start, end).join('\n') })
    i = end
  }
  return out
}

describe('YAML examples in the documentation', () => {
  const blocks = markdownFiles(root).flatMap((file) => yamlBlocks(readFileSync(file, 'utf8')).map((b) => ({ ...b, file: path.relative(root, file) })))

  it('finds the examples (a check over none would prove nothing)', () => {
    assert.ok(blocks.length >= 8, `found ${blocks.length}`)
  })

  it('each parses as YAML, without warnings, to a mapping', () => {
    const problems: string[] = []
    for (const b of blocks) {
      const doc = parseDocument(b.source)
      for (const e of [...doc.errors, ...doc.warnings]) {
        const at = e.linePos?.[0]
        problems.push(`${b.file}:${b.line + (at ? at.line - 1 : 0)}: ${e.message.split('\n')[0]}`)
      }
      if (doc.errors.length === 0 && (typeof doc.toJS() !== 'object' || doc.toJS() === null)) problems.push(`${b.file}:${b.line}: not a mapping`)
    }
    assert.deepEqual(problems, [])
  })

  it('finds a broken example (the check can fail)', () => {
    const [block] = yamlBlocks('text\n```yaml\nvars: { brief: ${{ inputs.prompt }} }\n```\n')
    assert.ok(parseDocument(block!.source).errors.length > 0)
  })
})
