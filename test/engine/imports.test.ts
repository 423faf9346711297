// What the in-process engine loads: runPipeline and the step function's in-process driver know no database and no
// queue, so a run in one process (the CLI on the embedded store, a bench, a test) carries no SQL layer it does not use.
import { describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { spawnSync } from 'node:child_process'
import { mkdtempSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import path from 'node:path'
import { fileURLToPath, pathToFileURL } from 'node:url'

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..')

/** The packages a module loads, with everything it imports in turn (a child process, a resolve hook that lists them). */
function packagesLoadedBy(module: string): Set<string> {
  const dir = mkdtempSync(path.join(tmpdir(), 'weft-imports-'))
  const hooks = path.join(dir, 'hooks.mjs')
  writeFileSync(
    hooks,
    `export async function resolve(s, c, next) {
  const r = await next(s, c)
  const m = /\\/node_modules\\/((?:@[^/]+\\/)?[^/]+)\\//.exec(r.url)
  if (m) process.stdout.write('PACKAGE ' + m[1] + '\\n')
  return r
}\n`,
  )
  const register = path.join(dir, 'register.mjs')
  writeFileSync(register, `import { register } from 'node:module'\nregister(${JSON.stringify(pathToFileURL(hooks).href)})\n`)
  const r = spawnSync(process.execPath, ['--import', register, '--import', 'tsx', '-e', `await import(${JSON.stringify(pathToFileURL(path.join(root, module)).href)})`], {
    cwd: root,
    encoding: 'utf8',
  })
  assert.equal(r.status, 0, r.stderr)
  return new Set([...r.stdout.matchAll(/^PACKAGE (\S+)$/gm)].map((m) => m[1]!))
}

const stores = ['drizzle-orm', 'postgres', 'better-sqlite3', 'graphile-worker']

describe('the in-process engine', () => {
  for (const module of ['engine/run-pipeline.ts', 'engine/fleet/local-driver.ts']) {
    it(`${module} loads no database driver, SQL layer or queue`, () => {
      const loaded = packagesLoadedBy(module)
      assert.ok(loaded.has('graphology'), `the hook sees the packages loaded (saw: ${[...loaded].join(', ')})`)
      assert.deepEqual(
        stores.filter((p) => loaded.has(p)),
        [],
      )
    })
  }
})
