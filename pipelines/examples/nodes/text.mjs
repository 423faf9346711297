// Example plugin node types for pipelines/examples: plain text work with no imports beyond Node itself.
// A plugin module default-exports a node definition, or a list of them: { type, execute(ctx) }.
import { setTimeout as delay } from 'node:timers/promises'

/** Splits text into sentences. */
const split = {
  type: 'text_split',
  description: 'Splits `text` into sentences (at most `max`).',
  execute({ config }) {
    const sentences = String(config.text).split(/(?<=[.!?])\s+/).map((s) => s.trim()).filter(Boolean)
    return { sentences: sentences.slice(0, config.max ?? 20), count: sentences.length }
  },
}

/** Turns one sentence into a headline, slowly enough to watch (`delay_ms`). */
const headline = {
  type: 'text_headline',
  description: 'Title-cases `text` and numbers it with `index`.',
  async execute({ config, signal, emit }) {
    emit({ message: `writing headline ${config.index + 1}` })
    await delay(config.delay_ms ?? 200, undefined, { signal })
    const words = String(config.text).replace(/[.!?]+$/, '').split(/\s+/)
    const title = words.map((w) => w.charAt(0).toUpperCase() + w.slice(1)).join(' ')
    return { headline: `${config.index + 1}. ${title}`, words: words.length }
  },
}

/** Joins lines into one text block with a heading. */
const join = {
  type: 'text_join',
  description: 'Joins `lines` under `title`.',
  execute({ config }) {
    const body = config.lines.map((l) => `  ${l}`).join('\n')
    return { text: `${config.title}\n${body}`, lines: config.lines.length }
  },
}

export default [split, headline, join]
