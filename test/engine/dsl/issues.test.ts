import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import * as v from 'valibot'
import { issueSentence, reportIssues } from '../../../engine/dsl/issues.ts'

const Schema = v.strictObject({
  prompt: v.pipe(v.string(), v.minLength(1), v.maxLength(5)),
  framework: v.optional(v.picklist(['AIDA', 'PAS'])),
  count: v.optional(v.pipe(v.number(), v.integer(), v.minValue(1), v.maxValue(9))),
  assets: v.optional(v.strictObject({ logo: v.optional(v.string()) })),
  code: v.optional(v.pipe(v.string(), v.regex(/^[a-z]+$/, 'lower-case letters only'))),
})

function sentences(input: unknown): string[] {
  const r = v.safeParse(Schema, input)
  assert.equal(r.success, false)
  return r.issues!.map((i) => issueSentence(i, v.getDotPath(i) ?? ''))
}

describe('issueSentence: valibot issues as sentences naming the key', () => {
  it('names unknown keys, with the mapping they are in', () => {
    assert.deepEqual(sentences({ prompt: 'a', colour: 'red' }), ['"colour" is not a known key'])
    assert.deepEqual(sentences({ prompt: 'a', assets: { logo: 'x', extra: 1 } }), ['"extra" is not a known key of assets'])
  })

  it('names a required key that is missing as missing, not as unknown', () => {
    assert.deepEqual(sentences({}), ['the key "prompt" is required'])
    const none = v.safeParse(Schema, undefined)
    assert.equal(none.success, false)
    assert.doesNotMatch(issueSentence(none.issues![0]!, ''), /the key/, 'no value at all is not a missing key')
    const r = v.safeParse(v.strictObject({ attempts: v.number(), backoff: v.optional(v.string()) }), { max_attempts: 3 })
    assert.equal(r.success, false)
    const reported: Array<[string, string, string]> = []
    reportIssues({ report: (code: string, at: Array<string | number>, message: string) => void reported.push([code, at.join('.'), message]) } as never, ['retry'], r.issues!, ['attempts', 'backoff'])
    assert.deepEqual(reported, [
      ['SCHEMA_INVALID', 'retry', 'the key "attempts" is required'],
      ['SCHEMA_UNKNOWN_KEY', 'retry.max_attempts', 'unknown key "max_attempts" (did you mean "attempts"?)'],
    ])
  })

  it('says what a value must be and what it was', () => {
    assert.deepEqual(sentences({ prompt: 5 }), ['prompt must be a string; got the number 5'])
    assert.deepEqual(sentences({ prompt: 'a', framework: 'XYZ' }), ['framework must be one of AIDA, PAS; got "XYZ"'])
    assert.deepEqual(sentences({ prompt: '' }), ['prompt must have at least 1 character'])
    assert.deepEqual(sentences({ prompt: 'abcdefg' }), ['prompt must have at most 5 characters; it has 7'])
    assert.deepEqual(sentences({ prompt: 'a', count: 0 }), ['count must be at least 1; got the number 0'])
    assert.deepEqual(sentences({ prompt: 'a', count: 2.5 }), ['count must be a whole number; got the number 2.5'])
    assert.deepEqual(sentences({ prompt: 'a', count: 10 }), ['count must be at most 9; got the number 10'])
  })

  it("keeps a schema's own message, after the key", () => {
    assert.deepEqual(sentences({ prompt: 'a', code: 'ABC' }), ['code: lower-case letters only'])
  })
})
