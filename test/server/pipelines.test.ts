// The server's pipeline catalog, on virtual time: a pipeline is answered from the version read within the last second,
// and a file that is gone is not found, even when its version was read within that second and its pipeline never loaded.
import { describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { mkdtempSync, rmSync, utimesSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import path from 'node:path'
import { manualClock } from '../helpers.ts'
import { fileVersions } from '../../engine/file-versions.ts'
import { PipelineCatalog } from '../../server/pipelines.ts'
import { WeftError } from '../../engine/errors.ts'

const work = path.resolve(import.meta.dirname, '..', '..', 'bench', 'nodes', 'work.mjs')
const yaml = (...ids: string[]) => `pipeline: p\nplugins: [${work}]\nnodes:\n${ids.map((id) => `  ${id}: { type: bench_noop }\n`).join('')}`
const notFound = (err: unknown) => err instanceof WeftError && err.code === 'PIPELINE_NOT_FOUND'

describe('PipelineCatalog', () => {
  it('answers a file removed since its version was read as not found, from get and from source', async () => {
    const dir = mkdtempSync(path.join(tmpdir(), 'weft-catalog-'))
    const file = path.join(dir, 'p.yaml')
    writeFileSync(file, yaml('a'))
    const catalog = new PipelineCatalog(dir, fileVersions({ clock: manualClock() }))
    assert.match(await catalog.source('p'), /pipeline: p/)
    rmSync(file)
    await assert.rejects(catalog.source('p'), notFound)
    await assert.rejects(catalog.get('p'), notFound)
  })

  it('answers with the pipeline kept for up to a second after an edit or a removal, then with the file as it is', async () => {
    const dir = mkdtempSync(path.join(tmpdir(), 'weft-catalog-'))
    const file = path.join(dir, 'p.yaml')
    const clock = manualClock()
    const catalog = new PipelineCatalog(dir, fileVersions({ freshMs: 1000, clock }))
    writeFileSync(file, yaml('a'))
    utimesSync(file, 1000, 1000)
    assert.deepEqual([...(await catalog.get('p')).nodes.keys()], ['a'])
    writeFileSync(file, yaml('b'))
    utimesSync(file, 2000, 2000)
    assert.deepEqual([...(await catalog.get('p')).nodes.keys()], ['a'], 'within the second: the version kept')
    clock.advance(1001)
    assert.deepEqual([...(await catalog.get('p')).nodes.keys()], ['b'])
    rmSync(file)
    assert.deepEqual([...(await catalog.get('p')).nodes.keys()], ['b'], 'removed within the second: the pipeline kept')
    clock.advance(1001)
    await assert.rejects(catalog.get('p'), notFound)
  })
})
