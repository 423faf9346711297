// `weft serve`: the HTTP API and WebSocket server over the durable store, until SIGINT or SIGTERM.
import path from 'node:path'
import { WeftError } from '../engine/errors.ts'
import { weftDataDir } from '../engine/adapters/open-store.ts'
import { providerSettingsFromEnv } from '../engine/providers.ts'
import { prices } from '../engine/prices.ts'
import { parseApiKeys } from '../server/auth.ts'
import { createGenerationService } from '../server/generation-service.ts'
import { parseRateLimit } from '../server/rate-limit.ts'
import { isLoopback, startServer, type ServeOptions } from '../server/serve.ts'
import { createTokens, persistedTokenSecret, tokenSecretFromEnv } from '../server/tokens.ts'
import { leaseTtlMs, owner } from './drive.ts'
import { EXIT } from './exit.ts'
import { openStore } from './store.ts'

export interface ServeCommandOptions {
  port: number
  host: string
  /** Folder of `<name>.yaml` pipelines (default: `WEFT_PIPELINES_DIR`, or `pipelines` in the working directory). */
  pipelines?: string
  /**
   * Worker loops this process runs for the fleet (each takes up to 10 node attempts at once). Only with DATABASE_URL,
   * where it defaults to 1; 0 serves the API alone. Without DATABASE_URL, generations run in this process.
   */
  workers?: number
}

type Env = Record<string, string | undefined>

/** Server settings from the environment (everything but the store and providers); throws a WeftError naming the variable. */
export function serveSettingsFromEnv(env: Env = process.env): Omit<ServeOptions, 'service' | 'port' | 'host'> {
  const out: Omit<ServeOptions, 'service' | 'port' | 'host'> = { apiKeys: parseApiKeys(env.WEFT_API_KEYS) }
  if (env.WEFT_RATE_LIMIT) out.rateLimit = parseRateLimit(env.WEFT_RATE_LIMIT) ?? null
  if (env.WEFT_BODY_LIMIT) out.bodyLimitBytes = parseBytes(env.WEFT_BODY_LIMIT)
  if (env.WEFT_PUBLIC_URL) {
    if (!/^https?:\/\//.test(env.WEFT_PUBLIC_URL) || !URL.canParse(env.WEFT_PUBLIC_URL)) throw new WeftError('SETTING_INVALID', `WEFT_PUBLIC_URL must be an http(s) URL, got "${env.WEFT_PUBLIC_URL}"`)
    out.publicUrl = env.WEFT_PUBLIC_URL
  }
  if (env.WEFT_TRUST_PROXY === '1' || env.WEFT_TRUST_PROXY === 'true') out.trustProxy = true
  const origins = (env.WEFT_ALLOWED_ORIGINS ?? '')
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean)
  if (origins.length) {
    out.websocket = { allowedOrigins: origins }
    out.allowedOrigins = origins
  }
  out.tokens = createTokens({ ...optional('secret', tokenSecretFromEnv(env)) })
  return out
}

/** `1048576`, `512kb`, `2mb` (KiB/MiB: ×1024). */
export function parseBytes(value: string): number {
  const m = value
    .trim()
    .toLowerCase()
    .match(/^(\d{1,10})\s*(b|kb|kib|k|mb|mib|m)?$/)
  const n = m ? Number(m[1]) * ({ k: 1024, kb: 1024, kib: 1024, m: 1024 ** 2, mb: 1024 ** 2, mib: 1024 ** 2 }[m[2] ?? ''] ?? 1) : NaN
  if (!(n >= 1024)) throw new WeftError('SETTING_INVALID', `WEFT_BODY_LIMIT must be a size of at least 1kb such as 1048576, 512kb or 2mb, got "${value}"`)
  return n
}

/** Serves until SIGINT/SIGTERM; resolves to the exit code (0 after a clean shutdown, 2 for bad settings). */
export async function serveCommand(o: ServeCommandOptions, env: Env = process.env): Promise<number> {
  let settings: ReturnType<typeof serveSettingsFromEnv>
  let providers: ReturnType<typeof providerSettingsFromEnv>
  try {
    settings = serveSettingsFromEnv(env)
    providers = providerSettingsFromEnv(env)
    prices(env)
    if (env.DATABASE_URL) (await import('./worker.ts')).heartbeatTtlMs(env)
    // checked before the store opens (which can take seconds), and again by startServer
    if (!settings.apiKeys?.length && !isLoopback(o.host)) {
      throw new WeftError('AUTH_REQUIRED', `refusing to listen on ${o.host} without API keys: set WEFT_API_KEYS (id:key pairs, comma-separated) or use --host 127.0.0.1`)
    }
    // WebSocket tokens outlive a restart: without WEFT_WS_SECRET, the secret is kept in the data directory
    if (!tokenSecretFromEnv(env)) settings.tokens = createTokens({ secret: persistedTokenSecret(weftDataDir(env)) })
  } catch (err) {
    process.stderr.write(`error: ${(err as Error).message}\n`)
    return EXIT.invalid
  }
  const pipelinesDir = path.resolve(o.pipelines ?? env.WEFT_PIPELINES_DIR ?? 'pipelines')
  const url = env.DATABASE_URL
  if (o.workers !== undefined && !url) {
    process.stderr.write('error: --workers runs worker loops of the fleet, which needs Postgres: set DATABASE_URL (without it, generations run in this process)\n')
    return EXIT.invalid
  }
  const opened = url ? await (await import('../engine/adapters/open-fleet.ts')).openFleet(url) : undefined
  const store = opened ? opened.store : await openStore('db')
  let service: Awaited<ReturnType<typeof createGenerationService>> | undefined
  let sweep: NodeJS.Timeout | undefined
  let loops: { stop(): Promise<void> } | undefined
  let loopExecutor: { close(): Promise<void> } | undefined
  try {
    service = await createGenerationService({ store, dataDir: weftDataDir(env), pipelinesDir, providers, owner, leaseTtlMs: leaseTtlMs(env), ...(opened ? { fleet: opened } : {}) })
    const workers = o.workers ?? 1
    if (opened && workers > 0) {
      const { startFleetWorker } = await import('../engine/fleet/worker.ts')
      const { PiscinaExecutor } = await import('../engine/adapters/piscina-executor.ts')
      const { heartbeatTtlMs } = await import('./worker.ts')
      const { cacheSettingsFromEnv, withNodeCache } = await import('../engine/cache/settings.ts')
      const { executor, policy } = withNodeCache(() => new PiscinaExecutor({ providers, nice: 10 }), cacheSettingsFromEnv(weftDataDir(env), env), providers, {
        onProblem: (m) => process.stderr.write(`cache: ${m}\n`),
      })
      loopExecutor = executor
      loops = await startFleetWorker({
        connectionString: opened.url,
        fleet: opened.fleet,
        executor,
        cache: policy,
        concurrency: workers * 10,
        heartbeatTtlMs: heartbeatTtlMs(env),
        log: (m) => process.stderr.write(`${m}\n`),
      })
    }
    const running = await startServer({ ...settings, service, port: o.port, host: o.host })
    // resumed only once the server listens: a start that fails must leave interrupted runs as they are
    const resumed = await service.resumeInterrupted()
    if (resumed > 0) process.stderr.write(`resumed ${resumed} interrupted generation${resumed === 1 ? '' : 's'}\n`)
    // a run whose crashed driver still held its lease at start is picked up once the lease runs out
    const ttl = leaseTtlMs(env)
    sweep = setInterval(() => {
      service!.resumeInterrupted().then(
        (n) => n > 0 && process.stderr.write(`resumed ${n} interrupted generation${n === 1 ? '' : 's'}\n`),
        (err: Error) => process.stderr.write(`resuming interrupted generations failed: ${(err.cause as Error | undefined)?.message ?? err.message.split('\n')[0]}\n`),
      )
    }, ttl)
    sweep.unref()
    process.stdout.write(`weft serving on ${running.url} (docs: ${running.url}/docs)${settings.apiKeys?.length ? '' : ' — no API keys: loopback only'}\n`)
    if (opened)
      process.stderr.write(
        workers > 0
          ? `fleet on Postgres: ${workers} worker loop${workers === 1 ? '' : 's'} in this process (concurrency ${workers * 10}); weft worker processes may join\n`
          : 'fleet on Postgres, API only (--workers 0): generations wait in the queue until weft worker processes take them\n',
      )
    await untilSignal()
    process.stderr.write('shutting down…\n')
    await running.close()
    return 0
  } catch (err) {
    const e = err as { code?: string; message?: string }
    if (e.code === 'LISTEN_FAILED' || e.code === 'AUTH_REQUIRED') {
      process.stderr.write(`error: ${e.message}\n`)
      return EXIT.invalid
    }
    throw err
  } finally {
    // generations in progress are not cancelled on the way out: their leases are given up and the store is
    // closed under them (nothing more is recorded), so the next `weft serve` resumes them from their last
    // recorded step, asking their gates again
    clearInterval(sweep)
    await loops?.stop()
    await loopExecutor?.close()
    await service?.suspend()
    await store.close()
    await service?.close().catch(() => {})
  }
}

/** Resolves on the first SIGINT or SIGTERM; a second one exits at once. */
function untilSignal(): Promise<void> {
  return new Promise((resolve) => {
    let seen = 0
    const onSignal = () => {
      seen++
      if (seen > 1) process.exit(EXIT.cancelled)
      resolve()
    }
    process.on('SIGINT', onSignal)
    process.on('SIGTERM', onSignal)
  })
}

const optional = <K extends string, T>(key: K, value: T | undefined): { [P in K]?: T } => (value === undefined ? {} : { [key]: value }) as { [P in K]?: T }
