import { describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { mkdirSync, mkdtempSync, readFileSync, statSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import path from 'node:path'
import { keptRecords, planRerun, runFolderOf } from '../../engine/rerun.ts'
import type { RunRecord } from '../../engine/ports.ts'
import { pipeline } from '../helpers.ts'

const yaml = `
pipeline: chain
version: 1
plugins: [$WORK]
nodes:
  brief: { type: work }
  story: { type: work, needs: [brief] }
  look: { type: work }
  scenes: { type: work, needs: [story, look] }
  clips: { type: work, needs: [scenes] }
  music: { type: work, needs: [brief] }
`

describe('planRerun', () => {
  it('keeps what is upstream of the node, executes it and what is downstream again, and leaves the rest to the cache', async () => {
    const p = await pipeline(yaml)
    assert.deepEqual(planRerun(p, 'scenes'), { keep: ['brief', 'story', 'look'], refresh: ['scenes', 'clips'] })
    assert.deepEqual(planRerun(p, 'brief'), { keep: [], refresh: ['brief', 'story', 'scenes', 'clips', 'music'] })
    assert.deepEqual(planRerun(p), { keep: [], refresh: [] })
  })

  it('refuses a node the pipeline does not have, with the nearest name', async () => {
    const p = await pipeline(yaml)
    assert.throws(
      () => planRerun(p, 'scene'),
      (err: Error & { code?: string }) => err.code === 'UNKNOWN_NODE' && /did you mean "scenes"/.test(err.message),
    )
  })
})

describe('keptRecords', () => {
  it("moves kept outputs into the new run's folder, linking the files they name", async () => {
    const root = mkdtempSync(path.join(tmpdir(), 'weft-rerun-'))
    const from = path.join(root, 'old-run')
    const to = path.join(root, 'new-run')
    mkdirSync(path.join(from, 'refs'), { recursive: true })
    writeFileSync(path.join(from, 'refs', 'hero.png'), 'png bytes')
    const node = (id: string, status: 'succeeded' | 'failed', output: unknown) => ({ id, type: 'work', status, attempts: 1, started_at: null, finished_at: null, duration_ms: 1, output, error: null })
    const record = {
      id: 'old-run',
      nodes: {
        ref: {
          ...node('ref', 'succeeded', { path: path.join(from, 'refs', 'hero.png'), note: 'kept' }),
          usage: { model_calls: 1, input_tokens: 1, output_tokens: 1, images: 0, video_s: 0, cost_usd: 1, unpriced: 0 },
        },
        broken: node('broken', 'failed', null),
      },
    } as unknown as RunRecord
    assert.equal(runFolderOf(record, '/nowhere'), from)
    const p = await pipeline(`
pipeline: refs
plugins: [$WORK]
nodes:
  ref: { type: work }
  broken: { type: work, needs: [ref] }
`)
    return keptRecords(p, record, ['ref', 'broken'], from, to).then((kept) => {
      assert.deepEqual(Object.keys(kept), ['ref'], 'a node that did not succeed is not kept')
      const out = kept.ref!.output as { path: string; note: string }
      assert.equal(out.path, path.join(to, 'refs', 'hero.png'))
      assert.equal(out.note, 'kept')
      assert.equal(kept.ref!.usage, undefined, 'what the kept node used was spent by the earlier run')
      assert.equal(readFileSync(out.path, 'utf8'), 'png bytes')
      assert.equal(statSync(out.path).ino, statSync(path.join(from, 'refs', 'hero.png')).ino)
    })
  })
})
