import { describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { modelRefProblem, parseModelRef, refText, type ModelCatalog } from '../../engine/model-ref.ts'

const catalog: ModelCatalog = {
  default: 'offline',
  providers: { openai: { keyVar: 'OPENAI_API_KEY', hasKey: true }, anthropic: { keyVar: 'ANTHROPIC_API_KEY', hasKey: false }, vllm: { hasKey: false } },
}

describe('model refs', () => {
  it('split into provider and model id; the id may hold slashes; a bare id goes to the default provider', () => {
    assert.deepEqual(parseModelRef('anthropic/claude-sonnet-4-5', 'offline'), { provider: 'anthropic', model: 'claude-sonnet-4-5' })
    assert.deepEqual(parseModelRef('vllm/meta-llama/Llama-3.1-8B', 'offline'), { provider: 'vllm', model: 'meta-llama/Llama-3.1-8B' })
    assert.deepEqual(parseModelRef('offline', 'openai/gpt-4o'), { provider: 'offline' })
    assert.deepEqual(parseModelRef('gpt-4o-mini', 'openai/gpt-4o'), { provider: 'openai', model: 'gpt-4o-mini' })
    assert.deepEqual(parseModelRef('default', 'openai/gpt-4o'), { provider: 'openai', model: 'gpt-4o' })
    assert.deepEqual(parseModelRef('default', 'offline'), { provider: 'offline' })
    assert.equal(refText(parseModelRef('ollama/llama3.1', 'offline')), 'ollama/llama3.1')
  })

  it('name what stops a ref: an unknown provider (with the known ones), a missing model id, a missing key', () => {
    assert.equal(modelRefProblem('offline', catalog), undefined)
    assert.equal(modelRefProblem('openai/gpt-4o', catalog), undefined)
    assert.equal(modelRefProblem('vllm/meta-llama/Llama-3.1-8B', catalog), undefined, "a server of one's own needs no key")
    assert.match(modelRefProblem('antropic/claude-sonnet-4-5', catalog)!, /unknown model provider "antropic" .* knows offline, openai, anthropic, vllm/)
    assert.match(modelRefProblem('openai/', catalog)!, /names no model: write openai\/<model id>/)
    assert.equal(modelRefProblem('anthropic/claude-sonnet-4-5', catalog), '"anthropic/claude-sonnet-4-5" needs ANTHROPIC_API_KEY, which is not set')
    assert.equal(modelRefProblem('anthropic/claude-sonnet-4-5', catalog, { keys: false }), undefined)
    assert.match(modelRefProblem(' ', catalog)!, /cannot be empty/)
    // a bare id would go to the offline default and be ignored there: said, not run
    assert.match(modelRefProblem('gpt-4o', catalog)!, /"gpt-4o" names no provider, and the default \(WEFT_MODEL\) is the offline model: write <provider>\/gpt-4o/)
    assert.equal(modelRefProblem('gpt-4o-mini', { ...catalog, default: 'openai/gpt-4o' }), undefined)
    assert.equal(modelRefProblem('default', catalog), undefined)
    assert.match(modelRefProblem('default', { ...catalog, default: 'anthropic/claude-sonnet-4-5' })!, /needs ANTHROPIC_API_KEY/)
  })
})
