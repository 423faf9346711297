import { describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { catalogOf, createProviders, offlineSettings, providerIdentity, providerSettingsFromEnv } from '../../engine/providers.ts'
import { startModelServer } from '../support/model-server.ts'

describe('provider settings from the environment', () => {
  it('default to the offline model, with the hosted providers and the usual local servers known', () => {
    const s = providerSettingsFromEnv({})
    assert.equal(s.model.default, 'offline')
    assert.deepEqual(Object.keys(s.model.endpoints).sort(), ['anthropic', 'google', 'lmstudio', 'ollama', 'openai', 'vllm'])
    assert.deepEqual(s.model.endpoints.anthropic, { protocol: 'anthropic', keyVar: 'ANTHROPIC_API_KEY' })
    assert.deepEqual(s.model.endpoints.ollama, { protocol: 'openai-compatible', baseUrl: 'http://localhost:11434/v1' })
    assert.deepEqual(catalogOf(s.model).providers.anthropic, { keyVar: 'ANTHROPIC_API_KEY', hasKey: false })
  })

  it('read keys, API roots and more OpenAI-compatible servers; WEFT_MODEL names the default ref', () => {
    const s = providerSettingsFromEnv({
      WEFT_MODEL: 'anthropic/claude-sonnet-4-5',
      ANTHROPIC_API_KEY: 'sk-ant',
      GEMINI_API_KEY: 'g',
      OPENAI_BASE_URL: 'http://gpu:8000/v1',
      WEFT_MODEL_ENDPOINTS: 'ollama=http://box:11434/v1, together=https://api.together.xyz/v1',
      TOGETHER_API_KEY: 't',
    })
    assert.equal(s.model.default, 'anthropic/claude-sonnet-4-5')
    assert.deepEqual(s.model.endpoints.anthropic, { protocol: 'anthropic', keyVar: 'ANTHROPIC_API_KEY', apiKey: 'sk-ant' })
    assert.equal(s.model.endpoints.google!.apiKey, 'g')
    // OpenAI's protocol at an address of one's own, without a key: the compatible client, which sends none
    assert.deepEqual(s.model.endpoints.openai, { protocol: 'openai-compatible', baseUrl: 'http://gpu:8000/v1' })
    assert.equal(s.model.endpoints.ollama!.baseUrl, 'http://box:11434/v1')
    assert.deepEqual(s.model.endpoints.together, { protocol: 'openai-compatible', baseUrl: 'https://api.together.xyz/v1', apiKey: 't' })
  })

  it('keep the earlier names working: WEFT_MODEL_PROVIDER=openai with a bare WEFT_MODEL, WEFT_MODEL_BASE_URL, WEFT_MODEL_API_KEY', () => {
    const s = providerSettingsFromEnv({ WEFT_MODEL_PROVIDER: 'openai', WEFT_MODEL: 'gpt-4o-mini', WEFT_MODEL_BASE_URL: 'http://127.0.0.1:9/v1', WEFT_MODEL_API_KEY: 'k' })
    assert.equal(s.model.default, 'openai/gpt-4o-mini')
    assert.deepEqual(s.model.endpoints.openai, { protocol: 'openai', keyVar: 'OPENAI_API_KEY', apiKey: 'k', baseUrl: 'http://127.0.0.1:9/v1' })
  })

  it('refuse settings that cannot work, naming the variable', () => {
    const refused = (env: Record<string, string>, re: RegExp) =>
      assert.throws(
        () => providerSettingsFromEnv(env),
        (err: Error & { code?: string }) => err.code === 'PROVIDER_CONFIG_INVALID' && re.test(err.message),
      )
    refused({ WEFT_MODEL: 'antropic/claude' }, /WEFT_MODEL: unknown model provider "antropic"/)
    refused({ WEFT_MODEL: 'gpt-4o' }, /WEFT_MODEL: "gpt-4o" names no provider.*write <provider>\/gpt-4o/)
    refused({ WEFT_MODEL_PROVIDER: 'bedrock' }, /WEFT_MODEL_PROVIDER must be "offline" or "openai"/)
    refused({ WEFT_MODEL_PROVIDER: 'openai' }, /needs WEFT_MODEL/)
    refused({ WEFT_MODEL_ENDPOINTS: 'Big Box=http://x' }, /name=url with a lower-case name/)
    refused({ WEFT_MODEL_ENDPOINTS: 'anthropic=http://x' }, /cannot redefine "anthropic"/)
    refused({ WEFT_MODEL_ENDPOINTS: 'box=ftp://x' }, /not an http\(s\) URL/)
    refused({ ANTHROPIC_BASE_URL: 'nowhere' }, /ANTHROPIC_BASE_URL is not an http\(s\) URL/)
  })

  it('the cache key sees endpoints and models, never a key', () => {
    const a = providerIdentity(providerSettingsFromEnv({ ANTHROPIC_API_KEY: 'secret-1' }))
    const b = providerIdentity(providerSettingsFromEnv({ ANTHROPIC_API_KEY: 'secret-2' }))
    assert.equal(a, b)
    assert.ok(!a.includes('secret'))
    assert.notEqual(a, providerIdentity(providerSettingsFromEnv({ WEFT_MODEL_ENDPOINTS: 'ollama=http://elsewhere:11434/v1' })))
  })
})

describe("the run's model provider", () => {
  it('sends each call where its ref says: the offline model by default, another provider by its name', async () => {
    const server = await startModelServer('anthropic')
    try {
      server.script({ kind: 'ok', content: 'From Claude.', model: 'claude-sonnet-4-5' })
      const settings = providerSettingsFromEnv({ ANTHROPIC_API_KEY: 'sk-ant', ANTHROPIC_BASE_URL: server.baseUrl })
      const { model } = await createProviders({ ...settings, media: offlineSettings.media })
      const call = { signal: new AbortController().signal, idempotencyKey: 'k' }
      const offline = await model!.complete({ prompt: 'Write a tagline for Orbit Mug.' }, call)
      assert.equal(offline.model, 'offline')
      assert.equal(server.requests.length, 0)
      const claude = await model!.complete({ prompt: 'hi', model: 'anthropic/claude-sonnet-4-5' }, call)
      assert.deepEqual([claude.text, claude.model], ['From Claude.', 'anthropic/claude-sonnet-4-5'])
      assert.equal(model!.modelFor!({ prompt: 'x', model: 'anthropic/claude-sonnet-4-5' }), 'anthropic/claude-sonnet-4-5')
      assert.equal(model!.modelFor!({ prompt: 'x' }), 'offline')
      await assert.rejects(
        model!.complete({ prompt: 'hi', model: 'google/gemini-2.5-flash' }, call),
        (err: Error & { code?: string }) => err.code === 'MODEL_REF_INVALID' && /needs GOOGLE_GENERATIVE_AI_API_KEY/.test(err.message),
      )
    } finally {
      await server.close()
    }
  })
})
