// Plugins load only from the pipeline's folder (or a folder the operator names), as regular JS/TS files of bounded
// size; anything else is a diagnostic, and its code never runs.
import { after, describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { existsSync, mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import path from 'node:path'
import { loadPipeline } from '../../../engine/dsl/load.ts'
import { MAX_PLUGIN_BYTES, pluginDirsFromEnv } from '../../../engine/dsl/plugin-file.ts'

const root = mkdtempSync(path.join(tmpdir(), 'weft-plugin-file-'))
after(() => rmSync(root, { recursive: true, force: true }))

const project = path.join(root, 'project')
const elsewhere = path.join(root, 'elsewhere')
mkdirSync(path.join(project, 'nodes'), { recursive: true })
mkdirSync(elsewhere)

/** A plugin module that leaves a marker file when its top-level code runs. */
function plugin(file: string, type: string): string {
  const marker = `${file}.ran`
  writeFileSync(file, `import { writeFileSync } from 'node:fs'\nwriteFileSync(${JSON.stringify(marker)}, 'ran')\nexport default { type: '${type}', execute: () => ({}) }\n`)
  return marker
}

async function diagnose(entries: string[], opts: { pluginDirs?: string[] } = {}) {
  const file = path.join(project, `p${Math.random().toString(36).slice(2)}.yaml`)
  writeFileSync(file, `pipeline: p\nplugins:\n${entries.map((e) => `  - ${JSON.stringify(e)}`).join('\n')}\nnodes: {}\n`)
  const res = await loadPipeline(file, { pluginDirs: opts.pluginDirs ?? [] })
  // only what concerns plugins (the pipeline has no nodes to speak of)
  return res.diagnostics.filter((d) => d.path.startsWith('plugins')).map((d) => ({ code: d.code, path: d.path, line: d.line }))
}

describe('plugins: where they may come from', () => {
  it("loads a plugin inside the pipeline's folder", async () => {
    const ran = plugin(path.join(project, 'nodes', 'inside.mjs'), 'inside_node')
    assert.deepEqual(await diagnose(['./nodes/inside.mjs']), [])
    assert.ok(existsSync(ran))
  })

  it('refuses one outside it, by a relative or an absolute path or a symlink, without running it (PLUGIN_OUTSIDE)', async () => {
    const ran = plugin(path.join(elsewhere, 'x.mjs'), 'outside_node')
    symlinkSync(path.join(elsewhere, 'x.mjs'), path.join(project, 'nodes', 'link.mjs'))
    const found = await diagnose(['../elsewhere/x.mjs', path.join(elsewhere, 'x.mjs'), './nodes/link.mjs', '/dev/zero'])
    assert.deepEqual(
      found,
      [0, 1, 2, 3].map((i) => ({ code: 'PLUGIN_OUTSIDE', path: `plugins[${i}]`, line: 3 + i })),
    )
    assert.equal(existsSync(ran), false, "the module's code did not run")
  })

  it('loads from a folder the operator names (WEFT_PLUGIN_DIRS)', async () => {
    const dir = path.join(root, 'shared-plugins')
    mkdirSync(dir)
    plugin(path.join(dir, 'shared.mjs'), 'shared_node')
    assert.deepEqual(await diagnose([path.join(dir, 'shared.mjs')], { pluginDirs: [dir] }), [])
    assert.deepEqual(pluginDirsFromEnv({ WEFT_PLUGIN_DIRS: `${dir}${path.delimiter} ${elsewhere} ` }), [dir, elsewhere])
    assert.deepEqual(pluginDirsFromEnv({}), [])
  })

  it('refuses what is not a regular JS/TS file, or is too large, without running it', async () => {
    mkdirSync(path.join(project, 'nodes', 'folder.mjs'))
    writeFileSync(path.join(project, 'nodes', 'notes.txt'), 'export default {}')
    const big = path.join(project, 'nodes', 'big.mjs')
    const ran = `${big}.ran`
    writeFileSync(
      big,
      `import { writeFileSync } from 'node:fs'\nwriteFileSync(${JSON.stringify(ran)}, 'ran')\n//${'x'.repeat(MAX_PLUGIN_BYTES)}\nexport default { type: 'big', execute: () => ({}) }\n`,
    )
    assert.deepEqual(
      (await diagnose(['./nodes/folder.mjs', './nodes/notes.txt', './nodes/big.mjs', './nodes/missing.mjs'])).map((d) => d.code),
      ['PLUGIN_NOT_A_FILE', 'PLUGIN_NOT_A_FILE', 'PLUGIN_TOO_LARGE', 'PLUGIN_LOAD_FAILED'],
    )
    assert.equal(existsSync(ran), false)
  })
})
