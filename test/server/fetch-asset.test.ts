// fetchAsset: blocked spellings never reach a canary server; allowlisted fetches are size-, time- and type-checked.
import { after, before, beforeEach, describe, it, mock } from 'node:test'
import assert from 'node:assert/strict'
import { once } from 'node:events'
import { mkdtempSync, readdirSync, readFileSync } from 'node:fs'
import http from 'node:http'
import type { AddressInfo, LookupFunction } from 'node:net'
import { tmpdir } from 'node:os'
import path from 'node:path'
import { crc32, deflateSync } from 'node:zlib'
import type { WeftError } from '../../engine/errors.ts'
import { blockedRange, fetchAsset, parseAssetAllowlist, type FetchAssetOptions } from '../../server/fetch-asset.ts'

const LIMIT = 4096

/** A minimal valid PNG: one red RGBA pixel, with real chunk CRCs and a zlib IDAT. */
function minimalPng(): Buffer {
  const chunk = (type: string, data: Buffer) => {
    const body = Buffer.concat([Buffer.from(type, 'latin1'), data])
    const out = Buffer.alloc(body.length + 8)
    out.writeUInt32BE(data.length, 0)
    body.copy(out, 4)
    out.writeUInt32BE(crc32(body), body.length + 4)
    return out
  }
  const ihdr = Buffer.alloc(13)
  ihdr.writeUInt32BE(1, 0) // width
  ihdr.writeUInt32BE(1, 4) // height
  ihdr[8] = 8 // bit depth
  ihdr[9] = 6 // RGBA
  const signature = Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a])
  return Buffer.concat([signature, chunk('IHDR', ihdr), chunk('IDAT', deflateSync(Buffer.from([0, 255, 0, 0, 255]))), chunk('IEND', Buffer.alloc(0))])
}

const PNG = minimalPng()
const JPEG = Buffer.concat([Buffer.from([0xff, 0xd8, 0xff, 0xe0, 0x00, 0x10]), Buffer.from('JFIF\0'), Buffer.alloc(20), Buffer.from([0xff, 0xd9])])
const WEBP = Buffer.concat([Buffer.from('RIFF'), Buffer.from([26, 0, 0, 0]), Buffer.from('WEBPVP8L'), Buffer.alloc(18)])

function listen(server: http.Server, port: number, host: string): Promise<number> {
  return new Promise((resolve, reject) => {
    server.once('error', reject)
    server.listen(port, host, () => resolve((server.address() as AddressInfo).port))
  })
}

async function close(server: http.Server): Promise<void> {
  if (!server.listening) return
  server.closeAllConnections()
  await new Promise((resolve) => server.close(resolve))
}

/** Servers that must never be reached: they only count accepted connections. */
const canary = { port: 0, connections: 0, v6: false, servers: [] as http.Server[] }
/** The allowlisted fixture that serves the test bodies; `hits` counts requests by path. */
const fixture = { port: 0, server: http.createServer(), hits: new Map<string, number>() }
/** A server at 127.0.0.2 on the fixture's port, reached only if a name were resolved a second time. */
const rebound = { connections: 0, server: http.createServer(), up: false }

function serve(req: http.IncomingMessage, res: http.ServerResponse): void {
  const url = new URL(req.url ?? '/', 'http://fixture')
  fixture.hits.set(url.pathname, (fixture.hits.get(url.pathname) ?? 0) + 1)
  const redirect = (to: string, status = 302): void => void res.writeHead(status, { location: to }).end()
  switch (url.pathname) {
    case '/logo.png':
      return void res.writeHead(200, { 'content-type': 'text/plain' }).end(PNG) // type comes from the bytes
    case '/photo':
      return void res.writeHead(200, { 'content-type': 'application/octet-stream' }).end(JPEG)
    case '/anim':
      return void res.end(WEBP)
    case '/page':
      return void res.writeHead(200, { 'content-type': 'image/png' }).end('<!doctype html><title>not an image</title>')
    case '/gif':
      return void res.writeHead(200, { 'content-type': 'image/gif' }).end(Buffer.concat([Buffer.from('GIF89a'), Buffer.alloc(20)]))
    case '/tiny':
      return void res.end(Buffer.from([0xff, 0xd8, 0xff]))
    case '/exact':
      return void res.end(Buffer.concat([PNG, Buffer.alloc(LIMIT - PNG.length)]))
    case '/declared-huge':
      res.writeHead(200, { 'content-length': String(LIMIT * 100) })
      return void res.write(PNG) // then stalls: only an early rejection ends the fetch quickly
    case '/chunked-huge': {
      res.writeHead(200, { 'content-type': 'image/png' }) // no Content-Length: chunked
      res.write(PNG)
      let sent = 0
      const more = () => {
        if (res.destroyed || sent++ >= 64) return void res.end()
        res.write(Buffer.alloc(1024), () => setImmediate(more))
      }
      return more()
    }
    case '/truncated':
      res.writeHead(200, { 'content-length': '1000' })
      return void res.write(PNG, () => res.socket?.destroy())
    case '/slow':
      res.writeHead(200)
      return void res.write(PNG.subarray(0, 20)) // and never finishes
    case '/hang':
      return // no response at all
    case '/loop':
      return redirect('/loop')
    case '/chain/2':
      return redirect('/chain/1', 301)
    case '/chain/1':
      return redirect('/logo.png', 307)
    case '/redirect':
      return redirect(url.searchParams.get('to') ?? '/', Number(url.searchParams.get('status') ?? 302))
    case '/no-location':
      return void res.writeHead(302).end()
    default:
      return void res.writeHead(Number(url.pathname.replace('/status/', '')) || 404).end('nope')
  }
}

before(async () => {
  const counted = () => {
    const server = http.createServer((_req, res) => res.end('canary'))
    server.on('connection', () => canary.connections++)
    canary.servers.push(server)
    return server
  }
  canary.port = await listen(counted(), 0, '127.0.0.1')
  // The same port on ::1, so [::1], [::] and names resolving to ::1 would land here too if let through.
  canary.v6 = await listen(counted(), canary.port, '::1').then(
    () => true,
    () => false,
  )
  fixture.server.on('request', serve)
  fixture.port = await listen(fixture.server, 0, '127.0.0.1')
  rebound.server.on('connection', () => rebound.connections++)
  rebound.up = await listen(rebound.server, fixture.port, '127.0.0.2').then(
    () => true,
    () => false,
  )
})

after(async () => {
  await Promise.all([...canary.servers, fixture.server, rebound.server].map(close))
})

let destDir = ''
beforeEach(() => {
  destDir = mkdtempSync(path.join(tmpdir(), 'weft-asset-'))
  fixture.hits.clear()
})

const at = (p: string) => `http://127.0.0.1:${fixture.port}${p}`
const files = () => readdirSync(destDir)

/** Options that trust only the fixture (host and port). */
function trusted(extra: Partial<FetchAssetOptions> = {}): FetchAssetOptions {
  return { destDir, name: 'brand', allow: [`127.0.0.1:${fixture.port}`], timeoutMs: 5000, ...extra }
}

/** A DNS lookup that answers from a table and records what it was asked. */
function fakeDns(table: Record<string, string[] | NodeJS.ErrnoException>): LookupFunction & { calls: string[] } {
  const calls: string[] = []
  const lookup: LookupFunction = (hostname, options, callback) => {
    calls.push(hostname)
    const entry = table[hostname] ?? Object.assign(new Error(`getaddrinfo ENOTFOUND ${hostname}`), { code: 'ENOTFOUND' })
    if (!Array.isArray(entry)) return callback(entry, '')
    const found = entry.map((address) => ({ address, family: address.includes(':') ? 6 : 4 }))
    if (options.all) callback(null, found)
    else callback(null, found[0]?.address ?? '', found[0]?.family)
  }
  return Object.assign(lookup, { calls })
}

/** Awaits a failure and checks its code and reason; returns details plus `retryable`. */
async function failure(p: Promise<unknown>, reason: string): Promise<Record<string, unknown>> {
  const err = (await p.then(
    (ok) => assert.fail(`expected ${reason}, got ${JSON.stringify(ok)}`),
    (e: unknown) => e,
  )) as WeftError
  assert.equal(err.code, 'ASSET_UNREADABLE', String(err))
  const details = err.details as Record<string, unknown>
  assert.equal(details.reason, reason, err.message)
  return { ...details, retryable: err.retryable }
}

/** Runs a fetch that must be refused, checking that neither the canary nor DNS was reached. */
async function refused(url: string, reason: string, opts: Partial<FetchAssetOptions> = {}): Promise<Record<string, unknown>> {
  const before = canary.connections
  const outcome = fetchAsset(url, trusted({ ports: [canary.port], ...opts }))
  await outcome.catch(() => {})
  assert.equal(canary.connections - before, 0, 'the canary accepted a connection')
  const details = await failure(outcome, reason)
  assert.deepEqual(files(), [])
  return details
}

describe('fetchAsset: addresses that are refused before any connection', () => {
  const P = () => canary.port
  // [URL, ipaddr.js range (or our name) it must be refused as]. The canary's port is allowed, so only the
  // address check stands between these URLs and the canary.
  const literals: Array<[(p: number) => string, string]> = [
    [(p) => `http://127.0.0.1:${p}/`, 'loopback'],
    [(p) => `http://2130706433:${p}/`, 'loopback'], // decimal
    [(p) => `http://0x7f000001:${p}/`, 'loopback'], // hex
    [(p) => `http://0x7f.0.0.1:${p}/`, 'loopback'],
    [(p) => `http://0x7f.1:${p}/`, 'loopback'],
    [(p) => `http://0177.0.0.1:${p}/`, 'loopback'], // octal
    [(p) => `http://017700000001:${p}/`, 'loopback'],
    [(p) => `http://127.1:${p}/`, 'loopback'], // short form
    [(p) => `http://127.0.0.1.:${p}/`, 'loopback'], // trailing dot
    [(p) => `http://127.0.0.%31:${p}/`, 'loopback'], // percent-encoded
    [(p) => `http://１２７.０.０.１:${p}/`, 'loopback'], // fullwidth digits
    [(p) => `http://127.255.255.254:${p}/`, 'loopback'],
    [(p) => `http://[::ffff:127.0.0.1]:${p}/`, 'ipv4Mapped:loopback'],
    [(p) => `http://[::ffff:7f00:1]:${p}/`, 'ipv4Mapped:loopback'],
    [(p) => `http://[::ffff:0:7f00:1]:${p}/`, 'rfc6145:loopback'],
    [(p) => `http://[::127.0.0.1]:${p}/`, 'unassigned'], // deprecated IPv4-compatible
    [(p) => `http://[64:ff9b::7f00:1]:${p}/`, 'rfc6052:loopback'], // NAT64
    [(p) => `http://[64:ff9b::127.0.0.1]:${p}/`, 'rfc6052:loopback'],
    [(p) => `http://[64:ff9b:1::a00:1]:${p}/`, 'rfc6052'], // local-use NAT64 prefix
    [(p) => `http://[2002:7f00:1::]:${p}/`, '6to4:loopback'],
    [(p) => `http://[2001:0:4136:e378:8000:63bf:3fff:fdd2]:${p}/`, 'teredo'],
    [(p) => `http://[::1]:${p}/`, 'loopback'],
    [(p) => `http://[0:0:0:0:0:0:0:1]:${p}/`, 'loopback'],
    [(p) => `http://[::]:${p}/`, 'unspecified'],
    [(p) => `http://0.0.0.0:${p}/`, 'unspecified'],
    [(p) => `http://0:${p}/`, 'unspecified'],
    [() => 'http://169.254.169.254/latest/meta-data/', 'linkLocal'],
    [() => 'http://169.254.170.2/v2/credentials', 'linkLocal'],
    [() => 'http://[fd00:ec2::254]/latest/meta-data/', 'uniqueLocal'],
    [() => 'http://100.100.100.200/latest/meta-data/', 'carrierGradeNat'],
    [() => 'http://192.0.0.192/opc/v2/instance/', 'reserved'],
    [() => 'http://168.63.129.16/machine', 'metadata'],
    [() => 'http://[2002:a9fe:a9fe::]/latest/meta-data/', '6to4:linkLocal'],
    [() => 'http://10.0.0.1/', 'private'],
    [() => 'http://172.16.0.1/', 'private'],
    [() => 'http://192.168.1.1/', 'private'],
    [() => 'http://100.64.0.1/', 'carrierGradeNat'],
    [() => 'http://224.0.0.1/', 'multicast'],
    [() => 'http://255.255.255.255/', 'broadcast'],
    [() => 'http://4294967295/', 'broadcast'],
    [() => 'http://240.0.0.1/', 'reserved'],
    [() => 'http://[fe80::1]/', 'linkLocal'],
    [() => 'http://[fc00::1]/', 'uniqueLocal'],
    [() => 'http://[ff02::1]/', 'multicast'],
    [() => 'http://[2001:db8::1]/', 'reserved'],
  ]
  for (const [spell, range] of literals) {
    it(`refuses ${spell(0).replace(':0/', ':<canary>/')} as ${range}`, async () => {
      const lookup = fakeDns({})
      const details = await refused(spell(P()), 'blocked_address', { lookup })
      assert.equal(details.range, range)
      assert.deepEqual(lookup.calls, [])
    })
  }

  const names: Array<[(p: number) => string, string]> = [
    [(p) => `http://localhost:${p}/`, 'local name'],
    [(p) => `http://localhost.:${p}/`, 'local name'],
    [(p) => `http://LOCALHOST:${p}/`, 'local name'],
    [(p) => `http://LocalHost..:${p}/`, 'local name'],
    [(p) => `http://assets.localhost:${p}/`, 'local name'],
    [(p) => `http://%6c%6f%63%61%6c%68%6f%73%74:${p}/`, 'local name'],
    [() => 'http://metadata.google.internal/computeMetadata/v1/', 'local name'],
    [() => 'http://metadata.google.internal./computeMetadata/v1/', 'local name'],
    [() => 'http://instance-data.ec2.internal/latest/', 'local name'],
    [() => 'http://printer.local/', 'local name'],
    [() => 'http://metadata/computeMetadata/v1/', 'single-label name'],
  ]
  for (const [spell, range] of names) {
    it(`refuses ${spell(0).replace(':0/', ':<canary>/')} by name, without asking DNS`, async () => {
      // Were the name let through, this DNS would send it to the canary.
      const lookup = fakeDns({ localhost: ['127.0.0.1'], 'assets.localhost': ['127.0.0.1'], 'metadata.google.internal': ['127.0.0.1'] })
      const details = await refused(spell(P()), 'blocked_address', { lookup })
      assert.equal(details.range, range)
      assert.deepEqual(lookup.calls, [])
    })
  }

  it('refuses other schemes', async () => {
    for (const url of ['ftp://assets.example/logo.png', 'file:///etc/passwd', `gopher://127.0.0.1:${P()}/`, 'data:image/png;base64,iVBORw0KGgo=', 'javascript:alert(1)', 'ws://assets.example/']) {
      await refused(url, 'bad_scheme')
    }
  })

  it('refuses what is not an absolute URL', async () => {
    for (const url of ['not a url', '/logo.png', 'http://1.2.3.4.5/', 'http://[::1/']) await refused(url, 'bad_url')
  })

  it('refuses credentials in the URL, even for an allowlisted host', async () => {
    await refused(`http://user:secret@assets.example:${P()}/`, 'credentials')
    await refused(at('/logo.png').replace('http://', 'http://user@'), 'credentials')
    assert.equal(fixture.hits.size, 0)
  })

  it('refuses ports other than 80 and 443 unless allowed, before resolving', async () => {
    const lookup = fakeDns({ 'evil.example': ['127.0.0.1'] })
    const details = await refused(`http://evil.example:${P()}/`, 'blocked_port', { lookup, ports: undefined })
    assert.equal(details.port, canary.port)
    await refused('http://93.184.215.14:8080/', 'blocked_port', { ports: undefined })
    assert.deepEqual(lookup.calls, [])
  })
})

describe('fetchAsset: names that resolve to refused addresses', () => {
  const answers: Array<[string[], string, string]> = [
    [['127.0.0.1'], '127.0.0.1', 'loopback'],
    [['::1'], '::1', 'loopback'],
    [['::ffff:127.0.0.1'], '::ffff:127.0.0.1', 'ipv4Mapped:loopback'],
    [['169.254.169.254'], '169.254.169.254', 'linkLocal'],
    [['fd00:ec2::254'], 'fd00:ec2::254', 'uniqueLocal'],
    [['10.0.0.1'], '10.0.0.1', 'private'],
    [['0.0.0.0'], '0.0.0.0', 'unspecified'],
    // Every answer is checked, not only the first or the last.
    [['8.8.8.8', '127.0.0.1'], '127.0.0.1', 'loopback'],
    [['127.0.0.1', '8.8.8.8'], '127.0.0.1', 'loopback'],
  ]
  for (const [addresses, address, range] of answers) {
    it(`refuses evil.example resolving to ${addresses.join(', ')}`, async () => {
      const lookup = fakeDns({ 'evil.example': addresses })
      const details = await refused(`http://evil.example:${canary.port}/logo.png`, 'blocked_address', { lookup })
      assert.equal(details.address, address)
      assert.equal(details.range, range)
      assert.deepEqual(lookup.calls, ['evil.example'])
    })
  }

  it('checks a trailing-dot name the same way', async () => {
    const lookup = fakeDns({ 'evil.example': ['127.0.0.1'] })
    const details = await refused(`http://EVIL.example.:${canary.port}/`, 'blocked_address', { lookup })
    assert.equal(details.range, 'loopback')
  })

  it('reports DNS failures as dns, retryable only when temporary', async () => {
    const pick = (d: Record<string, unknown>) => [d.code, d.retryable]
    const temporary = Object.assign(new Error('getaddrinfo EAI_AGAIN'), { code: 'EAI_AGAIN' })
    const lookup = fakeDns({ 'empty.example': [], 'flaky.example': temporary, 'junk.example': ['not-an-ip'] })
    const url = (host: string) => `http://${host}:${canary.port}/`
    assert.deepEqual(pick(await refused(url('missing.example'), 'dns', { lookup })), ['ENOTFOUND', false])
    assert.deepEqual(pick(await refused(url('flaky.example'), 'dns', { lookup })), ['EAI_AGAIN', true])
    assert.equal((await refused(url('empty.example'), 'dns', { lookup })).retryable, false)
    await refused(url('junk.example'), 'dns', { lookup })
    assert.deepEqual(lookup.calls, ['missing.example', 'flaky.example', 'empty.example', 'junk.example'])
  })
})

describe('fetchAsset: redirects', () => {
  const via = (to: string, status = 302) => at(`/redirect?status=${status}&to=${encodeURIComponent(to)}`)

  it('re-checks every redirect target: an allowlisted server cannot bounce the fetch inside', async () => {
    const P = canary.port
    const lookup = fakeDns({ 'evil.example': ['127.0.0.1'] })
    const targets: Array<[string, string]> = [
      [`http://127.0.0.1:${P}/`, 'loopback'],
      [`http://2130706433:${P}/`, 'loopback'],
      [`http://[::1]:${P}/`, 'loopback'],
      [`http://[::ffff:127.0.0.1]:${P}/`, 'ipv4Mapped:loopback'],
      [`http://localhost:${P}/`, 'local name'],
      ['http://169.254.169.254/latest/meta-data/', 'linkLocal'],
      [`http://evil.example:${P}/`, 'loopback'],
    ]
    for (const [to, range] of targets) {
      for (const status of [302, 307]) {
        const details = await refused(via(to, status), 'blocked_address', { lookup })
        assert.equal(details.range, range)
        assert.equal(details.redirectedTo, new URL(to).href)
        assert.equal(details.url, via(to, status))
      }
    }
    assert.equal(fixture.hits.get('/redirect'), targets.length * 2)
  })

  it('re-checks scheme and credentials of a redirect target', async () => {
    await refused(via('file:///etc/passwd'), 'bad_scheme')
    await refused(via(at('/logo.png').replace('http://', 'http://user:pw@')), 'credentials')
    assert.equal(fixture.hits.get('/logo.png'), undefined)
  })

  it('follows relative redirects through the same checks', async () => {
    const got = await fetchAsset(at('/chain/2'), trusted())
    assert.equal(got.finalUrl, at('/logo.png'))
    assert.equal(got.type, 'png')
  })

  it('gives up on a loop after maxRedirects', async () => {
    const details = await refused(at('/loop'), 'too_many_redirects')
    assert.equal(details.maxRedirects, 3)
    assert.equal(fixture.hits.get('/loop'), 4)
    await refused(at('/chain/1'), 'too_many_redirects', { maxRedirects: 0 })
    assert.equal(fixture.hits.get('/logo.png'), undefined)
  })

  it('treats a redirect without Location as an HTTP failure', async () => {
    assert.equal((await refused(at('/no-location'), 'http_status')).status, 302)
  })
})

describe('fetchAsset: allowlisted fetches', () => {
  it('writes a PNG named by its bytes, not its Content-Type', async () => {
    const got = await fetchAsset(at('/logo.png'), trusted())
    assert.deepEqual(got, { path: path.join(destDir, 'brand.png'), type: 'png', bytes: PNG.length, finalUrl: at('/logo.png') })
    assert.deepEqual(readFileSync(got.path), PNG)
    assert.deepEqual(files(), ['brand.png'])
  })

  it('recognises JPEG and WebP', async () => {
    const jpeg = await fetchAsset(at('/photo'), trusted({ name: 'photo' }))
    assert.deepEqual([jpeg.type, path.basename(jpeg.path), jpeg.bytes], ['jpeg', 'photo.jpg', JPEG.length])
    const webp = await fetchAsset(at('/anim'), trusted({ name: 'anim' }))
    assert.deepEqual([webp.type, path.basename(webp.path), webp.bytes], ['webp', 'anim.webp', WEBP.length])
  })

  it('creates destDir when missing', async () => {
    const nested = path.join(destDir, 'a', 'b')
    const got = await fetchAsset(at('/logo.png'), trusted({ destDir: nested }))
    assert.deepEqual(readdirSync(nested), ['brand.png'])
    assert.equal(got.path, path.join(nested, 'brand.png'))
  })

  it('refuses bodies that are not PNG, JPEG or WebP, whatever their Content-Type', async () => {
    await refused(at('/page'), 'not_image')
    await refused(at('/gif'), 'not_image')
    await refused(at('/tiny'), 'not_image')
  })

  it('an allowlisted name may resolve to loopback, and is resolved only once', async () => {
    const lookup = fakeDns({ 'cdn.test': ['127.0.0.1'] })
    const got = await fetchAsset(`http://CDN.test.:${fixture.port}/logo.png`, trusted({ allow: [`cdn.test:${fixture.port}`], lookup }))
    assert.equal(got.bytes, PNG.length)
    assert.deepEqual(lookup.calls, ['cdn.test'])
  })

  it('connects to the address it resolved: a second answer (DNS rebinding) is never used', async (t) => {
    if (!rebound.up) return t.skip('127.0.0.2 cannot be bound on this host (Linux binds all of 127/8)')
    let calls = 0
    const lookup: LookupFunction = (_host, options, callback) => {
      const address = calls++ === 0 ? '127.0.0.1' : '127.0.0.2'
      if (options.all) callback(null, [{ address, family: 4 }])
      else callback(null, address, 4)
    }
    const got = await fetchAsset(`http://cdn.test:${fixture.port}/logo.png`, trusted({ allow: [`cdn.test:${fixture.port}`], lookup }))
    assert.equal(got.type, 'png')
    assert.equal(calls, 1)
    assert.equal(rebound.connections, 0)
  })

  it('a host-only allowlist entry trusts the address but not the port', async () => {
    await refused(at('/logo.png'), 'blocked_port', { allow: ['127.0.0.1'], ports: undefined })
    assert.equal(fixture.hits.size, 0)
    const got = await fetchAsset(at('/logo.png'), trusted({ allow: ['127.0.0.1'], ports: [fixture.port] }))
    assert.equal(got.type, 'png')
  })

  it('an entry for another port does not trust this one', async () => {
    const details = await refused(at('/logo.png'), 'blocked_address', { allow: ['127.0.0.1:1'], ports: [fixture.port] })
    assert.equal(details.range, 'loopback')
    assert.equal(fixture.hits.size, 0)
  })

  it('refuses HTTP error statuses; 5xx is retryable, 4xx is not', async () => {
    const notFound = await refused(at('/status/404'), 'http_status')
    assert.deepEqual([notFound.status, notFound.retryable], [404, false])
    const unavailable = await refused(at('/status/503'), 'http_status')
    assert.deepEqual([unavailable.status, unavailable.retryable], [503, true])
  })

  it('https to a plain-HTTP port fails as tls, with nothing written', async () => {
    const details = await refused(at('/logo.png').replace('http:', 'https:'), 'tls')
    assert.equal(details.retryable, false)
  })

  it('a refused connection is a retryable network failure', async () => {
    const server = http.createServer()
    const port = await listen(server, 0, '127.0.0.1')
    await close(server)
    const details = await refused(`http://127.0.0.1:${port}/`, 'network', { allow: [`127.0.0.1:${port}`] })
    assert.deepEqual([details.code, details.retryable], ['ECONNREFUSED', true])
  })
})

describe('fetchAsset: size', () => {
  it('accepts a body of exactly maxBytes', async () => {
    const got = await fetchAsset(at('/exact'), trusted({ maxBytes: LIMIT }))
    assert.equal(got.bytes, LIMIT)
  })

  it('refuses an over-size Content-Length before reading the body', async () => {
    // The server stalls after the headers, so only an early refusal beats the timeout.
    const details = await refused(at('/declared-huge'), 'too_large', { maxBytes: LIMIT })
    assert.deepEqual([details.bytes, details.maxBytes], [LIMIT * 100, LIMIT])
  })

  it('counts a chunked body and stops it over the cap, leaving no file', async () => {
    const details = await refused(at('/chunked-huge'), 'too_large', { maxBytes: LIMIT })
    assert.equal(details.maxBytes, LIMIT)
  })

  it('a body cut short is a network failure, leaving no file', async () => {
    await refused(at('/truncated'), 'network')
  })
})

// A bounded test timeout, so an implementation without a working timeout fails instead of hanging.
describe('fetchAsset: time and cancellation', { timeout: 10_000 }, () => {
  it('times out on a server that stalls mid-body, after timeoutMs and not before', async () => {
    mock.timers.enable({ apis: ['setTimeout'] })
    try {
      const arrived = once(fixture.server, 'request')
      let settled = false
      const pending = fetchAsset(at('/slow'), trusted({ timeoutMs: 2000 })).finally(() => {
        settled = true
      })
      await arrived
      await new Promise((resolve) => setImmediate(resolve))
      mock.timers.tick(1999)
      await new Promise((resolve) => setImmediate(resolve))
      assert.equal(settled, false)
      mock.timers.tick(1)
      const details = await failure(pending, 'timeout')
      assert.deepEqual([details.timeoutMs, details.retryable], [2000, true])
      assert.deepEqual(files(), [])
    } finally {
      mock.timers.reset()
    }
  })

  it('times out on a server that never answers', async () => {
    mock.timers.enable({ apis: ['setTimeout'] })
    try {
      const arrived = once(fixture.server, 'request')
      const pending = fetchAsset(at('/hang'), trusted({ timeoutMs: 2000 }))
      await arrived
      mock.timers.tick(2000)
      await failure(pending, 'timeout')
    } finally {
      mock.timers.reset()
    }
  })

  it('stops when the caller aborts, leaving no file', async () => {
    const controller = new AbortController()
    const arrived = once(fixture.server, 'request')
    const pending = fetchAsset(at('/slow'), trusted({ signal: controller.signal }))
    await arrived
    controller.abort()
    assert.equal((await failure(pending, 'aborted')).retryable, false)
    assert.deepEqual(files(), [])
  })

  it('an already-aborted signal never connects', async () => {
    await failure(fetchAsset(at('/logo.png'), trusted({ signal: AbortSignal.abort() })), 'aborted')
    assert.equal(fixture.hits.size, 0)
  })
})

describe('fetchAsset options and helpers', () => {
  const invalid = async (opts: Partial<FetchAssetOptions>) => {
    const err = (await fetchAsset(at('/logo.png'), trusted(opts)).then(
      () => assert.fail('expected ASSET_OPTIONS_INVALID'),
      (e: unknown) => e,
    )) as WeftError
    assert.equal(err.code, 'ASSET_OPTIONS_INVALID')
  }

  it('refuses names that are not plain file stems, and malformed limits or allowlists', async () => {
    for (const name of ['', '../escape', 'a/b', '.hidden', 'a\\b']) await invalid({ name })
    await invalid({ maxRedirects: -1 })
    await invalid({ maxBytes: 0 })
    await invalid({ ports: [70000] })
    for (const entry of ['http://cdn.example', 'cdn.example:99999', 'a:b']) await invalid({ allow: [entry] })
    assert.equal(fixture.hits.size, 0)
  })

  it('parseAssetAllowlist splits on commas and whitespace', () => {
    assert.deepEqual(parseAssetAllowlist(' cdn.local:8080, 127.0.0.1:9000\n[::1]:80  '), ['cdn.local:8080', '127.0.0.1:9000', '[::1]:80'])
    assert.deepEqual(parseAssetAllowlist(undefined), [])
  })

  it('blockedRange lets public addresses through, including public IPv4 carried in IPv6', () => {
    for (const ok of ['8.8.8.8', '93.184.215.14', '2606:4700:4700::1111', '::ffff:8.8.8.8', '64:ff9b::808:808', '2002:808:808::']) {
      assert.equal(blockedRange(ok), null, ok)
    }
    assert.equal(blockedRange('2002:a00:1::'), '6to4:private')
    assert.equal(blockedRange('example.com'), 'not an IP address')
  })
})
