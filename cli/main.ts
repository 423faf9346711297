// Command-line entry: `weft validate`, `weft run`, `weft graph`, `weft serve`… (parsed by commander).
import { Command, InvalidArgumentError, Option } from 'commander'

// each command's module is loaded when that command runs: `weft show` need not load the scheduler, the
// providers or the server (a quick command is mostly module loading)
const validateCommand: typeof import('./validate.ts').validateCommand = async (...a) => (await import('./validate.ts')).validateCommand(...a)
const runCommand: typeof import('./run.ts').runCommand = async (...a) => (await import('./run.ts')).runCommand(...a)
const graphCommand: typeof import('./graph.ts').graphCommand = async (...a) => (await import('./graph.ts')).graphCommand(...a)
const runsCommand: typeof import('./runs.ts').runsCommand = async (...a) => (await import('./runs.ts')).runsCommand(...a)
const showCommand: typeof import('./runs.ts').showCommand = async (...a) => (await import('./runs.ts')).showCommand(...a)
const resumeCommand: typeof import('./resume.ts').resumeCommand = async (...a) => (await import('./resume.ts')).resumeCommand(...a)
const cancelCommand: typeof import('./cancel.ts').cancelCommand = async (...a) => (await import('./cancel.ts')).cancelCommand(...a)
const rerunCommand: typeof import('./rerun.ts').rerunCommand = async (...a) => (await import('./rerun.ts')).rerunCommand(...a)
const cacheCommand: typeof import('./cache.ts').cacheCommand = async (...a) => (await import('./cache.ts')).cacheCommand(...a)
const workerCommand: typeof import('./worker.ts').workerCommand = async (...a) => (await import('./worker.ts')).workerCommand(...a)
const serveCommand: typeof import('./serve.ts').serveCommand = async (...a) => (await import('./serve.ts')).serveCommand(...a)

const collect = (value: string, previous: string[]) => [...previous, value]
const positiveInt = (value: string) => {
  const n = Number(value)
  if (!Number.isInteger(n) || n < 1) throw new InvalidArgumentError('expected a whole number of at least 1')
  return n
}

const nonNegativeInt = (value: string) => {
  const n = Number(value)
  if (!Number.isInteger(n) || n < 0) throw new InvalidArgumentError('expected a whole number, 0 or more')
  return n
}

const queueList = (value: string): string[] => {
  const names = value
    .split(',')
    .map((q) => q.trim())
    .filter(Boolean)
  const bad = names.find((q) => !/^[a-z][a-z0-9_-]{0,39}$/.test(q))
  if (bad !== undefined || names.length === 0) throw new InvalidArgumentError(`expected queue names of lower-case letters, digits, _ and -, comma-separated; got "${value}"`)
  return [...new Set(names)]
}

const eventCount = (value: string): number | 'all' => (value === 'all' ? 'all' : positiveInt(value))

const port = (value: string) => {
  const n = Number(value)
  if (!Number.isInteger(n) || n < 0 || n > 65535) throw new InvalidArgumentError('expected a port number, 0 to 65535')
  return n
}

/** The options of every command that drives a run (`run`, `resume`). */
function withDriveOptions(cmd: Command): Command {
  return cmd
    .option('--out <dir>', 'directory for run files (default: <data dir>/runs)')
    .option('--json', 'print the final run record as JSON')
    .option('--concurrency <n>', 'cap on nodes running at once (overrides the pipeline)', positiveInt)
    .addOption(new Option('--executor <kind>', 'where node work runs').choices(['workers', 'inline']).default('workers'))
    .option('--interactive', 'approval gates ask on this terminal (approve, edit in $EDITOR, revise with feedback, reject)')
    .addOption(
      new Option(
        '--decisions <file>',
        'approval gates wait for their decision in this JSON or YAML file, read again while they wait: { <gate>: approve | reject | { decision, feedback, edits, by } }, or a list with one per revision',
      ).conflicts('interactive'),
    )
    .option('--no-cache', 'execute every node: neither take results from the node cache nor store them')
}

/** Parses argv and runs the command; resolves to the process exit code. */
export async function main(argv: string[]): Promise<number> {
  let code = 0
  const program = new Command().name('weft').description('Declarative DAG engine for generative-media pipelines').showHelpAfterError().exitOverride()

  program
    .command('validate')
    .description('check a pipeline file and list every problem with file:line:col (exit 0 valid, 1 invalid)')
    .argument('<file>', 'pipeline YAML file')
    .option('--json', 'print { valid, diagnostics } as JSON')
    .action(async (file: string, o: { json?: boolean }) => {
      code = await validateCommand(file, o)
    })

  withDriveOptions(
    program
      .command('run')
      .description('run a pipeline (exit 0 completed, 1 failed, 2 invalid pipeline or inputs, 130 cancelled)')
      .argument('<file>', 'pipeline YAML file')
      .option('-i, --input <key=value>', 'a run input (repeatable); non-string inputs are read as YAML', collect, [])
      .option('--inputs-file <file>', 'JSON or YAML file with run inputs')
      .option('-s, --set <path=value>', 'override a config value, e.g. parallel.max_concurrent=2 (repeatable)', collect, []),
  )
    .addOption(new Option('--store <kind>', 'where the run is recorded: db (SQLite in .weft/weft.db, or Postgres with DATABASE_URL) or memory').choices(['db', 'memory']).default('db'))
    .option('--detach', 'with DATABASE_URL: record the run and enqueue it for `weft worker` processes, print its id and exit 0')
    .action(async (file: string, o) => {
      code = await runCommand(file, o)
    })

  program
    .command('worker')
    .description('with DATABASE_URL: execute the node attempts of runs recorded in Postgres, with any number of other workers; SIGTERM finishes the work in hand and exits 0')
    .option('--concurrency <n>', 'node attempts (and steps) run at once', positiveInt, 10)
    .addOption(new Option('--executor <kind>', 'where node work runs').choices(['workers', 'inline']).default('workers'))
    .option('--queues <names>', 'comma-separated queues whose node attempts it runs: `default` (nodes in no pool with a queue) and the `queue:` of pipeline pools, e.g. default,gpu', queueList, [
      'default',
    ])
    .action(async (o: { concurrency: number; executor: 'workers' | 'inline'; queues: string[] }) => {
      code = await workerCommand(o)
    })

  program
    .command('runs')
    .description('list recorded runs, newest first')
    .addOption(new Option('--status <status>', 'only runs with this status').choices(['pending', 'running', 'awaiting_approval', 'completed', 'failed', 'cancelled']))
    .option('--limit <n>', 'at most this many', positiveInt, 20)
    .option('--json', 'print the runs as JSON')
    .action(async (o) => {
      code = await runsCommand(o)
    })

  program
    .command('show')
    .description('one recorded run: its record, per-node states and event log')
    .argument('<id>', 'run id')
    .option('--json', 'print the record and its events as JSON')
    .option('--events <n>', 'print the last n events (default 100), or all', eventCount, 100)
    .action(async (id: string, o: { json?: boolean; events: number | 'all' }) => {
      code = await showCommand(id, o)
    })

  program
    .command('cancel')
    .description('stop a run wherever it is driven: a fleet run, a run a `weft run` on this machine drives, or one nobody drives (0 cancelled, 1 could not, 2 no such run)')
    .argument('<id>', 'run id')
    .option('--reason <text>', 'why, recorded with the run')
    .action(async (id: string, o: { reason?: string }) => {
      code = await cancelCommand(id, o)
    })

  withDriveOptions(program.command('resume').description('continue a recorded run: nodes that succeeded are kept, the rest run (same exit codes as run)').argument('<id>', 'run id')).action(
    async (id: string, o) => {
      code = await resumeCommand(id, o)
    },
  )

  withDriveOptions(
    program
      .command('rerun')
      .description(
        "a new run of a recorded run's pipeline file with its inputs and config: with --from, outputs upstream of the node are kept and the node and everything downstream execute again; without it, the cache decides (same exit codes as run)",
      )
      .argument('<id>', 'run id')
      .option('--from <node>', 'execute this node and everything downstream of it again, bypassing the cache')
      .option('-s, --set <path=value>', 'override a config value of the recorded run (repeatable)', collect, []),
  )
    .option('--detach', 'with DATABASE_URL: record the new run and enqueue it for `weft worker` processes, print its id and exit 0')
    .action(async (id: string, o) => {
      code = await rerunCommand(id, o)
    })

  const cache = program.command('cache').description('the node cache: results of earlier node executions, reused when the same inputs come again')
  cache
    .command('ls')
    .description('list cached results, most recently used first')
    .option('--json', 'print them as JSON')
    .action(async (o: { json?: boolean }) => {
      code = await cacheCommand('ls', o)
    })
  cache
    .command('prune')
    .description('remove cached results not used for a while')
    .option('--older-than <duration>', 'not used for this long, e.g. 30d or 12h', '30d')
    .action(async (o: { olderThan: string }) => {
      code = await cacheCommand('prune', o)
    })
  cache
    .command('clear')
    .description('remove every cached result')
    .action(async () => {
      code = await cacheCommand('clear', {})
    })

  program
    .command('graph')
    .description('print the pipeline DAG')
    .argument('<file>', 'pipeline YAML file')
    .addOption(new Option('--format <format>', 'output format').choices(['mermaid', 'dot', 'json']).default('mermaid'))
    .action(async (file: string, o: { format: 'mermaid' | 'dot' | 'json' }) => {
      code = await graphCommand(file, o)
    })

  program
    .command('serve')
    .description('serve the HTTP API and WebSocket (docs at /docs); WEFT_API_KEYS is required to listen beyond 127.0.0.1')
    .option('--port <n>', 'port to listen on (0: any free port)', port, 8080)
    .option('--host <address>', 'address to listen on', '127.0.0.1')
    .option('--pipelines <dir>', 'folder of <name>.yaml pipelines (default: WEFT_PIPELINES_DIR or ./pipelines)')
    .option('--workers <n>', 'with DATABASE_URL: fleet worker loops run in this process, 10 node attempts each (default 1; 0: the API alone, `weft worker` processes do the work)', nonNegativeInt)
    .action(async (o: { port: number; host: string; pipelines?: string; workers?: number }) => {
      code = await serveCommand(o)
    })

  if (argv.length <= 2) {
    program.outputHelp({ error: true })
    return 2
  }
  try {
    await program.parseAsync(argv)
  } catch (err) {
    const e = err as { code?: string; exitCode?: number }
    if (e.code === 'commander.helpDisplayed' || e.code === 'commander.version' || e.code === 'commander.help') return 0
    if (typeof e.exitCode === 'number') return 2
    // the store cannot be opened or used (a folder that is not writable, a damaged file, a full disk, Postgres down):
    // what and what to do, in a line; no stack trace
    if (typeof e.code === 'string' && e.code.startsWith('STORE_')) {
      process.stderr.write(`${e.code}: ${(err as Error).message}\n`)
      return 2
    }
    throw err
  }
  return code
}
