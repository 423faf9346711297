import { describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { decisionProblem } from '../../engine/decision-rule.ts'
import type { Decision } from '../../engine/ports.ts'

const request = { gate: 'approve_story', allowed: ['approve', 'reject', 'revise'] as Decision['decision'][], value: { title: 'Fizz', beats: [] } }

/** A value with a list of items of two shapes (one has a `shot`). */
const scenes = {
  ...request,
  value: {
    title: 'Fizz',
    scenes: [
      { text: 'a', seconds: 6 },
      { text: 'b', seconds: 4, shot: 'close-up' },
    ] as unknown[],
  } as Record<string, unknown>,
}

describe('the decision rule', () => {
  const cases: Array<[string, Decision, Pick<typeof request, 'gate' | 'allowed'> & { value: unknown }, string | undefined, string | undefined]> = [
    ['an approval', { decision: 'approve' }, request, undefined, undefined],
    ['an approval with edits of the same shape', { decision: 'approve', edits: { title: 'Fizz!', beats: [1] } }, request, undefined, undefined],
    ['a rejection without feedback', { decision: 'reject' }, request, undefined, undefined],
    ['a revision with feedback', { decision: 'revise', feedback: 'shorter' }, request, undefined, undefined],
    ['a revision the gate no longer allows', { decision: 'revise', feedback: 'again' }, { ...request, allowed: ['approve', 'reject'] }, 'DECISION_NOT_ALLOWED', 'decision'],
    ['a revision without feedback', { decision: 'revise', feedback: '  ' }, request, 'DECISION_INVALID', 'feedback'],
    ['edits with a rejection', { decision: 'reject', edits: { title: 'x', beats: [] } }, request, 'DECISION_INVALID', 'edits'],
    ['edits of another kind', { decision: 'approve', edits: 'just text' }, request, 'DECISION_INVALID', 'edits'],
    ['edits with other keys', { decision: 'approve', edits: { title: 'x' } }, request, 'DECISION_INVALID', 'edits'],
    ['edits with a field of another kind deeper down', { decision: 'approve', edits: { title: 'x', scenes: [{ text: 'a', seconds: 'six' }] } }, scenes, 'DECISION_INVALID', 'edits'],
    ['edits with an item missing a key', { decision: 'approve', edits: { title: 'x', scenes: [{ text: 'a' }] } }, scenes, 'DECISION_INVALID', 'edits'],
    [
      'edits that add, drop and reorder items of the same shape',
      {
        decision: 'approve',
        edits: {
          title: 'x',
          scenes: [
            { text: 'b', seconds: 4 },
            { text: 'c', seconds: 5, shot: 'wide' },
            { text: 'd', seconds: 1 },
          ],
        },
      },
      scenes,
      undefined,
      undefined,
    ],
    [
      'edits filling in a place the value left null',
      { decision: 'approve', edits: { title: 'x', scenes: [], note: { any: 'thing' } } },
      { ...scenes, value: { ...scenes.value, note: null } },
      undefined,
      undefined,
    ],
  ]
  for (const [name, decision, req, code, path] of cases) {
    it(`${name}: ${code ?? 'taken'}`, () => {
      const problem = decisionProblem(decision, req)
      assert.equal(problem?.code, code)
      assert.equal(problem?.path, path)
    })
  }

  it('says what the gate allows, and what shape edits must have', () => {
    assert.equal(decisionProblem({ decision: 'revise', feedback: 'x' }, { ...request, allowed: ['approve', 'reject'] })?.message, 'gate "approve_story" allows approve, reject now, not "revise"')
    assert.match(decisionProblem({ decision: 'approve', edits: { title: 'x' } }, request)!.message, /the keys of the value under review \(title, beats\): missing beats$/)
    assert.match(decisionProblem({ decision: 'approve', edits: { title: 'x', beat: [] } }, request)!.message, /\(title, beats\): missing beats; not expected beat$/)
    assert.match(decisionProblem({ decision: 'approve', edits: ['x'] }, request)!.message, /an object with the keys title, beats\), got a list/)
    assert.equal(
      decisionProblem(
        {
          decision: 'approve',
          edits: {
            title: 'x',
            scenes: [
              { text: 'a', seconds: 6 },
              { text: 'b', seconds: 'six' },
            ],
          },
        },
        scenes,
      )!.message,
      'edits.scenes[1].seconds must be the same kind of value as the one under review (a number), got a string',
    )
    assert.equal(
      decisionProblem({ decision: 'approve', edits: { title: 'x', scenes: [{ text: 'a', secs: 6 }] } }, scenes)!.message,
      'edits.scenes[0] must have the keys of the value under review (text, seconds): missing seconds; not expected secs',
    )
    assert.equal(
      decisionProblem({ decision: 'approve', edits: { 'two words': 1 } }, { ...request, value: { 'two words': 'x' } })!.message,
      'edits["two words"] must be the same kind of value as the one under review (a string), got a number',
    )
  })
})
