// The built-in prompt files: each loads, declares what it uses, has a task and (for JSON answers) a strict output schema.
import { describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { readdirSync } from 'node:fs'
import { builtinPromptDir, loadPrompt, placeholders, renderPrompt } from '../../engine/prompts.ts'

const files = readdirSync(builtinPromptDir)
  .filter((f) => f.endsWith('.yaml'))
  .map((f) => f.slice(0, -'.yaml'.length))
  .sort()

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
  framework: 'AIDA',
  duration_s: 30,
  scene_count: 4,
  product: 'Lumo',
  audience: '',
  tone: 'warm',
  feedback: '[visual_detail] Beat 2 has no light.',
  previous: { title: 'Lumo' },
  draft: { scenes: [{ index: 1 }] },
  story: { title: 'Lumo', beats: [{ name: 'Attention', summary: '…' }] },
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
        assert.deepEqual(
          [...used].filter((u) => !(u in p.variables)),
          [],
        )
        assert.deepEqual(
          Object.keys(p.variables).filter((k) => !used.has(k)),
          [],
          'declared but never used',
        )
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

describe('prompt file problems', () => {
  it("are reported at the prompt file's own line and column, naming the node field that uses the prompt", async () => {
    const { mkdtempSync, mkdirSync, writeFileSync } = await import('node:fs')
    const { tmpdir } = await import('node:os')
    const path = await import('node:path')
    const { loadPipeline } = await import('../../engine/dsl/load.ts')
    const dir = mkdtempSync(path.join(tmpdir(), 'weft-prompt-lines-'))
    mkdirSync(path.join(dir, 'prompts'))
    writeFileSync(path.join(dir, 'prompts', 'writer.yaml'), 'task: story\nvariables:\n  topic: {}\ntemplate: |\n  Write about {topic}.\n  Mention {brand} twice.\n')
    writeFileSync(
      path.join(dir, 'prompts', 'judge.yaml'),
      'task: story_critique\nvariables:\n  draft: {}\ntemplate: Score {draft}.\noutput:\n  type: object\n  required: [score, feedback]\n  properties:\n    score: { type: string }\n    feedback: { type: string }\n',
    )
    writeFileSync(path.join(dir, 'prompts', 'broken.yaml'), 'task: story\ntemplate: "unclosed\n')
    writeFileSync(
      path.join(dir, 'p.yaml'),
      'pipeline: p\nnodes:\n  s:\n    type: critic_loop\n    writer: writer\n    critic: judge\n    vars: { topic: t }\n    threshold: 80\n    max_iterations: 2\n  b:\n    type: agent\n    prompt: broken\n',
    )
    const res = await loadPipeline(path.join(dir, 'p.yaml'))
    const shown = res.diagnostics.map((d) => `${path.basename(d.file)}:${d.line}:${d.col} ${d.code} ${d.path}`)
    // one diagnostic per problem, where it is; the critic's `topic` is not called unknown while the writer cannot be read
    assert.deepEqual(shown.sort(), ['broken.yaml:3:1 PROMPT_INVALID ', 'judge.yaml:9:12 CRITIC_PROMPT_INVALID output.properties.score', 'writer.yaml:6:11 PROMPT_INVALID template'])
    const about = (file: string) => res.diagnostics.find((d) => path.basename(d.file) === file)!.message
    assert.match(about('writer.yaml'), /the template uses \{brand\} but `variables:` does not declare it \(used by nodes\.s\.writer\)$/)
    assert.match(about('judge.yaml'), /`score` must be a number .*\(used by nodes\.s\.critic\)$/)
    assert.match(about('broken.yaml'), /\(used by nodes\.b\.prompt\)$/)
  })
})
