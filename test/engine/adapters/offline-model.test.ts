// The offline model: deterministic, schema-conforming answers, and critics whose loops converge for real reasons.
import { describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { briefClaims, wardrobe } from '../../../engine/adapters/offline/story.ts'
import { keywordLists } from '../../../engine/adapters/offline/story-critique.ts'
import { OfflineModel } from '../../../engine/adapters/offline-model.ts'
import { WeftError } from '../../../engine/errors.ts'
import { builtinPromptDir, checkAnswer, loadPrompt, renderPrompt } from '../../../engine/prompts.ts'
import type { ModelRequest } from '../../../engine/ports.ts'

const model = new OfflineModel()
const opts = () => ({ signal: new AbortController().signal, idempotencyKey: 'run:node:1' })

function request(name: string, vars: Record<string, unknown>): ModelRequest {
  const p = loadPrompt(name, [builtinPromptDir])
  const r = renderPrompt(p, vars)
  const req: ModelRequest = { prompt: r.prompt, meta: { prompt: name, task: p.task, vars: r.vars } }
  if (r.system !== undefined) req.system = r.system
  if (p.output) req.schema = p.output
  return req
}

/** Asks the offline model through a built-in prompt, as an agent node would, and checks the answer against the prompt. */
async function ask(name: string, vars: Record<string, unknown>): Promise<any> {
  const res = await model.complete(request(name, vars), opts())
  assert.equal(res.model, 'offline')
  assert.deepEqual(JSON.parse(res.text), res.json)
  assert.deepEqual(checkAnswer(loadPrompt(name, [builtinPromptDir]), res.json), [])
  return res.json
}

const brief = {
  brief: 'A 30-second ad for Lumo, a smart desk lamp for night-shift nurses. Warm, reassuring, teal and amber tones.',
  framework: 'AIDA',
  duration_s: 30,
  scene_count: 4,
}
const critic = (draft: unknown, over: Record<string, unknown> = {}) => ask('story_critic', { ...brief, ...over, draft })

/** A critic loop as the critic_loop node runs it: write, score, feed the critique back; stop at the threshold. */
async function storyLoop(threshold = 85, max = 3) {
  const scores: number[] = []
  let draft: any
  let critique: any = { feedback: '' }
  for (let i = 0; i < max; i++) {
    draft = await ask('story_director', { ...brief, feedback: critique.feedback, previous: draft ? JSON.stringify(draft) : '' })
    critique = await critic(draft)
    scores.push(critique.score)
    if (critique.score >= threshold) break
  }
  return { scores, draft, critique }
}

async function approvedStory() {
  const { draft } = await storyLoop()
  const images = (await ask('reference_designer', { story: draft, brand: { product_images: 0, character_images: 0, logo: false } })).images
  return { story: draft, references: images.map(({ role, description, palette }: any) => ({ role, description, palette })) }
}

async function sceneLoop(threshold = 80, max = 3) {
  const { story, references } = await approvedStory()
  const scores: number[] = []
  let draft: any
  let critique: any = { feedback: '' }
  for (let i = 0; i < max; i++) {
    draft = await ask('scene_writer', { story, references, scene_count: 4, duration_s: 30, feedback: critique.feedback, previous: draft ?? '' })
    critique = await ask('scene_critic', { story, references, scene_count: 4, duration_s: 30, draft })
    scores.push(critique.score)
    if (critique.score >= threshold) break
  }
  return { story, references, scores, draft }
}

describe('OfflineModel', () => {
  it('answers the same request with the same answer', async () => {
    const req = request('story_director', brief)
    const a = await model.complete(req, opts())
    const b = await new OfflineModel().complete(structuredClone(req), opts())
    assert.equal(a.text, b.text)
    assert.equal(model.name, 'offline')
    assert.ok((a.usage?.input_tokens ?? 0) > 0 && (a.usage?.output_tokens ?? 0) > 0)
  })

  it('spreads the framework stages over the beats', async () => {
    const names = async (framework: string, scene_count: number) => (await ask('story_director', { ...brief, framework, scene_count })).beats.map((b: any) => b.name)
    assert.deepEqual(await names('AIDA', 4), ['Attention', 'Interest', 'Desire', 'Action'])
    assert.deepEqual(await names('PAS', 3), ['Problem', 'Agitate', 'Solution'])
    assert.deepEqual(await names('FAB', 3), ['Features', 'Advantages', 'Benefits'])
    assert.deepEqual(await names('AIDA', 6), ['Attention', 'Interest (1/2)', 'Interest (2/2)', 'Desire (1/2)', 'Desire (2/2)', 'Action'])
    assert.deepEqual(await names('PAS', 5), ['Problem', 'Agitate (1/3)', 'Agitate (2/3)', 'Agitate (3/3)', 'Solution'])
    assert.deepEqual(await names('AIDA', 3), ['Attention', 'Interest & Desire', 'Action'])
  })

  it('reads product, audience and colours from the brief', async () => {
    const story = await ask('story_director', brief)
    assert.equal(story.product, 'Lumo')
    assert.equal(story.audience, 'night-shift nurses')
    assert.deepEqual(story.palette.slice(0, 2), ['#1c8c8c', '#f2a93b']) // teal, amber
    const quoted = await ask('story_director', { ...brief, brief: 'Make a playful 15 second spot for our new oat milk aimed at busy parents', framework: 'PAS', scene_count: 3 })
    assert.equal(quoted.product, 'oat milk')
    assert.equal(quoted.audience, 'busy parents')
    assert.match(quoted.story, /\*\*Tone:\*\* playful/)
  })

  it('reads 20 varied briefs into an audience and one person of it, with none of the known defects in the story', async () => {
    // [brief, framework, product given, the audience read, the person the logline names]
    const cases: Array<[string, string, string, string, string]> = [
      ['Meet Fizz, the sparkling lemon soda for summer afternoons. Grab one today!', 'AIDA', '', 'everyday customers', 'an everyday customer'],
      ['Orbit Mug keeps coffee hot for eight hours. For commuters who hate cold coffee.', 'PAS', 'Orbit Mug', 'everyday customers', 'an everyday customer'],
      ['A 30-second ad for Lumo, a smart desk lamp for night-shift nurses.', 'AIDA', '', 'night-shift nurses', 'a night-shift nurse'],
      ['Introduce TrailPro hiking boots to weekend hikers. Rugged, waterproof, premium.', 'FAB', '', 'weekend hikers', 'a weekend hiker'],
      ['Our oat milk for busy parents: creamy, plant-based, playful tone.', 'PAS', 'oat milk', 'busy parents', 'a busy parent'],
      ['Launch the Nimbus 2 noise-cancelling headphones for remote workers.', 'AIDA', 'Nimbus 2', 'remote workers', 'a remote worker'],
      ['A calm meditation app, StillPoint, for anxious students before exams.', 'FAB', 'StillPoint', 'anxious students', 'an anxious student'],
      ['Sell the Volt e-bike to urban cyclists who want to skip traffic.', 'AIDA', 'Volt', 'urban cyclists', 'an urban cyclist'],
      ['A bold ad for GripTape climbing chalk aimed at young climbers.', 'AIDA', 'GripTape', 'young climbers', 'a young climber'],
      ['KidSafe smartwatch for parents of young children. Reassuring, warm.', 'FAB', 'KidSafe', 'parents of young children', 'a parent of young children'],
      ['Promote SolarCharge, a solar power bank for campers and festival-goers.', 'AIDA', 'SolarCharge', 'campers and festival-goers', 'a camper'],
      ['An elegant ad for Maison Noir perfume targeting women over 40.', 'FAB', 'Maison Noir', 'women over 40', 'a woman over 40'],
      ['FreshBox meal kits for first-time cooks who are short on time.', 'PAS', 'FreshBox', 'first-time cooks', 'a first-time cook'],
      ['Advertise the PawPal automatic pet feeder to dog owners who travel.', 'AIDA', 'PawPal', 'dog owners', 'a dog owner'],
      ['A funny spot for Crunchies cereal aimed at teenagers.', 'AIDA', 'Crunchies', 'teenagers', 'a teenager'],
      ['Present LedgerLite accounting software to small business owners.', 'FAB', 'LedgerLite', 'small business owners', 'a small business owner'],
      ['Zest electrolyte drink for marathon runners training in the heat.', 'PAS', 'Zest', 'marathon runners', 'a marathon runner'],
      ['A heartfelt ad for the Hearth family photo book service.', 'AIDA', 'Hearth', 'everyday customers', 'an everyday customer'],
      ['Sell AquaPure water filters to eco-conscious households.', 'FAB', 'AquaPure', 'eco-conscious households', 'a member of an eco-conscious household'],
      ['Petal & Pine candles for people who love cosy evenings at home.', 'PAS', 'Petal & Pine', 'people', 'a person'],
    ]
    const defects: Array<[RegExp, string]> = [
      [/\ba (?:[aeiu]\w|o(?!ne))/i, '"a" before a vowel'],
      [/\ban (?!hour|honest)[bcdfgjklmnpqrstvwxyz]\w/i, '"an" before a consonant'],
      [/undefined|\bnull\b|\[object Object\]|NaN/, 'a placeholder leaked'],
      [/\b(?:a|an) \w+(?:-\w+)? (?:hours?|afternoons?|mornings?|summers?)\b/i, 'a time taken for a person'],
      [/\b(?:a|an) [\w-]+s (?:of|over|and|before|training)\b/, 'a plural taken for one person'],
    ]
    for (const [text, framework, product, audience, person] of cases) {
      const story = await ask('story_director', { brief: text, framework, duration_s: 24, scene_count: 3, product })
      assert.equal(story.audience, audience, text)
      assert.match(story.logline, new RegExp(`^\\w+, ${person}, `), text)
      const all = JSON.stringify(story)
      for (const [re, what] of defects) assert.doesNotMatch(all, re, `${what} in the story for "${text}": ${all.match(re)?.[0]}`)
      if (product) assert.ok(all.includes(product), `"${product}" kept whole for "${text}"`)
    }
  })

  it('takes "for summer afternoons" as when, not who, and writes "an" before a vowel sound', async () => {
    const fizz = await ask('story_director', { ...brief, brief: 'Meet Fizz, the sparkling lemon soda for summer afternoons. Grab one today!' })
    assert.equal(fizz.audience, 'everyday customers')
    assert.doesNotMatch(JSON.stringify(fizz), /a summer afternoon|a everyday|a engineer|a office/i)
    assert.match(fizz.logline, /, an everyday customer,/)
    assert.match(fizz.characters[0].description, /^\w+, an everyday customer: /)
    const nurses = await ask('story_director', brief)
    assert.match(nurses.logline, /, a night-shift nurse,/)
    const engineers = await ask('story_director', { ...brief, brief: 'A desk fan for office engineers who hate noise.' })
    assert.match(engineers.logline, /, an office engineer,/)
  })

  it('reads a product named at the very start, dresses people for their day, and gives no age', async () => {
    const zest = await ask('story_director', { brief: 'Zest electrolyte drink for marathon runners training in the heat.', framework: 'AIDA', duration_s: 24, scene_count: 3 })
    assert.equal(zest.product, 'Zest')
    assert.match(zest.characters[0].description, /^\w+, a marathon runner: [^.]*(running jacket|training top|technical shell jacket)/)
    assert.doesNotMatch(zest.characters[0].description, /\d/)
    assert.equal(wardrobe('night-shift nurses', 'the hospital corridor', 1).startsWith('scrubs'), true)
    for (let seed = 0; seed < 8; seed++) {
      assert.doesNotMatch(wardrobe('everyday customers', 'the sunny beach', seed), /scrubs|blazer|sweater/)
      assert.doesNotMatch(wardrobe('office engineers', 'the open-plan office', seed), /scrubs|running/)
    }
  })

  it('writes every scene its own spot and caption, in the first draft already', async () => {
    for (const text of ['Meet Orbit Mug, the self-heating mug for busy parents. Keeps coffee hot for 3 hours.', 'Sell the Volt e-bike to urban cyclists who want to skip traffic.']) {
      const story = await ask('story_director', { brief: text, framework: 'AIDA', duration_s: 40, scene_count: 5 })
      const { scenes } = await ask('scene_writer', { story, references: [], scene_count: 5, duration_s: 40 })
      assert.equal(scenes.length, 5)
      assert.equal(new Set(scenes.map((x: { visuals: string }) => x.visuals)).size, 5, `visuals repeat for "${text}"`)
      assert.equal(new Set(scenes.map((x: { caption: string }) => x.caption)).size, 5, `captions repeat for "${text}"`)
    }
  })

  describe('story critic loop', () => {
    it('starts below the threshold, rises every round and passes 85 within 3 rounds', async () => {
      const { scores } = await storyLoop()
      assert.ok(scores[0]! < 85, `first draft scored ${scores[0]}`)
      for (let i = 1; i < scores.length; i++) assert.ok(scores[i]! > scores[i - 1]!, `scores ${scores.join(' → ')}`)
      assert.ok(scores.at(-1)! >= 85 && scores.length <= 3, `scores ${scores.join(' → ')}`)
    })

    it('names every failed check by its code, and the revision fixes what was named', async () => {
      const first = await ask('story_director', brief)
      const c1 = await critic(first)
      for (const code of ['visual_detail', 'presence', 'emotion', 'effectiveness']) assert.match(c1.feedback, new RegExp(`\\[${code}\\]`))
      assert.ok(c1.priority_fixes.length > 0 && c1.priority_fixes.every((f: string) => /^\[[a-z_]+\]/.test(f)))
      const second = await ask('story_director', { ...brief, feedback: c1.feedback, previous: first })
      const c2 = await critic(second)
      for (const code of ['visual_detail', 'presence', 'emotion', 'effectiveness'] as const) assert.ok(c2.breakdown[code] > c1.breakdown[code], code)
      assert.match(second.story, /## Call to action/)
      assert.doesNotMatch(first.story, /## Call to action/)
    })

    it('changes nothing when the critic asks for nothing', async () => {
      const { draft, critique } = await storyLoop(100)
      assert.match(critique.feedback, /^\[ok\]/)
      assert.deepEqual(await ask('story_director', { ...brief, feedback: critique.feedback, previous: draft }), draft)
    })

    it('meets the brief by saying its claims, never by listing its words; a keyword list costs prompt_alignment', async () => {
      const soda = { brief: 'Fizz is a sparkling lemon soda for summer picnics. Zero sugar and made with real lemons. Playful tone.', framework: 'AIDA', duration_s: 32, scene_count: 4 }
      let draft: any
      let critique: any = { feedback: '' }
      for (let i = 0; i < 3; i++) {
        draft = await ask('story_director', { ...soda, feedback: critique.feedback, previous: draft ? JSON.stringify(draft) : '' })
        critique = await ask('story_critic', { ...soda, draft })
        assert.equal(keywordLists(draft.story).length, 0, `round ${i + 1} lists words: ${keywordLists(draft.story)}`)
        assert.doesNotMatch(draft.story, /Brief focus/)
      }
      assert.match(draft.story, /Voice-over: “Zero sugar and made with real lemons\.”/)
      assert.ok(critique.breakdown.prompt_alignment >= 80, `prompt_alignment ${critique.breakdown.prompt_alignment}`)
      // the same story with a list of the brief's words appended scores lower, and says why
      const stuffed = { ...draft, story: `${draft.story}\n**Brief focus:** sparkling, lemon, soda, summer, picnics.\n` }
      const c = await ask('story_critic', { ...soda, draft: stuffed })
      assert.ok(c.breakdown.prompt_alignment < critique.breakdown.prompt_alignment, `${critique.breakdown.prompt_alignment} → ${c.breakdown.prompt_alignment}`)
      assert.match(c.feedback, /\[prompt_alignment\][^\n]*instead of listing words/)
    })

    it('takes only claims from a brief for the voice-over, not instructions to the agency', () => {
      assert.deepEqual(briefClaims('Meet Orbit Mug. Keeps coffee hot for 3 hours. Make it playful. A 30-second ad for busy parents. Who needs cold coffee?', 'Orbit Mug'), [
        'Keeps coffee hot for 3 hours.',
      ])
    })

    it('really checks: without the product, presence drops', async () => {
      const { draft, critique } = await storyLoop()
      const without = JSON.parse(JSON.stringify(draft).replaceAll('Lumo', 'the lamp'))
      const c = await critic(without)
      assert.ok(c.breakdown.presence < critique.breakdown.presence - 30, `${critique.breakdown.presence} → ${c.breakdown.presence}`)
      assert.ok(c.score < critique.score)
      assert.match(c.feedback, /\[presence\]/)
    })

    it('really checks: with a beat missing, narrative and pacing drop', async () => {
      const { draft, critique } = await storyLoop()
      const c = await critic({ ...draft, beats: draft.beats.slice(0, 3) })
      assert.ok(c.breakdown.narrative < critique.breakdown.narrative)
      assert.ok(c.breakdown.pacing < critique.breakdown.pacing)
      assert.match(c.feedback, /\[narrative\][^\n]*exactly 4 beats/)
    })

    it("reflects a reviewer's own words in the revision and records them", async () => {
      const { draft } = await storyLoop()
      const revised = await ask('story_director', { ...brief, feedback: 'Make it funnier and mention the price $2.99.', previous: draft })
      assert.match(revised.story, /\$2\.99/)
      assert.match(revised.call_to_action, /\$2\.99/)
      assert.match(revised.story, /\*\*Tone:\*\* playful and funny/)
      assert.match(revised.story, /## Revision notes\n- “Make it funnier and mention the price \$2\.99\.”/)
      assert.ok((await critic(revised)).score >= 85, 'the revision keeps what the critic approved')
      // The next critic round keeps the reviewer's request.
      const again = await ask('story_director', { ...brief, feedback: '[pacing] Tighten.', previous: revised })
      assert.match(again.story, /\$2\.99/)
    })

    it("says which of a reviewer's notes it cannot act on, and keeps both kinds across revisions", async () => {
      const { draft } = await storyLoop()
      const revised = await ask('story_director', { ...brief, feedback: 'Mention the price $2.99.\nGive the nurse a dog.', previous: draft })
      assert.match(revised.story, /- “Mention the price \$2\.99\.”\n/)
      assert.match(revised.story, /- “Give the nurse a dog\.” \(not acted on: the offline writer has no rule for this\)/)
      const again = await ask('story_director', { ...brief, feedback: '[ok] fine', previous: revised })
      assert.match(again.story, /- “Give the nurse a dog\.” \(not acted on/)
      assert.equal((again.story.match(/Give the nurse a dog/g) ?? []).length, 1, 'the note is kept once')
    })

    it('makes a shorter story when asked', async () => {
      const { draft } = await storyLoop()
      const shorter = await ask('story_director', { ...brief, feedback: 'Shorter, please.', previous: draft })
      assert.ok(shorter.story.split(/\s+/).length < draft.story.split(/\s+/).length)
    })
  })

  describe('scenes', () => {
    it('describes a character, a product and an environment reference, noting supplied brand assets', async () => {
      const { story } = await approvedStory()
      const { images } = await ask('reference_designer', { story, brand: { product_images: 2, character_images: 0, logo: true } })
      assert.deepEqual(
        images.map((i: any) => i.role),
        ['character', 'product', 'environment'],
      )
      assert.match(images[1].description, /2 supplied product photos/)
      assert.match(images[1].description, /logo/)
      assert.doesNotMatch(images[0].description, /supplied/)
    })

    it('writes one scene per beat, 4/6/8 s each, adding up to the ad', async () => {
      const { story, references } = await approvedStory()
      const { scenes } = await ask('scene_writer', { story, references, scene_count: 4, duration_s: 30 })
      assert.deepEqual(
        scenes.map((s: any) => s.beat),
        story.beats.map((b: any) => b.name),
      )
      assert.equal(
        scenes.reduce((t: number, s: any) => t + s.duration_s, 0),
        30,
      )
      assert.equal(new Set(scenes.map((s: any) => s.camera)).size, 4)
      assert.ok(scenes.every((s: any) => s.caption.length <= 60))
    })

    it('converges under the scene critic: below 80, then at least 80 within 3 rounds', async () => {
      const { scores } = await sceneLoop()
      assert.ok(scores[0]! < 80, `first draft scored ${scores[0]}`)
      for (let i = 1; i < scores.length; i++) assert.ok(scores[i]! > scores[i - 1]!, `scores ${scores.join(' → ')}`)
      assert.ok(scores.at(-1)! >= 80 && scores.length <= 3, `scores ${scores.join(' → ')}`)
    })

    it('has a scene critic that really checks cameras and lengths', async () => {
      const { story, references, draft } = await sceneLoop()
      const good = await ask('scene_critic', { story, references, scene_count: 4, duration_s: 30, draft })
      const flat = { scenes: draft.scenes.map((s: any) => ({ ...s, camera: 'camera on subject', duration_s: 5 })) }
      const bad = await ask('scene_critic', { story, references, scene_count: 4, duration_s: 30, draft: flat })
      assert.ok(bad.breakdown.cinematography < good.breakdown.cinematography)
      assert.ok(bad.breakdown.production_readiness < good.breakdown.production_readiness)
      assert.match(bad.feedback, /^Scene 1 \[cinematography\]/m)
      assert.equal(bad.per_scene.length, 4)
    })

    it("cohesion catches the first draft's gaps; the rewrite fixes only the flagged scenes and scores higher", async () => {
      const { story, references, draft } = await sceneLoop()
      const review = await ask('scene_cohesor', { story, references, draft })
      assert.equal(review.pairs.length, 3)
      assert.deepEqual(
        review.pairs.map((p: any) => [p.from, p.to]),
        [
          [1, 2],
          [2, 3],
          [3, 4],
        ],
      )
      const flagged = new Set(review.scene_feedback.map((f: any) => f.index))
      assert.ok(flagged.size >= 1, 'the first draft leaves a continuity gap')
      assert.match(review.feedback, /^Scene \d \[continuity\]/m)
      const rewritten = await ask('scene_rewriter', { story, references, previous: draft, feedback: review.feedback })
      draft.scenes.forEach((s: any, i: number) => {
        if (flagged.has(s.index)) assert.notEqual(rewritten.scenes[i].start_frame, s.start_frame)
        else assert.equal(JSON.stringify(rewritten.scenes[i]), JSON.stringify(s))
      })
      const again = await ask('scene_cohesor', { story, references, draft: rewritten })
      assert.ok(again.score > review.score, `${review.score} → ${again.score}`)
      assert.deepEqual(again.scene_feedback, [])
      assert.ok(review.score < 80 && again.score >= 80, 'one jumping join in four scenes fails an 80 threshold; the rewrite passes it')
    })
    it("applies a reviewer's words to the scenes they name, and nowhere else", async () => {
      const { story, references, draft } = await sceneLoop()
      const feedback = 'Scene 2 feels flat. Mention the price $2.99.'
      const revised = await ask('scene_rewriter', { story, references, previous: draft, feedback })
      assert.match(revised.scenes[1].continuity, /Reviewer: “Scene 2 feels flat\. Mention the price \$2\.99\.”/)
      assert.match(revised.scenes[3].audio, /\$2\.99/)
      assert.deepEqual(revised.scenes[0], draft.scenes[0])
      assert.deepEqual(revised.scenes[2], draft.scenes[2])
    })
  })

  describe('other prompts', () => {
    it("fills an unknown task's schema with a conforming value", async () => {
      const schema = {
        type: 'object',
        additionalProperties: false,
        required: ['headline', 'tags', 'rating', 'tone', 'colour', 'meta'],
        properties: {
          headline: { type: 'string', minLength: 5, maxLength: 40 },
          tags: { type: 'array', minItems: 2, items: { type: 'string' } },
          rating: { type: 'integer', minimum: 3, maximum: 7 },
          tone: { enum: ['dry', 'warm'] },
          colour: { type: 'string', pattern: '^#[0-9a-f]{6}$' },
          meta: { $ref: '#/definitions/meta' },
          unused: { type: 'number' },
        },
        definitions: { meta: { type: 'object', required: ['ok'], properties: { ok: { type: 'boolean' } } } },
      }
      const req: ModelRequest = { prompt: 'Write a headline for the spring sale of garden furniture.', schema, meta: { prompt: 'headline', task: 'headline' } }
      const res = await model.complete(req, opts())
      const json = res.json as any
      assert.equal(json.tags.length, 2)
      assert.ok(json.rating >= 3 && json.rating <= 7 && Number.isInteger(json.rating))
      assert.equal(json.tone, 'dry')
      assert.match(json.colour, /^#[0-9a-f]{6}$/)
      assert.deepEqual(json.meta, { ok: true })
      assert.ok(json.headline.length >= 5 && json.headline.length <= 40)
      assert.deepEqual((await model.complete(req, opts())).json, json)
    })

    it('answers a text prompt with a summary of it', async () => {
      const res = await model.complete({ prompt: 'Suggest a tagline for Lumo, the lamp for night shifts.' }, opts())
      assert.equal(res.json, undefined)
      assert.match(res.text, /tagline for Lumo/)
    })

    it('refuses to return an answer that does not match the schema', async () => {
      const req = request('story_director', brief)
      req.schema = { type: 'object', required: ['headline'] }
      await assert.rejects(model.complete(req, opts()), (err: WeftError) => err.code === 'MODEL_ANSWER_INVALID' && err.retryable === false)
    })

    it('rejects when the signal is aborted', async () => {
      const signal = AbortSignal.abort(new WeftError('CANCELLED', 'run cancelled'))
      await assert.rejects(model.complete(request('story_director', brief), { signal, idempotencyKey: 'k' }), { code: 'CANCELLED' })
    })
  })
})
