// `weft worker`: executes node attempts and steps of fleet runs recorded in DATABASE_URL's database, until SIGTERM.
import { openFleet } from '../engine/adapters/open-fleet.ts'
import { PiscinaExecutor } from '../engine/adapters/piscina-executor.ts'
import { InlineExecutor } from '../engine/adapters/inline-executor.ts'
import { createProviders, providerSettingsFromEnv } from '../engine/providers.ts'
import { formatDuration, parseDuration } from '../engine/duration.ts'
import { WeftError } from '../engine/errors.ts'
import { startFleetWorker } from '../engine/fleet/worker.ts'
import { EXIT } from './exit.ts'
import { prices } from '../engine/prices.ts'
import { weftDataDir } from '../engine/adapters/open-store.ts'
import { cacheSettingsFromEnv, withNodeCache } from '../engine/cache/settings.ts'

/**
 * How long a worker's claim outlives its silence: `WEFT_HEARTBEAT_TTL` (e.g. `10s`), default 30 s. A value it cannot
 * read is refused: every worker and server of a fleet must use the same one, and a typo must not pass for the default.
 */
export function heartbeatTtlMs(env: Record<string, string | undefined> = process.env): number {
  const raw = env.WEFT_HEARTBEAT_TTL?.trim()
  if (!raw) return 30_000
  // a bare number would be read as milliseconds, and `300` is more likely meant as seconds: a unit is asked for
  const ms = /^[\d.]+$/.test(raw) ? undefined : parseDuration(raw)
  if (ms === undefined || ms < 100 || ms > 3_600_000)
    throw new WeftError('CONFIG_INVALID', `WEFT_HEARTBEAT_TTL is ${JSON.stringify(raw)}: expected a duration with its unit from 100ms to 1h, such as 10s or 30s`, { retryable: false })
  return ms
}

export async function workerCommand(o: { concurrency: number; executor: 'workers' | 'inline'; queues?: string[] }): Promise<number> {
  const url = process.env.DATABASE_URL
  if (!url) {
    process.stderr.write('error: weft worker runs the work of runs recorded in Postgres: set DATABASE_URL (postgres://user@host:port/database)\n')
    return EXIT.invalid
  }
  let settings: ReturnType<typeof providerSettingsFromEnv>
  let ttl: number
  try {
    settings = providerSettingsFromEnv()
    prices()
    ttl = heartbeatTtlMs()
  } catch (err) {
    process.stderr.write(`${(err as { code?: string }).code ?? 'error'}: ${(err as Error).message}\n`)
    return EXIT.invalid
  }
  const inlineProviders = o.executor === 'inline' ? await createProviders(settings) : undefined
  let cached: ReturnType<typeof withNodeCache>
  try {
    // the node cache is this machine's: workers on one machine share it
    cached = withNodeCache(() => (inlineProviders ? new InlineExecutor(inlineProviders) : new PiscinaExecutor({ providers: settings })), cacheSettingsFromEnv(weftDataDir()), settings, {
      onProblem: (m) => process.stderr.write(`cache: ${m}\n`),
    })
  } catch (err) {
    process.stderr.write(`${(err as { code?: string }).code ?? 'error'}: ${(err as Error).message}\n`)
    return EXIT.invalid
  }
  const { executor, policy } = cached
  const opened = await openFleet(url)
  const worker = await startFleetWorker({
    connectionString: url,
    fleet: opened.fleet,
    executor,
    cache: policy,
    concurrency: o.concurrency,
    heartbeatTtlMs: ttl,
    ...(o.queues?.length ? { queues: o.queues } : {}),
    log: (m) => process.stderr.write(`${m}\n`),
  })
  process.stderr.write(`worker ${worker.id} ready (concurrency ${o.concurrency}, queues ${(o.queues?.length ? o.queues : ['default']).join(', ')}, heartbeat ttl ${formatDuration(ttl)})\n`)
  const stopped = new Promise<void>((resolve) => {
    let stopping = false
    const onSignal = (signal: string) => {
      if (!stopping) {
        stopping = true
        process.stderr.write(`${signal}: finishing the work in hand, taking no more\n`)
        return resolve()
      }
      // Ctrl-C again: the person at the terminal wants out now (what it held runs again elsewhere once its heartbeat lapses)
      if (signal === 'SIGINT') process.exit(EXIT.cancelled)
      // a supervisor repeating SIGTERM does not cut the stop short: SIGKILL does
      process.stderr.write(`${signal}: already stopping; finishing the work in hand (SIGKILL stops at once)\n`)
    }
    process.on('SIGTERM', () => onSignal('SIGTERM'))
    process.on('SIGINT', () => onSignal('SIGINT'))
  })
  await Promise.race([stopped, worker.done])
  await worker.stop()
  await executor.close()
  await opened.close()
  process.stderr.write(`worker ${worker.id} stopped\n`)
  return EXIT.completed
}
