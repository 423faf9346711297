// The built-in prompt files: each loads, declares what it uses, has a task and (for JSON answers) a strict output schema.
import { describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { readdirSync } from 'node:fs'
import { builtinPromptDir, loadPrompt, placeholders, renderPrompt } from '../../engine/prompts.ts'

const files = readdirSync(builtinPromptDir).filter((f) => f.endsWith('.yaml')).map((f) => f.slice(0, -'.yaml'.length)).sort()

/** The prompts the default pipeline depends on: their tasks and variables are a contract. */
const contract: Record<string, { task: string; vars: string[] }> = {
  story_director: { task: 'story', vars: ['brief', 'framework', 'duration_s', 'scene_count', 'product', 'audience', 'tone', 'feedback', 'previous'] },
  story_critic: { task: 'story_critique', vars: ['brief', 'framework', 'duration_s', 'scene_count', 'product', 'draft'] },
  reference_designer: { task: 'references', vars: ['story', 'brand'] },
  scene_writer: { task: 'scenes', vars: ['story', 'references', 'scene_count', 'duration_s', 'feedback', 'previous'] },
  scene_critic: { task: 'scene_critique', vars: ['story', 'references', 'scene_count', 'draft'] },
  scene_cohesor: { task: 'cohesion', vars: ['story', 'references', 'draft'] },
  scene_rewriter: { task: 'scene_rewrite', vars: ['story', 'references', 'previous', 'feedback'] },
}

const samples: Record<string, unknown> = {
  brief: 'A 30-second ad for Lumo, a smart desk lamp for night-shift nurses.',
  framework: 'AIDA', duration_s: 30, scene_count: 4, product: 'Lumo', audience: '', tone: 'warm',
  feedback: '[visual_detail] Beat 2 has no light.', previous: { title: 'Lumo' },
  draft: { scenes: [{ index: 1 }] }, story: { title: 'Lumo', beats: [{ name: 'Attention', summary: '…' }] },
  references: [{ role: 'character', description: 'Maya, 34', palette: ['#1c8c8c'] }],
  brand: { product_images: 1, character_images: 0, logo: true },
}

describe('built-in prompts', () => {
  it('include every prompt of the contract', () => {
    for (const name of Object.keys(contract)) assert.ok(files.includes(name), `prompts/${name}.yaml is missing`)
  })

  for (const name of files) {
    describe(name, () => {
      it('loads, and declares exactly the variables its text uses', () => {
        const p = loadPrompt(name, [builtinPromptDir])
        const used = new Set([...placeholders(p.template), ...placeholders(p.system ?? '')])
        assert.deepEqual([...used].filter((u) => !(u in p.variables)), [])
        assert.deepEqual(Object.keys(p.variables).filter((k) => !used.has(k)), [], 'declared but never used')
      })

      it('renders with sample variables, leaving no placeholder behind', () => {
        const p = loadPrompt(name, [builtinPromptDir])
        const vars = Object.fromEntries(Object.keys(p.variables).map((k) => [k, samples[k] ?? `sample ${k}`]))
        const out = renderPrompt(p, vars)
        for (const text of [out.prompt, out.system ?? '']) assert.doesNotMatch(text, /\{[a-z_][a-z0-9_]*\}/)
      })

      it('has a task, and a strict object schema when it asks for JSON', () => {
        const p = loadPrompt(name, [builtinPromptDir])
        if (!p.output) return
        assert.match(p.task ?? '', /^[a-z][a-z0-9_]*$/)
        assert.equal(p.output.type, 'object')
        assert.equal(p.output.additionalProperties, false)
        assert.ok(Array.isArray(p.output.required) && p.output.required.length > 0)
      })
    })
  }

  for (const [name, spec] of Object.entries(contract)) {
    it(`${name}: task "${spec.task}", the contract's variables, a JSON output`, () => {
      const p = loadPrompt(name, [builtinPromptDir])
      assert.equal(p.task, spec.task)
      for (const v of spec.vars) assert.ok(v in p.variables, `{${v}} is not declared`)
      assert.ok(p.output, 'no output schema')
      for (const v of ['feedback', 'previous']) {
        if (spec.task === 'scene_rewrite' || !(v in p.variables)) continue
        assert.equal(p.variables[v]!.default, '', `{${v}} must default to ""`)
      }
    })
  }

  it('a writer renders "" for feedback and previous on a first draft', () => {
    const p = loadPrompt('story_director', [builtinPromptDir])
    const out = renderPrompt(p, { brief: 'An ad for Lumo.', framework: 'PAS', duration_s: 20, scene_count: 3 })
    assert.equal(out.vars.feedback, '')
    assert.equal(out.vars.previous, '')
    assert.equal(out.vars.product, '')
    assert.match(out.prompt, /exactly 3 beats/)
  })
})
