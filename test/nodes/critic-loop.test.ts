import { describe, it } from 'node:test'
import path from 'node:path'
import assert from 'node:assert/strict'
import type { ModelRequest } from '../../engine/ports.ts'
import { runNode } from '../support/node-task.ts'
import { ScriptedModel } from '../support/scripted-model.ts'
import { load } from '../helpers.ts'

type Loop = { draft: { text: string }; score: number; passed: boolean; iterations: number; best_iteration: number; history: Array<{ score: number; feedback: string; draft: unknown }> }
const vars = (r: ModelRequest) => (r.meta as { vars: Record<string, unknown> }).vars

/** Writer answers `draft N`; the critic answers the given scores in turn. */
function script(scores: number[]) {
  const answers: unknown[] = []
  scores.forEach((score, i) => {
    answers.push({ text: `draft ${i + 1}` }, { score, feedback: `fix ${i + 1}` })
  })
  return new ScriptedModel(answers)
}

describe('critic_loop node', () => {
  it('stops as soon as the score reaches the threshold (checked in code)', async () => {
    const model = script([50, 70, 90, 99])
    const out = await runNode('critic_loop', { writer: 'writer', critic: 'critic', vars: { topic: 'soda' }, threshold: 85, max_iterations: 4 }, { providers: { model } })
    assert.equal(out.ok, true)
    const o = (out.ok && out.output) as Loop
    assert.equal(o.iterations, 3)
    assert.equal(o.passed, true)
    assert.equal(o.score, 90)
    assert.deepEqual(o.draft, { text: 'draft 3' })
    assert.equal(model.requests.length, 6)
  })

  it('keeps the best-scoring draft, not the last, when iterations run out', async () => {
    const model = script([60, 80, 70])
    const out = await runNode('critic_loop', { writer: 'writer', critic: 'critic', vars: { topic: 'soda' }, threshold: 85, max_iterations: 3 }, { providers: { model } })
    const o = (out.ok && out.output) as Loop
    assert.equal(o.passed, false)
    assert.equal(o.iterations, 3)
    assert.equal(o.best_iteration, 2)
    assert.deepEqual(o.draft, { text: 'draft 2' })
    assert.deepEqual(
      o.history.map((h) => h.score),
      [60, 80, 70],
    )
  })

  it('gives each rewrite the previous draft and the critic feedback; the critic gets the draft', async () => {
    const model = script([10, 95])
    await runNode('critic_loop', { writer: 'writer', critic: 'critic', vars: { topic: 'soda' }, threshold: 85, max_iterations: 3 }, { providers: { model } })
    const [w1, c1, w2, c2] = model.requests.map(vars)
    assert.equal(w1!.feedback, '')
    assert.equal(w1!.previous, '')
    assert.deepEqual(c1!.draft, { text: 'draft 1' })
    assert.equal(w2!.feedback, 'fix 1')
    assert.deepEqual(w2!.previous, { text: 'draft 1' })
    assert.deepEqual(c2!.draft, { text: 'draft 2' })
  })

  it('critiques an `initial` draft before writing anything', async () => {
    const model = new ScriptedModel([{ score: 40, feedback: 'tighten' }, { text: 'rewrite' }, { score: 88, feedback: 'ok' }])
    const out = await runNode('critic_loop', { writer: 'writer', critic: 'critic', vars: { topic: 't' }, initial: { text: 'given' }, threshold: 80, max_iterations: 2 }, { providers: { model } })
    const o = (out.ok && out.output) as Loop
    assert.deepEqual(
      o.history.map((h) => h.draft),
      [{ text: 'given' }, { text: 'rewrite' }],
    )
    assert.deepEqual(vars(model.requests[1]!).previous, { text: 'given' })
    assert.equal(o.score, 88)
  })

  it("starts a revision from the reviewer's feedback on the draft they saw", async () => {
    const model = new ScriptedModel([{ text: 'revised' }, { score: 90, feedback: '' }])
    const out = await runNode(
      'critic_loop',
      { writer: 'writer', critic: 'critic', vars: { topic: 't' }, threshold: 80, max_iterations: 2 },
      { providers: { model }, revision: { round: 1, feedback: 'more fizz', previous: { text: 'seen' } } },
    )
    assert.equal(out.ok, true)
    assert.equal(vars(model.requests[0]!).feedback, 'more fizz')
    assert.deepEqual(vars(model.requests[0]!).previous, { text: 'seen' })
  })

  it('fails with CRITIC_ANSWER_INVALID when the critic prompt cannot give a score', async () => {
    const model = new ScriptedModel([{ text: 'd' }, 'Looks great!'])
    const out = await runNode('critic_loop', { writer: 'writer', critic: 'plain', vars: { topic: 't', name: 'x' }, threshold: 80, max_iterations: 2 }, { providers: { model } })
    assert.equal(!out.ok && out.error.code, 'CRITIC_ANSWER_INVALID')
  })

  it('refuses before running a critic prompt that does not declare the answer a critic gives', async () => {
    const res = await load(
      `pipeline: t\nprompts: $FIXTURES/prompts\nnodes:\n  s:\n    type: critic_loop\n    writer: writer\n    critic: plain\n    vars: { topic: t, name: x }\n    threshold: 80\n    max_iterations: 2\n`,
    )
    // reported in the prompt file itself (it has no `output:` at all: its top), naming the node field that uses it
    assert.deepEqual(
      res.diagnostics.map((d) => [d.code, path.basename(d.file), d.line, d.col, d.path]),
      [['CRITIC_PROMPT_INVALID', 'plain.yaml', 1, 1, '']],
    )
    assert.match(res.diagnostics[0]!.message, /critic prompt "plain" declares no `output:` schema.*\(used by nodes\.s\.critic\)$/)
    // the fixture critic declares score and feedback: no problem
    const ok = await load(
      `pipeline: t\nprompts: $FIXTURES/prompts\nnodes:\n  s:\n    type: critic_loop\n    writer: writer\n    critic: critic\n    vars: { topic: t }\n    threshold: 80\n    max_iterations: 2\n`,
    )
    assert.deepEqual(ok.diagnostics, [])
  })

  it('reports missing writer and critic variables before running', async () => {
    const res = await load(
      `pipeline: t\nprompts: $FIXTURES/prompts\nnodes:\n  s:\n    type: critic_loop\n    writer: writer\n    critic: critc\n    vars: {}\n    threshold: 80\n    max_iterations: 2\n`,
    )
    assert.deepEqual(
      res.diagnostics.map((d) => [d.code, d.path]),
      [
        ['PROMPT_NOT_FOUND', 'nodes.s.critic'],
        ['PROMPT_VARIABLE_MISSING', 'nodes.s.vars'],
      ],
    )
  })
})
