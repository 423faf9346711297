// Fetches brand asset images from user-given URLs without letting the URL reach internal addresses (SSRF).
import { type Clock, systemClock } from '../engine/clock.ts'
import { randomBytes } from 'node:crypto'
import { lookup as dnsLookup, type LookupAddress } from 'node:dns'
import { mkdir, open, rename, rm } from 'node:fs/promises'
import http from 'node:http'
import https from 'node:https'
import { isIP, type LookupFunction } from 'node:net'
import path from 'node:path'
import { Transform } from 'node:stream'
import { pipeline } from 'node:stream/promises'
import ipaddr from 'ipaddr.js'
import { WeftError } from '../engine/errors.ts'

/** Image formats accepted as assets, recognised from the file's first bytes. */
export type AssetType = 'png' | 'jpeg' | 'webp'

/** Why a fetch failed: `details.reason` of an `ASSET_UNREADABLE` error. */
type AssetFailureReason =
  | 'bad_url'
  | 'bad_scheme'
  | 'credentials'
  | 'blocked_port'
  | 'blocked_address'
  | 'dns'
  | 'network'
  | 'tls'
  | 'timeout'
  | 'aborted'
  | 'http_status'
  | 'too_many_redirects'
  | 'too_large'
  | 'not_image'
  | 'write_failed'

/** Options of {@link fetchAsset}. */
export interface FetchAssetOptions {
  /** Folder the image is written to (created if missing). */
  destDir: string
  /** File name stem: letters, digits, `_`, `-`, `.`; no paths. The extension comes from the detected type. */
  name: string
  /** Largest accepted body in bytes. Default 10 MiB. */
  maxBytes?: number | undefined
  /** Budget for the whole fetch, redirects and writing included. Default 10 000 ms. */
  timeoutMs?: number | undefined
  /** Redirects followed before giving up. Default 3. */
  maxRedirects?: number | undefined
  /**
   * Hosts that may resolve to loopback or private addresses, as `host` or `host:port` (e.g. from
   * WEFT_ASSET_ALLOWLIST via {@link parseAssetAllowlist}). A `host` entry still only allows `ports`; a
   * `host:port` entry also allows that port, and only that port is exempt from the address checks.
   */
  allow?: string[] | undefined
  /** Ports allowed for hosts not allowlisted with a port. Default `[80, 443]`. */
  ports?: number[] | undefined
  /** Cancels the fetch; it then fails with reason `aborted`. */
  signal?: AbortSignal | undefined
  /** DNS lookup with `dns.lookup`'s signature (tests map names to addresses with it). */
  lookup?: LookupFunction | undefined
  /** The clock of the time budget (default: the system's). */
  clock?: Clock | undefined
}

/** A fetched asset: where it was written, what it is, and where it finally came from. */
export interface FetchedAsset {
  path: string
  type: AssetType
  bytes: number
  finalUrl: string
}

/** Largest asset in bytes (fetched by default, and uploaded): 10 MiB. */
export const MAX_ASSET_BYTES = 10 * 1024 * 1024

const DEFAULTS = { maxBytes: MAX_ASSET_BYTES, timeoutMs: 10_000, maxRedirects: 3, ports: [80, 443] }
const REDIRECTS = new Set([301, 302, 303, 307, 308])
/** The file extension each asset type is saved with. */
export const ASSET_EXTENSIONS: Readonly<Record<AssetType, string>> = { png: 'png', jpeg: 'jpg', webp: 'webp' }

// Cloud metadata endpoints that ipaddr.js classes as ordinary unicast. The others are already outside it:
// 169.254.169.254 and 169.254.170.2 (link-local), fd00:ec2::254 (unique-local), 100.100.100.200 (CGNAT),
// 192.0.0.192 (reserved).
const METADATA_ADDRESSES = new Set(['168.63.129.16'])
// Names that never belong to a public asset host: RFC 6761 localhost, mDNS, private-use TLDs (where
// metadata.google.internal and *.ec2.internal live).
const LOCAL_SUFFIXES = ['.localhost', '.local', '.internal', '.home.arpa', '.localdomain']
const NAT64_WELL_KNOWN = ipaddr.parseCIDR('64:ff9b::/96')
// Everything outside 2000::/3 is unassigned (or special and named by ipaddr.js), including the deprecated
// IPv4-compatible ::a.b.c.d, which ipaddr.js calls unicast.
const IPV6_GLOBAL = ipaddr.parseCIDR('2000::/3')

/** Splits an allowlist setting such as WEFT_ASSET_ALLOWLIST (`cdn.local:8080, 127.0.0.1:9000`) into entries. */
export function parseAssetAllowlist(value: string | undefined): string[] {
  return (value ?? '').split(/[\s,]+/).filter(Boolean)
}

/**
 * Why an IP address may not be fetched from (the ipaddr.js range name, `metadata`, or `<carrier>:<range>` for
 * an IPv4 address embedded in IPv6), or null when it is public unicast.
 */
export function blockedRange(address: string): string | null {
  if (!ipaddr.isValid(address)) return 'not an IP address'
  return classify(ipaddr.parse(address))
}

function classify(ip: ipaddr.IPv4 | ipaddr.IPv6): string | null {
  if (ip.kind() === 'ipv4') {
    if (METADATA_ADDRESSES.has(ip.toString())) return 'metadata'
    const range = ip.range()
    return range === 'unicast' ? null : range
  }
  const v6 = ip as ipaddr.IPv6
  const range = v6.range()
  const inner = embeddedIPv4(v6, range)
  if (inner) {
    const innerRange = classify(inner)
    return innerRange === null ? null : `${range}:${innerRange}`
  }
  if (range !== 'unicast') return range
  return v6.match(IPV6_GLOBAL) ? null : 'unassigned'
}

/** The IPv4 address an IPv6 address carries and is routed to (mapped, translated, NAT64, 6to4). */
function embeddedIPv4(ip: ipaddr.IPv6, range: string): ipaddr.IPv4 | undefined {
  const [, p1 = 0, p2 = 0, , , , p6 = 0, p7 = 0] = ip.parts
  const v4 = (hi: number, lo: number) => new ipaddr.IPv4([hi >> 8, hi & 255, lo >> 8, lo & 255])
  if (range === 'ipv4Mapped' || range === 'rfc6145') return v4(p6, p7)
  if (range === 'rfc6052' && ip.match(NAT64_WELL_KNOWN)) return v4(p6, p7)
  if (range === '6to4') return v4(p1, p2)
  return undefined // teredo obfuscates its client address; it stays blocked as a whole
}

interface AllowEntry {
  host: string
  port: number | undefined
}

interface Settings {
  destDir: string
  name: string
  maxBytes: number
  timeoutMs: number
  maxRedirects: number
  allow: AllowEntry[]
  ports: number[]
  lookup: LookupFunction
}

/** What one hop of the fetch is about: the URL being requested now and the one the caller gave. */
interface Hop {
  input: string
  url: string
}

/**
 * Downloads a PNG, JPEG or WebP image from `url` into `destDir/<name>.<png|jpg|webp>` (replacing any file of
 * that name). Only http(s) on allowed ports; every host, literal or resolved, and every redirect is checked,
 * and the socket connects to the very address that was checked. Failures are `ASSET_UNREADABLE` with
 * `details.reason` ({@link AssetFailureReason}) and leave no file behind; bad options are `ASSET_OPTIONS_INVALID`.
 */
export async function fetchAsset(url: string, opts: FetchAssetOptions): Promise<FetchedAsset> {
  const settings = resolveOptions(opts)
  const hop: Hop = { input: url, url }
  const controller = new AbortController()
  const stopTimer = (opts.clock ?? systemClock).setTimer(() => controller.abort('timeout'), settings.timeoutMs)
  const onAbort = () => controller.abort('aborted')
  if (opts.signal?.aborted) onAbort()
  else opts.signal?.addEventListener('abort', onAbort, { once: true })
  let temp: string | undefined
  try {
    let target: URL
    try {
      target = new URL(url)
    } catch {
      throw fail(hop, 'bad_url', 'it is not an absolute URL')
    }
    const { res, finalUrl } = await follow(target, settings, hop, controller.signal)
    const declared = Number(res.headers['content-length'])
    if (Number.isFinite(declared) && declared > settings.maxBytes) {
      res.destroy()
      throw fail(hop, 'too_large', `Content-Length ${declared} is over the ${settings.maxBytes}-byte limit`, { bytes: declared, maxBytes: settings.maxBytes })
    }
    await mkdir(settings.destDir, { recursive: true }).catch((err: unknown) => {
      res.destroy()
      throw fail(hop, 'write_failed', `cannot create ${settings.destDir}`, {}, err)
    })
    temp = path.join(settings.destDir, `.${settings.name}.${randomBytes(6).toString('hex')}.part`)
    const file = await open(temp, 'wx').catch((err: unknown) => {
      res.destroy()
      throw fail(hop, 'write_failed', `cannot create a file in ${settings.destDir}`, {}, err)
    })
    const gate = new ImageGate(hop, settings.maxBytes)
    await pipeline(res, gate, file.createWriteStream(), { signal: controller.signal })
    const type = gate.type as AssetType // set, or the gate failed the pipeline
    const dest = path.join(settings.destDir, `${settings.name}.${ASSET_EXTENSIONS[type]}`)
    await rename(temp, dest).catch((err: unknown) => {
      throw fail(hop, 'write_failed', `cannot move the download to ${dest}`, {}, err)
    })
    temp = undefined
    return { path: dest, type, bytes: gate.bytes, finalUrl }
  } catch (err) {
    throw asAssetError(err, hop, controller.signal, settings.timeoutMs)
  } finally {
    stopTimer()
    opts.signal?.removeEventListener('abort', onAbort)
    if (temp) await rm(temp, { force: true })
  }
}

function resolveOptions(opts: FetchAssetOptions): Settings {
  const bad = (what: string) => new WeftError('ASSET_OPTIONS_INVALID', what, { retryable: false })
  if (!/^[A-Za-z0-9][\w.-]{0,127}$/.test(opts.name)) {
    throw bad(`asset name "${opts.name}" must be a file name stem (letters, digits, "_", "-", "."; no paths)`)
  }
  const positive = (key: 'maxBytes' | 'timeoutMs' | 'maxRedirects', min: number) => {
    const value = opts[key] ?? DEFAULTS[key]
    if (!Number.isInteger(value) || value < min) throw bad(`${key} must be an integer of at least ${min}, got ${value}`)
    return value
  }
  const ports = opts.ports ?? DEFAULTS.ports
  for (const p of ports) if (!isPort(p)) throw bad(`ports must be integers from 1 to 65535, got ${p}`)
  return {
    destDir: opts.destDir,
    name: opts.name,
    maxBytes: positive('maxBytes', 1),
    timeoutMs: positive('timeoutMs', 1),
    maxRedirects: positive('maxRedirects', 0),
    allow: (opts.allow ?? []).map((entry) => parseAllowEntry(entry, bad)),
    ports,
    lookup: opts.lookup ?? (dnsLookup as LookupFunction),
  }
}

function isPort(p: number): boolean {
  return Number.isInteger(p) && p > 0 && p < 65536
}

function parseAllowEntry(entry: string, bad: (what: string) => WeftError): AllowEntry {
  const text = entry.trim()
  // A bare IPv6 address (`::1`) has no room for a port; bracket it like a URL host.
  const m = /^(\[[^\]]+\]|[^:[\]]+)(?::(\d{1,5}))?$/.exec(text) ?? (text.includes('::') ? [text, `[${text}]`] : null)
  const port = m?.[2] === undefined ? undefined : Number(m[2])
  try {
    if (!m?.[1] || (port !== undefined && !isPort(port))) throw new Error('bad entry')
    return { host: hostKey(new URL(`http://${m[1]}/`).hostname), port }
  } catch {
    throw bad(`asset allowlist entry "${entry}" is not "host" or "host:port" (IPv6 as "[::1]:8080")`)
  }
}

/** The spelling hosts are compared and classified by: WHATWG-normalised, without trailing dots. */
function hostKey(hostname: string): string {
  return hostname.toLowerCase().replace(/\.+$/, '')
}

/** Requests `start`, following redirects through the same checks, and returns the final 200 response. */
async function follow(start: URL, settings: Settings, hop: Hop, signal: AbortSignal): Promise<{ res: http.IncomingMessage; finalUrl: string }> {
  let url = start
  for (let redirects = 0; ; redirects++) {
    hop.url = url.href
    const target = checkUrl(url, settings, hop)
    const res = await send(url, target, settings, hop, signal)
    const status = res.statusCode ?? 0
    if (REDIRECTS.has(status)) {
      res.destroy()
      const location = res.headers.location
      if (!location) throw fail(hop, 'http_status', `redirect ${status} has no Location header`, { status })
      if (redirects >= settings.maxRedirects) {
        throw fail(hop, 'too_many_redirects', `more than ${settings.maxRedirects} redirects (next: ${location})`, { maxRedirects: settings.maxRedirects })
      }
      try {
        url = new URL(location, url)
      } catch {
        throw fail(hop, 'bad_url', `redirect Location "${location}" is not a URL`)
      }
      continue
    }
    if (status !== 200) {
      res.destroy()
      throw fail(hop, 'http_status', `the server answered ${status}`, { status }, undefined, status === 408 || status === 429 || status >= 500)
    }
    return { res, finalUrl: url.href }
  }
}

interface Target {
  /** Host as given to the socket: no brackets, no trailing dot. */
  host: string
  port: number
  /** Allowlisted hosts may resolve to loopback and private addresses. */
  trusted: boolean
}

/** Checks a URL before any connection: scheme, credentials, host (literal or name) and port. */
function checkUrl(url: URL, settings: Settings, hop: Hop): Target {
  if (url.protocol !== 'http:' && url.protocol !== 'https:') {
    throw fail(hop, 'bad_scheme', `scheme "${url.protocol.replace(/:$/, '')}" is not http or https`)
  }
  if (url.username || url.password) throw fail(hop, 'credentials', 'URLs with credentials are not fetched')
  const key = hostKey(url.hostname)
  const host = key.replace(/^\[(.*)\]$/, '$1')
  const port = url.port ? Number(url.port) : url.protocol === 'https:' ? 443 : 80
  const entry = settings.allow.find((e) => e.host === key && (e.port === undefined || e.port === port))
  if (!entry) {
    const range = ipaddr.isValid(host) ? classify(ipaddr.parse(host)) : nameRange(key)
    if (range) throw blocked(hop, key, range)
  }
  if (entry?.port !== port && !settings.ports.includes(port)) {
    throw fail(hop, 'blocked_port', `port ${port} is not allowed (allowed: ${settings.ports.join(', ')}, or allowlist "${key}:${port}")`, { port })
  }
  return { host, port, trusted: entry !== undefined }
}

function nameRange(name: string): string | null {
  if (name === 'localhost' || LOCAL_SUFFIXES.some((s) => name.endsWith(s))) return 'local name'
  // A single label resolves through the search domains, i.e. to the local network (`metadata`, `intranet`).
  if (!name.includes('.')) return 'single-label name'
  return null
}

/** Opens one request whose socket can only connect to an address that passed the checks. */
function send(url: URL, target: Target, settings: Settings, hop: Hop, signal: AbortSignal): Promise<http.IncomingMessage> {
  return new Promise((resolve, reject) => {
    const client = url.protocol === 'https:' ? https : http
    const req = client.request({
      hostname: target.host,
      port: target.port,
      path: `${url.pathname}${url.search}`,
      method: 'GET',
      headers: { 'user-agent': 'weft-asset-fetch', accept: 'image/png, image/jpeg, image/webp', 'accept-encoding': 'identity' },
      // A fresh socket per request: a pooled one would skip the lookup below.
      agent: false,
      signal,
      lookup: pinnedLookup(target, settings.lookup, hop),
    })
    req.once('response', (res: http.IncomingMessage) => {
      // A reset before the body is piped must not become an uncaught 'error'; pipeline still sees the stream errored.
      res.on('error', () => {})
      resolve(res)
    })
    req.on('error', reject)
    req.end()
  })
}

/**
 * Resolves once, checks every address, and hands the socket a checked one, so nothing resolves the name a
 * second time (DNS rebinding). Node calls this only for names; literal addresses were checked in checkUrl.
 */
function pinnedLookup(target: Target, resolveName: LookupFunction, hop: Hop): LookupFunction {
  return (hostname, options, callback) => {
    const failWith = (err: WeftError) => callback(err as unknown as NodeJS.ErrnoException, '')
    resolveName(hostname, { all: true, verbatim: true }, (err, found) => {
      if (err) {
        return failWith(fail(hop, 'dns', `cannot resolve "${hostname}" (${err.code ?? err.message})`, { code: err.code }, err, err.code === 'EAI_AGAIN'))
      }
      const addresses: LookupAddress[] = typeof found === 'string' ? [{ address: found, family: isIP(found) }] : found
      if (addresses.length === 0) return failWith(fail(hop, 'dns', `"${hostname}" resolved to no address`))
      const invalid = addresses.find((a) => !ipaddr.isValid(a.address))
      if (invalid) return failWith(fail(hop, 'dns', `"${hostname}" resolved to "${invalid.address}", which is not an IP address`))
      if (!target.trusted) {
        for (const { address } of addresses) {
          const range = blockedRange(address)
          if (range) return failWith(blocked(hop, hostname, range, address))
        }
      }
      const chosen = addresses[0] as LookupAddress
      const ip = ipaddr.process(chosen.address) // IPv4-mapped answers connect over IPv4
      const pinned = { address: ip.toString(), family: ip.kind() === 'ipv4' ? 4 : 6 }
      if (options.all) callback(null, [pinned])
      else callback(null, pinned.address, pinned.family)
    })
  }
}

/** Counts and sniffs the body as it streams: fails over the size cap or when the first bytes are not an image. */
class ImageGate extends Transform {
  bytes = 0
  type: AssetType | undefined
  private head: Buffer[] = []

  constructor(
    private readonly hop: Hop,
    private readonly maxBytes: number,
  ) {
    super()
  }

  override _transform(chunk: Buffer, _encoding: BufferEncoding, done: (err?: Error | null, data?: Buffer) => void): void {
    this.bytes += chunk.length
    if (this.bytes > this.maxBytes) {
      return done(fail(this.hop, 'too_large', `the body is over the ${this.maxBytes}-byte limit`, { maxBytes: this.maxBytes }))
    }
    if (!this.type) {
      this.head.push(chunk)
      if (this.bytes >= 12) {
        this.type = sniffImage(Buffer.concat(this.head))
        this.head = []
        if (!this.type) return done(this.notImage())
      }
    }
    done(null, chunk)
  }

  override _flush(done: (err?: Error | null) => void): void {
    done(this.type ? null : this.notImage())
  }

  private notImage(): WeftError {
    return fail(this.hop, 'not_image', 'the body is not a PNG, JPEG or WebP image (checked by its first bytes)')
  }
}

/** The image type from a file's first 12 bytes, whatever the server (or client) called it. */
export function sniffImage(head: Buffer): AssetType | undefined {
  if (head.subarray(0, 8).equals(Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]))) return 'png'
  if (head[0] === 0xff && head[1] === 0xd8 && head[2] === 0xff) return 'jpeg'
  if (head.toString('latin1', 0, 4) === 'RIFF' && head.toString('latin1', 8, 12) === 'WEBP') return 'webp'
  return undefined
}

function blocked(hop: Hop, host: string, range: string, address?: string): WeftError {
  const what = address ? `"${host}" resolves to ${address}, which` : `"${host}"`
  return fail(hop, 'blocked_address', `${what} is not a public address (${range}); allowlist it to fetch from it`, { host, range, ...(address ? { address } : {}) })
}

function fail(hop: Hop, reason: AssetFailureReason, why: string, extra: Record<string, unknown> = {}, cause?: unknown, retryable = false): WeftError {
  const where = hop.url === hop.input ? hop.input : `${hop.input} (redirected to ${hop.url})`
  const details = { url: hop.input, ...(hop.url === hop.input ? {} : { redirectedTo: hop.url }), reason, ...extra }
  return new WeftError('ASSET_UNREADABLE', `cannot fetch asset ${where}: ${why}`, { details, cause, retryable })
}

const TLS_CODES = /^(ERR_SSL_|ERR_TLS_|CERT_|UNABLE_TO_|DEPTH_ZERO_SELF_SIGNED_CERT$|SELF_SIGNED_CERT_IN_CHAIN$|HOSTNAME_MISMATCH$)/

/** Turns whatever ended the fetch into an ASSET_UNREADABLE error; our own errors pass through. */
function asAssetError(err: unknown, hop: Hop, signal: AbortSignal, timeoutMs: number): WeftError {
  if (err instanceof WeftError && err.code === 'ASSET_UNREADABLE') return err
  if (signal.aborted) {
    return signal.reason === 'timeout' ? fail(hop, 'timeout', `it took longer than ${timeoutMs} ms`, { timeoutMs }, err, true) : fail(hop, 'aborted', 'the fetch was cancelled', {}, err)
  }
  const e = err as NodeJS.ErrnoException
  const code = typeof e?.code === 'string' ? e.code : undefined
  const message = e?.message ?? String(err)
  // OpenSSL failures come as EPROTO with the detail only in the message ("SSL routines:…:wrong version number:…").
  const openssl = /SSL routines:[^:]*:([^:]+)/.exec(message)?.[1]
  if (openssl || (code && TLS_CODES.test(code))) return fail(hop, 'tls', `TLS failed (${openssl ?? code})`, { code }, err)
  return fail(hop, 'network', `the connection failed (${code ?? message})`, code ? { code } : {}, err, true)
}
