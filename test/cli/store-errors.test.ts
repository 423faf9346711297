// A data directory weft cannot use: a line naming the file and what to do, exit 2, no stack trace, nothing recorded
// lost. The full disk is a real one: a 2 MiB tmpfs mounted for the test (root only; skipped elsewhere, saying why).
import { after, describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { spawnSync } from 'node:child_process'
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import path from 'node:path'
import { fixtures } from '../helpers.ts'
import { checkDatabaseUrl } from '../../engine/adapters/postgres-store.ts'

const root = path.resolve(import.meta.dirname, '..', '..')
const work = mkdtempSync(path.join(tmpdir(), 'weft-store-errors-'))

function weft(data: string, ...args: string[]) {
  return weftWith({ WEFT_DATA_DIR: data, DATABASE_URL: '' }, ...args)
}

function weftWith(env: Record<string, string>, ...args: string[]) {
  const r = spawnSync(process.execPath, ['--import', 'tsx', path.join(root, 'cli', 'weft.ts'), ...args], {
    cwd: root,
    encoding: 'utf8',
    timeout: 120_000,
    env: { ...process.env, ...env },
  })
  return { code: r.status, stdout: r.stdout, stderr: r.stderr }
}

/** No stack trace: no `    at …` frame and no `Error:` dump of a thrown object. */
const noStack = (stderr: string) => assert.doesNotMatch(stderr, /^\s+at |\n\s+at |^Error:|node:internal/m, stderr)

describe('weft on a data directory it cannot use', () => {
  it('a Postgres that cannot be reached: STORE_UNAVAILABLE naming DATABASE_URL, exit 2', () => {
    // port 1 on loopback: nothing listens there, so the connection is refused at once
    const r = weftWith({ DATABASE_URL: 'postgres://weft@127.0.0.1:1/weft' }, 'runs')
    assert.equal(r.code, 2, r.stderr)
    assert.match(r.stderr, /^STORE_UNAVAILABLE: .*DATABASE_URL/m)
    noStack(r.stderr)
  })

  it('a DATABASE_URL that is not a Postgres URL: STORE_CONFIG_INVALID without the URL (it may hold a password), exit 2, from every command', () => {
    for (const [url, why] of [
      ['not a url', /DATABASE_URL is not a URL/],
      ['postgres://weft:s3cret@127.0.0.1:port/weft', /DATABASE_URL is not a URL/],
      ['mysql://weft:s3cret@127.0.0.1/weft', /DATABASE_URL is a mysql:\/\/ URL/],
    ] as const) {
      for (const args of [['runs'], ['worker'], ['run', path.join(fixtures, 'pipelines', 'cli-run.yaml'), '--detach', '--input', 'word=x']]) {
        const r = weftWith({ DATABASE_URL: url }, ...args)
        assert.equal(r.code, 2, `${args[0]}: ${r.stderr}`)
        assert.match(r.stderr, /^STORE_CONFIG_INVALID: /m, r.stderr)
        assert.match(r.stderr, why)
        assert.doesNotMatch(r.stderr, /s3cret/)
        noStack(r.stderr)
      }
    }
  })

  it('a DATABASE_URL naming several hosts, as postgres.js takes them, is not refused as malformed', () => {
    assert.doesNotThrow(() => checkDatabaseUrl('postgres://weft:pw@db1.example:5432,db2.example:5433/weft?sslmode=require'))
    assert.doesNotThrow(() => checkDatabaseUrl('postgresql://db1,db2/weft'))
    assert.throws(() => checkDatabaseUrl('postgres://db1:port,db2/weft'), /DATABASE_URL is not a URL/)
  })

  it('a data directory that cannot be created: STORE_NOT_WRITABLE with the path, exit 2', () => {
    writeFileSync(path.join(work, 'plain-file'), 'x')
    const data = path.join(work, 'plain-file', 'data')
    const r = weft(data, 'runs')
    assert.equal(r.code, 2)
    assert.match(r.stderr, /^STORE_NOT_WRITABLE: /m)
    assert.ok(r.stderr.includes(path.join(data, 'weft.db')), r.stderr)
    noStack(r.stderr)
  })

  it('a weft.db that is not SQLite: STORE_NOT_SQLITE with the path, exit 2, the file left as it was', () => {
    const data = path.join(work, 'notes')
    mkdirSync(data)
    writeFileSync(path.join(data, 'weft.db'), 'my notes\n'.repeat(100))
    for (const args of [['runs'], ['run', path.join(fixtures, 'pipelines', 'cli-run.yaml'), '--input', 'word=hi']]) {
      const r = weft(data, ...args)
      assert.equal(r.code, 2, `${args[0]}: ${r.stderr}`)
      assert.match(r.stderr, /^STORE_NOT_SQLITE: .*weft\.db/m)
      noStack(r.stderr)
    }
    assert.equal(spawnSync('cat', [path.join(data, 'weft.db')], { encoding: 'utf8' }).stdout, 'my notes\n'.repeat(100))
  })
})

/** Mounts a tmpfs of `size` at `dir`; false when this process may not (not root, or no mount in this sandbox). */
function mountTmpfs(dir: string, size: string): boolean {
  if (process.getuid?.() !== 0) return false
  mkdirSync(dir, { recursive: true })
  return spawnSync('mount', ['-t', 'tmpfs', '-o', `size=${size}`, 'tmpfs', dir]).status === 0
}

const disk = path.join(work, 'small-disk')
const mounted = mountTmpfs(disk, '2m')
after(() => {
  if (mounted) spawnSync('umount', ['-l', disk])
  rmSync(work, { recursive: true, force: true })
})

describe('weft on a full disk', () => {
  it('stops a run with STORE_DISK_FULL (exit 2), keeps what was recorded, and works again once there is space', {
    skip: mounted ? false : 'needs to mount a small tmpfs (root, with mount allowed); CI runs as root on this machine',
  }, () => {
    const data = path.join(disk, 'data')
    const pipeline = path.join(fixtures, 'pipelines', 'shared-dir.yaml')
    const first = weft(data, 'run', pipeline, '--input', 'tag=before', '--json')
    assert.equal(first.code, 0, first.stderr)
    const firstId = (JSON.parse(first.stdout) as { id: string }).id
    // fill the disk, leaving almost nothing
    spawnSync('dd', ['if=/dev/zero', `of=${path.join(disk, 'filler')}`, 'bs=64k'], { stdio: 'ignore' })
    const full = weft(data, 'run', pipeline, '--input', `tag=${'x'.repeat(20_000)}`)
    assert.equal(full.code, 2, full.stderr)
    assert.match(full.stderr, /^STORE_DISK_FULL: .*weft\.db.*free disk space/m)
    noStack(full.stderr)
    // while the disk is full, even reading says so (SQLite in WAL mode needs to write its index file to open)
    const blocked = weft(data, 'show', firstId)
    assert.ok(blocked.code === 0 || (blocked.code === 2 && /^STORE_DISK_FULL: /m.test(blocked.stderr)), blocked.stderr)
    noStack(blocked.stderr)
    const stopped = /run ([0-9a-f-]{36}) stopped before it finished/.exec(full.stderr)?.[1]
    rmSync(path.join(disk, 'filler'))
    // with space again: what was recorded before the disk filled reads as it was, and a stopped run resumes
    const shown = weft(data, 'show', firstId, '--json')
    assert.equal(shown.code, 0, shown.stderr)
    const record = JSON.parse(shown.stdout) as { status: string; outputs: unknown; events: unknown[] }
    assert.equal(record.status, 'completed')
    assert.deepEqual(record.outputs, { tag: 'before' })
    if (stopped) {
      const resumed = weft(data, 'resume', stopped, '--json')
      assert.equal(resumed.code, 0, resumed.stderr)
      assert.equal((JSON.parse(resumed.stdout) as { status: string }).status, 'completed')
    }
    const again = weft(data, 'run', pipeline, '--input', 'tag=after', '--json')
    assert.equal(again.code, 0, again.stderr)
    const listed = JSON.parse(weft(data, 'runs', '--json').stdout) as Array<{ id: string; status: string }>
    assert.ok(listed.some((r) => r.id === firstId && r.status === 'completed'))
  })
})
