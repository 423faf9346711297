import { describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { cacheMode } from '../../../engine/cache/policy.ts'

describe('cacheMode', () => {
  const offline = { deterministic: true }
  const paid = { deterministic: false }

  it('is off without a policy, with the run off, or for a node marked `cache: false`', () => {
    assert.equal(cacheMode(undefined, 'a', undefined, {}, true), 'off')
    assert.equal(cacheMode({ off: true, deterministic: true }, 'a', true, {}, true), 'off')
    assert.equal(cacheMode(offline, 'a', false, {}, true), 'off')
  })

  it('caches a cacheable type when the providers are deterministic, or when the node gives a fixed seed', () => {
    assert.equal(cacheMode(offline, 'a', undefined, {}, true), 'use')
    assert.equal(cacheMode(paid, 'a', undefined, {}, true), 'off')
    assert.equal(cacheMode(paid, 'a', undefined, { seed: 7 }, true), 'use')
    assert.equal(cacheMode(paid, 'a', undefined, { seed: 'seven' }, true), 'off')
  })

  it('leaves a type that does not declare its results reusable uncached, unless the node says `cache: true`', () => {
    assert.equal(cacheMode(offline, 'a', undefined, {}, undefined), 'off')
    assert.equal(cacheMode(offline, 'a', true, {}, undefined), 'use')
    assert.equal(cacheMode(paid, 'a', true, {}, false), 'use')
  })

  it('refreshes the nodes a re-run executes again, but never one marked `cache: false`', () => {
    const rerun = { deterministic: true, refresh: ['scenes'] }
    assert.equal(cacheMode(rerun, 'scenes', undefined, {}, true), 'refresh')
    assert.equal(cacheMode(rerun, 'scenes', undefined, {}, false), 'refresh')
    assert.equal(cacheMode(rerun, 'story', undefined, {}, true), 'use')
    assert.equal(cacheMode(rerun, 'scenes', false, {}, true), 'off')
  })
})
