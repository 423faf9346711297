import { describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { cacheMode } from '../../../engine/cache/policy.ts'

describe('cacheMode', () => {
  const offline = { deterministic: true }
  const paid = { deterministic: false }
  const yes = { cacheable: true }
  const no = { cacheable: false }

  it('is off without a policy, with the run off, or for a node marked `cache: false`', () => {
    assert.equal(cacheMode(undefined, 'a', undefined, {}, yes), 'off')
    assert.equal(cacheMode({ off: true, deterministic: true }, 'a', true, {}, yes), 'off')
    assert.equal(cacheMode(offline, 'a', false, {}, yes), 'off')
  })

  it('caches a cacheable type when the providers are deterministic, or when the node gives a fixed seed', () => {
    assert.equal(cacheMode(offline, 'a', undefined, {}, yes), 'use')
    assert.equal(cacheMode(paid, 'a', undefined, {}, yes), 'off')
    assert.equal(cacheMode(paid, 'a', undefined, { seed: 7 }, yes), 'use')
    assert.equal(cacheMode(paid, 'a', undefined, { seed: 'seven' }, yes), 'off')
  })

  it("does not count a node that names a real model as reproducible, even when the run's default is offline", () => {
    const agent = { cacheable: true, models: ['model', 'critic_model'] }
    assert.equal(cacheMode(offline, 'a', undefined, { model: 'anthropic/claude-sonnet-4-5' }, agent), 'off')
    assert.equal(cacheMode(offline, 'a', undefined, { critic_model: 'ollama/llama3.1' }, agent), 'off')
    assert.equal(cacheMode(offline, 'a', undefined, { model: 'offline' }, agent), 'use')
    assert.equal(cacheMode(offline, 'a', undefined, {}, agent), 'use')
    assert.equal(cacheMode(offline, 'a', undefined, { model: 'anthropic/claude-sonnet-4-5', seed: 3 }, agent), 'use')
  })

  it('leaves a type that does not declare its results reusable uncached, unless the node says `cache: true`', () => {
    assert.equal(cacheMode(offline, 'a', undefined, {}, {}), 'off')
    assert.equal(cacheMode(offline, 'a', true, {}, {}), 'use')
    assert.equal(cacheMode(paid, 'a', true, {}, no), 'use')
  })

  it('refreshes the nodes a re-run executes again, but never one marked `cache: false`', () => {
    const rerun = { deterministic: true, refresh: ['scenes'] }
    assert.equal(cacheMode(rerun, 'scenes', undefined, {}, yes), 'refresh')
    assert.equal(cacheMode(rerun, 'scenes', undefined, {}, no), 'refresh')
    assert.equal(cacheMode(rerun, 'story', undefined, {}, yes), 'use')
    assert.equal(cacheMode(rerun, 'scenes', false, {}, yes), 'off')
  })
})
