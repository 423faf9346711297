// `weft worker`: executes node attempts and steps of fleet runs recorded in DATABASE_URL's database, until SIGTERM.
import { openFleet } from '../engine/adapters/open-fleet.ts'
import { PiscinaExecutor } from '../engine/adapters/piscina-executor.ts'
import { InlineExecutor } from '../engine/adapters/inline-executor.ts'
import { createProviders, providerSettingsFromEnv } from '../engine/providers.ts'
import { parseDuration } from '../engine/duration.ts'
import { startFleetWorker } from '../engine/fleet/worker.ts'
import { EXIT } from './exit.ts'
import { prices } from '../engine/prices.ts'
import { weftDataDir } from '../engine/adapters/open-store.ts'
import { cacheSettingsFromEnv, withNodeCache } from '../engine/cache/settings.ts'

/** How long a worker's claim outlives its silence: `WEFT_HEARTBEAT_TTL` (e.g. `10s`), default 30 s. */
export function heartbeatTtlMs(env: Record<string, string | undefined> = process.env): number {
  const ms = env.WEFT_HEARTBEAT_TTL ? parseDuration(env.WEFT_HEARTBEAT_TTL) : undefined
  return ms !== undefined && ms >= 100 ? ms : 30_000
}

export async function workerCommand(o: { concurrency: number; executor: 'workers' | 'inline'; queues?: string[] }): Promise<number> {
  const url = process.env.DATABASE_URL
  if (!url) {
    process.stderr.write('error: weft worker runs the work of runs recorded in Postgres: set DATABASE_URL (postgres://user@host:port/database)\n')
    return EXIT.invalid
  }
  let settings: ReturnType<typeof providerSettingsFromEnv>
  try {
    settings = providerSettingsFromEnv()
    prices()
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
    heartbeatTtlMs: heartbeatTtlMs(),
    ...(o.queues?.length ? { queues: o.queues } : {}),
    log: (m) => process.stderr.write(`${m}\n`),
  })
  process.stderr.write(`worker ${worker.id} ready (concurrency ${o.concurrency}, queues ${(o.queues?.length ? o.queues : ['default']).join(', ')})\n`)
  const stopped = new Promise<void>((resolve) => {
    const onSignal = (signal: string) => {
      process.stderr.write(`${signal}: finishing the work in hand, taking no more\n`)
      resolve()
    }
    process.once('SIGTERM', () => onSignal('SIGTERM'))
    process.once('SIGINT', () => onSignal('SIGINT'))
  })
  await Promise.race([stopped, worker.done])
  await worker.stop()
  await executor.close()
  await opened.close()
  process.stderr.write(`worker ${worker.id} stopped\n`)
  return EXIT.completed
}
