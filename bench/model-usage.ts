// Tokens and cost per stage of one default-pipeline run, through a real provider path. First the run is made with
// the offline model, recording every model answer; then it is made again with `openai/<model>` through the AI SDK
// against a local Chat Completions server that replays those answers and reports usage counted with js-tiktoken
// (o200k_base, the tokenizer of the gpt-4o family). The second run is metered and priced as any run is. Prints
// figures; asserts nothing. Run after `npm run build`: node dist/bench/model-usage.js [--model gpt-4o-mini]
import { createHash } from 'node:crypto'
import { createServer, type IncomingMessage } from 'node:http'
import type { AddressInfo } from 'node:net'
import { mkdtempSync } from 'node:fs'
import { tmpdir } from 'node:os'
import path from 'node:path'
import { parseArgs } from 'node:util'
import { getEncoding } from 'js-tiktoken'
import { InlineExecutor } from '../engine/adapters/inline-executor.ts'
import { LocalMedia } from '../engine/adapters/local-media.ts'
import { MemoryRunStore } from '../engine/adapters/memory-store.ts'
import { OfflineModel } from '../engine/adapters/offline-model.ts'
import { loadPipeline } from '../engine/dsl/load.ts'
import { resolveConfig, resolveRunInputs } from '../engine/inputs.ts'
import type { ModelProvider, ModelRequest, RunRecord } from '../engine/ports.ts'
import { defaultPrices, modelCall } from '../engine/prices.ts'
import { createProviders, providerSettingsFromEnv } from '../engine/providers.ts'
import { runPipeline } from '../engine/run-pipeline.ts'
import { addUsage, formatUsage, noUsage, runUsage, type Usage } from '../engine/usage.ts'

const root = path.resolve(import.meta.dirname, '..', '..')
const { values } = parseArgs({
  options: {
    model: { type: 'string', default: 'gpt-4o-mini' },
    prompt: { type: 'string', default: 'Meet Fizz, the sparkling lemon soda for summer afternoons. Tastes like sunshine. Grab one today!' },
  },
})
const enc = getEncoding('o200k_base')
const tokens = (text: string) => enc.encode(text).length
const keyOf = (system: string, prompt: string) => createHash('sha256').update(`${system}\u0000${prompt}`).digest('hex')

const loaded = await loadPipeline(path.join(root, 'pipelines', 'default.yaml'), { models: null })
if (!loaded.pipeline) throw new Error(loaded.diagnostics.map((d) => d.message).join('\n'))
const pipeline = loaded.pipeline
const inputs = resolveRunInputs(pipeline, { prompt: values.prompt }).inputs
const config = resolveConfig(pipeline, []).config

async function run(model: ModelProvider): Promise<{ record: RunRecord; ms: number }> {
  const t0 = performance.now()
  const record = await runPipeline({
    pipeline,
    inputs,
    config,
    store: new MemoryRunStore(),
    workDir: mkdtempSync(path.join(tmpdir(), 'weft-bench-usage-')),
    executor: new InlineExecutor({ model, media: new LocalMedia() }),
  })
  if (record.status !== 'completed') throw new Error(`run ${record.status}: ${JSON.stringify(record.error)}`)
  return { record, ms: performance.now() - t0 }
}

// 1. the offline run, its answers recorded by what was asked
const answers = new Map<string, string>()
const offline = new OfflineModel()
const recording: ModelProvider = {
  name: 'offline',
  modelFor: () => 'offline',
  async complete(req: ModelRequest, opts) {
    const res = await offline.complete(req, opts)
    answers.set(keyOf(req.system ?? '', req.prompt), res.text)
    return res
  },
}
const recorded = await run(recording)

// 2. a Chat Completions server that answers each request with the recorded answer, counting its tokens
let misses = 0
const server = createServer((req: IncomingMessage, res) => {
  let body = ''
  req.on('data', (d) => (body += d))
  req.on('end', () => {
    const { model, messages } = JSON.parse(body) as { model: string; messages: Array<{ role: string; content: string }> }
    const system = messages.find((m) => m.role === 'system')?.content ?? ''
    const user = messages
      .filter((m) => m.role === 'user')
      .map((m) => m.content)
      .join('\n')
    const answer = answers.get(keyOf(system, user))
    if (answer === undefined) misses++
    const content = answer ?? '{}'
    // a chat message costs its content's tokens and about 4 more for its framing (OpenAI's documented rule of thumb)
    const prompt_tokens = messages.reduce((t, m) => t + tokens(m.content) + 4, 3)
    res.writeHead(200, { 'content-type': 'application/json' })
    res.end(
      JSON.stringify({
        id: 'chatcmpl-replay',
        object: 'chat.completion',
        created: 0,
        model,
        choices: [{ index: 0, message: { role: 'assistant', content }, finish_reason: 'stop' }],
        usage: { prompt_tokens, completion_tokens: tokens(content), total_tokens: prompt_tokens + tokens(content) },
      }),
    )
  })
})
await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
const { port } = server.address() as AddressInfo
const settings = providerSettingsFromEnv({ WEFT_MODEL: `openai/${values.model}`, OPENAI_API_KEY: 'replay', OPENAI_BASE_URL: `http://127.0.0.1:${port}/v1` })
const { model } = await createProviders({ ...settings, media: { kind: 'local' } })
const replayed = await run(model!)
server.close()

// 3. per stage, as the run recorded it, and what the same tokens cost on other models of the price table
const { total, by_stage } = runUsage(Object.values(replayed.record.nodes))
const reprice = (u: Usage, id: string) => modelCall(defaultPrices, id, u.input_tokens, u.output_tokens).cost_usd
const others = ['gpt-4.1', 'claude-sonnet-4', 'gemini-2.5-flash']
console.log(`default pipeline, prompt "${values.prompt}"`)
console.log(
  `offline run ${(recorded.ms / 1000).toFixed(1)} s (answers recorded: ${answers.size}); replayed through openai/${values.model} ${(replayed.ms / 1000).toFixed(1)} s; unmatched requests: ${misses}`,
)
console.log(`\n| stage | model calls | input tokens | output tokens | cost as ${values.model} | ${others.map((o) => `as ${o}`).join(' | ')} |`)
console.log(`|---|---:|---:|---:|---:|${others.map(() => '---:').join('|')}|`)
const rows = Object.entries(by_stage).filter(([, u]) => u.model_calls > 0)
const all = rows.reduce((t, [, u]) => addUsage(t, u), noUsage())
for (const [stage, u] of [...rows, ['total', all] as const]) {
  console.log(`| ${stage} | ${u.model_calls} | ${u.input_tokens} | ${u.output_tokens} | $${u.cost_usd.toFixed(4)} | ${others.map((o) => `$${reprice(u, o).toFixed(4)}`).join(' | ')} |`)
}
console.log(`\nrecorded total: ${formatUsage(total)}`)
