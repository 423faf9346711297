// A ModelProvider for tests: answers from a script, in order, and records every request it gets.
import type { ModelProvider, ModelRequest, ModelResponse } from '../../engine/ports.ts'

export type Scripted = unknown | Error | ((req: ModelRequest) => unknown)

export class ScriptedModel implements ModelProvider {
  readonly name = 'scripted'
  readonly requests: Array<ModelRequest & { idempotencyKey: string }> = []
  constructor(private readonly script: Scripted[]) {}

  async complete(req: ModelRequest, opts: { signal: AbortSignal; idempotencyKey: string }): Promise<ModelResponse> {
    opts.signal.throwIfAborted()
    this.requests.push({ ...req, idempotencyKey: opts.idempotencyKey })
    if (this.script.length === 0) throw new Error(`no scripted answer left for request ${this.requests.length}`)
    let next = this.script.shift()
    if (typeof next === 'function') next = (next as (r: ModelRequest) => unknown)(req)
    if (next instanceof Error) throw next
    const text = typeof next === 'string' ? next : JSON.stringify(next)
    return { text, model: 'scripted' }
  }
}
