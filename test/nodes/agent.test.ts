import { describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { runNode } from '../support/node-task.ts'
import { ScriptedModel } from '../support/scripted-model.ts'
import { startModelServer, type WireProtocol } from '../support/model-server.ts'
import { AiSdkModel } from '../../engine/adapters/ai-sdk-model.ts'
import { load } from '../helpers.ts'

describe('agent node', () => {
  it('renders the prompt with its variables and returns the checked JSON answer', async () => {
    const model = new ScriptedModel([{ text: 'hello' }])
    const out = await runNode('agent', { prompt: 'writer', vars: { topic: 'soda' } }, { providers: { model } })
    assert.equal(out.ok, true)
    assert.deepEqual(out.ok && out.output, { text: JSON.stringify({ text: 'hello' }), data: { text: 'hello' }, model: 'scripted', repairs: 0 })
    const req = model.requests[0]!
    assert.match(req.prompt, /Write about soda\./)
    assert.deepEqual(req.meta, { prompt: 'writer', task: 'test_writer', vars: { topic: 'soda', feedback: '', previous: '' } })
    assert.equal(req.schema?.type, 'object')
    assert.equal(req.idempotencyKey, 'run-1:n:1:writer')
  })

  it('returns text (data null) for a prompt without an output schema', async () => {
    const model = new ScriptedModel(['Hello, Ada!'])
    const out = await runNode('agent', { prompt: 'plain', vars: { name: 'Ada' } }, { providers: { model } })
    assert.equal(out.ok && (out.output as { text: string; data: unknown }).text, 'Hello, Ada!')
    assert.equal(out.ok && (out.output as { data: unknown }).data, null)
    assert.equal(model.requests[0]!.schema, undefined)
  })

  for (const wire of ['openai', 'anthropic', 'google'] as WireProtocol[]) {
    it(`re-asks a model speaking the ${wire} protocol that answers prose where JSON was asked, with the problem fed back`, async () => {
      const server = await startModelServer(wire)
      try {
        server.script({ kind: 'ok', content: 'Sure! Here is a story about soda.' }, { kind: 'ok', content: '{"text": "Fizz, in JSON"}', model: 'local-test' })
        const model = new AiSdkModel({ name: wire, protocol: wire, baseUrl: server.baseUrl, apiKey: 'k', model: wire === 'anthropic' ? 'claude-sonnet-4-5' : 'local-test' })
        const out = await runNode('agent', { prompt: 'writer', vars: { topic: 'soda' } }, { providers: { model } })
        assert.equal(out.ok, true, JSON.stringify(out))
        const output = out.ok ? (out.output as { text: string; data: unknown; model: string; repairs: number }) : undefined
        assert.deepEqual(output?.data, { text: 'Fizz, in JSON' })
        assert.equal(output?.repairs, 1)
        assert.match(output?.model ?? '', new RegExp(`^${wire}/`))
        assert.equal(server.requests.length, 2)
        // the second request carries the first answer and what was wrong with it
        const second = JSON.stringify(server.requests[1]!.body)
        assert.match(second, /Here is a story about soda/)
        assert.match(second, /not JSON/)
      } finally {
        await server.close()
      }
    })
  }

  it('asks again with the schema problems when an answer does not conform, then succeeds', async () => {
    const model = new ScriptedModel([{ wrong: 1 }, 'not json at all', { text: 'fixed' }])
    const out = await runNode('agent', { prompt: 'writer', vars: { topic: 'soda' } }, { providers: { model } })
    assert.equal(out.ok, true)
    assert.equal(out.ok && (out.output as { repairs: number }).repairs, 2)
    assert.equal(model.requests.length, 3)
    assert.match(model.requests[1]!.prompt, /PROBLEMS: .*must have required property 'text'/)
    assert.match(model.requests[2]!.prompt, /PROBLEMS: the answer is not JSON/)
    // the repair keeps the original request and what the provider needs to answer the same task
    assert.match(model.requests[1]!.prompt, /Write about soda\./)
    assert.equal((model.requests[1]!.meta as { task: string }).task, 'test_writer')
    assert.notEqual(model.requests[1]!.idempotencyKey, model.requests[0]!.idempotencyKey)
  })

  it('fails with MODEL_ANSWER_INVALID, not retryable, once the repairs run out', async () => {
    const model = new ScriptedModel([{ a: 1 }, { b: 2 }])
    const out = await runNode('agent', { prompt: 'writer', vars: { topic: 'x' }, max_repairs: 1 }, { providers: { model } })
    assert.equal(out.ok, false)
    assert.equal(!out.ok && out.error.code, 'MODEL_ANSWER_INVALID')
    assert.equal(!out.ok && out.error.retryable, false)
    assert.equal(model.requests.length, 2)
  })

  it("folds a reviewer's revision into {feedback} and {previous}", async () => {
    const model = new ScriptedModel([{ text: 'v2' }])
    const out = await runNode('agent', { prompt: 'writer', vars: { topic: 'soda' } }, { providers: { model }, revision: { round: 1, feedback: 'shorter please', previous: { text: 'v1' } } })
    assert.equal(out.ok, true)
    const vars = (model.requests[0]!.meta as { vars: Record<string, unknown> }).vars
    assert.equal(vars.feedback, 'shorter please')
    assert.deepEqual(vars.previous, { text: 'v1' })
  })

  it('refuses a revision when its prompt has no {feedback} variable', async () => {
    const out = await runNode('agent', { prompt: 'plain', vars: { name: 'Ada' } }, { providers: { model: new ScriptedModel(['hi']) }, revision: { round: 1, feedback: 'x', previous: 'y' } })
    assert.equal(!out.ok && out.error.code, 'NOT_REVISABLE')
  })

  it('fails clearly without a model provider, a prompt file, or a required variable', async () => {
    assert.equal((await runNode('agent', { prompt: 'writer', vars: { topic: 'x' } })).ok, false)
    const none = await runNode('agent', { prompt: 'writer', vars: { topic: 'x' } })
    assert.equal(!none.ok && none.error.code, 'NO_MODEL_PROVIDER')
    const missing = await runNode('agent', { prompt: 'nope' }, { providers: { model: new ScriptedModel([]) } })
    assert.equal(!missing.ok && missing.error.code, 'PROMPT_NOT_FOUND')
    const novar = await runNode('agent', { prompt: 'writer' }, { providers: { model: new ScriptedModel([]) } })
    assert.equal(!novar.ok && novar.error.code, 'PROMPT_VARIABLE_MISSING')
    const broken = await runNode('agent', { prompt: 'broken' }, { providers: { model: new ScriptedModel([]) } })
    assert.equal(!broken.ok && broken.error.code, 'PROMPT_INVALID')
  })
})

describe('agent node, static checks (weft validate)', () => {
  const yaml = (node: string) => `pipeline: t\nprompts: $FIXTURES/prompts\nnodes:\n  a:\n    type: agent\n${node}`

  it('reports a variable the prompt needs and nobody supplies, at the vars key', async () => {
    const res = await load(yaml('    prompt: writer\n    vars:\n      topc: ${{ 1 }}\n'))
    const codes = res.diagnostics.map((d) => [d.code, d.line, d.col, d.path])
    assert.deepEqual(codes, [
      ['PROMPT_VARIABLE_MISSING', 8, 7, 'nodes.a.vars'],
      ['PROMPT_VARIABLE_UNKNOWN', 8, 13, 'nodes.a.vars.topc'],
    ])
  })

  it('reports a prompt that does not exist or is broken, at the prompt field', async () => {
    const missing = await load(yaml('    prompt: writr\n'))
    assert.deepEqual(
      missing.diagnostics.map((d) => [d.code, d.line, d.path]),
      [['PROMPT_NOT_FOUND', 6, 'nodes.a.prompt']],
    )
    const broken = await load(yaml('    prompt: broken\n'))
    assert.deepEqual(
      broken.diagnostics.map((d) => d.code),
      ['PROMPT_INVALID'],
    )
  })

  it('accepts a prompt whose required variables are all supplied', async () => {
    const res = await load(yaml('    prompt: writer\n    vars: { topic: "${{ 1 }}" }\n'))
    assert.deepEqual(res.diagnostics, [])
    assert.ok(res.pipeline)
  })
})
