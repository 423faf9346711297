import { describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { decisionProblem } from '../../engine/decision-rule.ts'
import type { Decision } from '../../engine/ports.ts'

const request = { gate: 'approve_story', allowed: ['approve', 'reject', 'revise'] as Decision['decision'][], value: { title: 'Fizz', beats: [] } }

describe('the decision rule', () => {
  const cases: Array<[string, Decision, typeof request, string | undefined, string | undefined]> = [
    ['an approval', { decision: 'approve' }, request, undefined, undefined],
    ['an approval with edits of the same shape', { decision: 'approve', edits: { title: 'Fizz!', beats: [1] } }, request, undefined, undefined],
    ['a rejection without feedback', { decision: 'reject' }, request, undefined, undefined],
    ['a revision with feedback', { decision: 'revise', feedback: 'shorter' }, request, undefined, undefined],
    ['a revision the gate no longer allows', { decision: 'revise', feedback: 'again' }, { ...request, allowed: ['approve', 'reject'] }, 'DECISION_NOT_ALLOWED', 'decision'],
    ['a revision without feedback', { decision: 'revise', feedback: '  ' }, request, 'DECISION_INVALID', 'feedback'],
    ['edits with a rejection', { decision: 'reject', edits: { title: 'x', beats: [] } }, request, 'DECISION_INVALID', 'edits'],
    ['edits of another kind', { decision: 'approve', edits: 'just text' }, request, 'DECISION_INVALID', 'edits'],
    ['edits with other keys', { decision: 'approve', edits: { title: 'x' } }, request, 'DECISION_INVALID', 'edits'],
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
  })
})
