import { describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { spawnSync } from 'node:child_process'
import { mkdirSync, mkdtempSync, readFileSync, statSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import path from 'node:path'
import { createHash } from 'node:crypto'
import { CLAIM_LAPSE_MS, NodeCache } from '../../../engine/cache/node-cache.ts'

const sha = (s: string) => createHash('sha256').update(s).digest('hex')

function setup(maxBytes = 1_000_000) {
  const root = mkdtempSync(path.join(tmpdir(), 'weft-cache-'))
  const run = path.join(root, 'runs', 'r1')
  mkdirSync(run, { recursive: true })
  const cache = NodeCache.open(path.join(root, 'cache'), maxBytes)
  const file = (name: string, body: string) => {
    const abs = path.join(run, name)
    writeFileSync(abs, body)
    return { rel: name, abs, sha: sha(body) }
  }
  return { root, run, cache, file }
}

/** Runs `code` in another process, with `c` the cache in `dir` opened there. */
function inOtherProcess(dir: string, code: string) {
  const script = `
    import { NodeCache } from ${JSON.stringify(path.resolve('engine/cache/node-cache.ts'))}
    const c = NodeCache.open(${JSON.stringify(dir)}, 1e9)
    ${code}
  `
  return spawnSync(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', script], { encoding: 'utf8' })
}

describe('NodeCache', () => {
  it('stores an output with its files once by content, and reads it back marked as used', async () => {
    const { run, cache, file } = setup()
    const a = file('a.bin', 'x'.repeat(1000))
    await cache.put({ key: 'k1', type: 'render', node: 'clip', run: 'r1', work_dir: run, output: { path: a.abs } }, [a], 1000)
    const got = await cache.get('k1', 2000)
    assert.deepEqual(got?.output, { path: a.abs })
    assert.deepEqual(got?.files, [{ rel: 'a.bin', sha: a.sha, size: 1000 }])
    assert.equal(got?.used_at, 2000)
    assert.equal(got?.hits, 1)
    // the blob is the run's file itself (a hard link), not a copy
    assert.equal(statSync(cache.blobPath(a.sha)).ino, statSync(a.abs).ino)
    assert.equal(await cache.get('nope'), undefined)
    cache.close()
  })

  it('counts a file shared by two entries once', async () => {
    const { run, cache, file } = setup()
    const a = file('a.bin', 'y'.repeat(5000))
    await cache.put({ key: 'k1', type: 't', node: 'n1', run: 'r1', work_dir: run, output: a.abs }, [a])
    await cache.put({ key: 'k2', type: 't', node: 'n2', run: 'r1', work_dir: run, output: a.abs }, [a])
    const s = cache.stats()
    assert.equal(s.entries, 2)
    assert.equal(s.blobs, 1)
    assert.equal(s.blob_bytes, 5000)
    cache.close()
  })

  it('evicts the least recently used entries past its cap, and their files with them', async () => {
    const { run, cache, file } = setup(25_000)
    const files = [0, 1, 2].map((i) => file(`f${i}.bin`, String(i).repeat(10_000)))
    await cache.put({ key: 'k0', type: 't', node: 'n', run: 'r1', work_dir: run, output: files[0]!.abs }, [files[0]!], 1)
    await cache.put({ key: 'k1', type: 't', node: 'n', run: 'r1', work_dir: run, output: files[1]!.abs }, [files[1]!], 2)
    // k0 used after k1: k1 is now the least recently used
    assert.ok(await cache.get('k0', 3))
    await cache.put({ key: 'k2', type: 't', node: 'n', run: 'r1', work_dir: run, output: files[2]!.abs }, [files[2]!], 4)
    assert.deepEqual(
      cache
        .list()
        .map((e) => e.key)
        .sort(),
      ['k0', 'k2'],
    )
    assert.ok(cache.stats().bytes <= 25_000)
    assert.throws(() => statSync(cache.blobPath(files[1]!.sha)), /ENOENT/)
    // the run keeps its own link to the bytes
    assert.equal(readFileSync(files[1]!.abs, 'utf8'), '1'.repeat(10_000))
    cache.close()
  })

  it('prunes entries not used since a time, and clears', async () => {
    const { run, cache, file } = setup()
    const a = file('a.bin', 'a')
    await cache.put({ key: 'old', type: 't', node: 'n', run: 'r1', work_dir: run, output: 1 }, [], 1000)
    await cache.put({ key: 'new', type: 't', node: 'n', run: 'r1', work_dir: run, output: a.abs }, [a], 5000)
    assert.equal(await cache.prune(2000), 1)
    assert.deepEqual(
      cache.list().map((e) => e.key),
      ['new'],
    )
    assert.equal(await cache.clear(), 1)
    assert.deepEqual(cache.stats(), { entries: 0, blobs: 0, blob_bytes: 0, bytes: 0 })
    cache.close()
  })

  it('treats an entry whose blob is gone as a miss', async () => {
    const { run, cache, file } = setup()
    const a = file('a.bin', 'gone')
    await cache.put({ key: 'k', type: 't', node: 'n', run: 'r1', work_dir: run, output: a.abs }, [a])
    const { rmSync } = await import('node:fs')
    rmSync(cache.blobPath(a.sha))
    assert.equal(await cache.get('k'), undefined)
    assert.equal(cache.stats().entries, 0)
    cache.close()
  })

  it('gives the right to compute a key to one process at a time, and takes it back from a dead one', () => {
    const { root, cache } = setup()
    const dir = path.join(root, 'cache')
    const other = (code: string) => inOtherProcess(dir, code)
    assert.equal(cache.claim('k'), true)
    assert.equal(cache.claim('k'), true, 'this process holds it already')
    assert.equal(other('process.stdout.write(String(c.claim("k")))').stdout, 'false')
    cache.release('k')
    // a process that claims and exits without releasing: its claim is taken over
    assert.equal(other('process.stdout.write(String(c.claim("k")))').stdout, 'true')
    assert.equal(cache.claimed('k'), false)
    assert.equal(cache.claim('k'), true)
    cache.close()
  })

  it('a claim not renewed for a minute lapses, even while its holder lives (frozen); renewing keeps it', () => {
    const { cache } = setup()
    const t0 = Date.now()
    assert.equal(cache.claim('j', t0), true)
    assert.equal(cache.claimed('j', t0 + CLAIM_LAPSE_MS - 1), true)
    assert.equal(cache.claimed('j', t0 + CLAIM_LAPSE_MS + 1), false, 'unrenewed: lapsed for whoever waits on it')
    assert.equal(cache.renew('j', t0 + 50_000), true)
    assert.equal(cache.claimed('j', t0 + CLAIM_LAPSE_MS + 1), true, 'renewed at 50 s: held')
    assert.equal(cache.renew('nobody-holds-this', t0), false)
    cache.close()
  })

  it("another process takes over a live holder's claim once it lapses, and the old holder's renewals no longer hold it", () => {
    const { root, cache } = setup()
    const dir = path.join(root, 'cache')
    const lapsed = Date.now() + CLAIM_LAPSE_MS + 1000
    assert.equal(cache.claim('k'), true)
    const taken = inOtherProcess(dir, `process.stdout.write(String(c.claim("k", Date.now())) + String(c.claim("k", ${lapsed})))`)
    assert.equal(taken.stdout, 'falsetrue', 'refused while this live process holds it, taken once it lapsed')
    assert.equal(cache.renew('k'), false)
    cache.close()
  })
})
