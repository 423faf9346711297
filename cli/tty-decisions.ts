// DecisionSource on the terminal (`weft run --interactive`): shows the value under review and asks to
// approve, edit it in $EDITOR, revise with feedback, or reject (prompts by @inquirer/prompts).
import { editor, input, select } from '@inquirer/prompts'
import { parse as parseYaml, stringify as toYaml } from 'yaml'
import type { ApprovalRequest, Decision, DecisionSource } from '../engine/ports.ts'
import { decisionProblem } from '../engine/decision-rule.ts'

export interface TtyDecisionsOptions {
  /** Called before and after a question, so a live progress display can step aside. */
  pause?(): void
  resume?(): void
  /** Longest part of the value printed before the question (the rest is in `weft show`). */
  maxPreviewLines?: number
  /** Where keystrokes come from (default: stdin); tests pass a stream they write keys to. */
  input?: NodeJS.ReadableStream
  /**
   * Where the value and the questions are shown (default: stderr, so stdout stays for `--json`). Each question ends the
   * stream it writes to when done (Node spares stdout and stderr), so another stream must ignore `end()` to serve twice.
   */
  output?: NodeJS.WritableStream
}

type Choice = 'approve' | 'edit' | 'revise' | 'reject'

export class TtyDecisions implements DecisionSource {
  /** Questions are asked one at a time, even when several gates wait at once. */
  #queue: Promise<unknown> = Promise.resolve()
  constructor(private readonly opts: TtyDecisionsOptions = {}) {}

  decide(request: ApprovalRequest, signal: AbortSignal): Promise<Decision> {
    const next = this.#queue.then(() => this.#ask(request, signal))
    this.#queue = next.catch(() => {})
    return next
  }

  async #ask(request: ApprovalRequest, signal: AbortSignal): Promise<Decision> {
    signal.throwIfAborted()
    this.opts.pause?.()
    try {
      const out = this.opts.output ?? process.stderr
      const text = toYaml(request.value ?? null, { lineWidth: 100 })
      const lines = text.split('\n')
      const max = this.opts.maxPreviewLines ?? 60
      out.write(`\n── approval: ${request.gate}${request.revision ? ` (after ${request.revision} revision${request.revision > 1 ? 's' : ''})` : ''} ──\n`)
      if (request.message) out.write(`${request.message}\n\n`)
      out.write(lines.slice(0, max).join('\n') + (lines.length > max ? `\n… ${lines.length - max} more lines (choose "edit" to see all)\n` : '\n'))
      const choices: Array<{ name: string; value: Choice }> = [
        { name: 'approve', value: 'approve' },
        { name: 'edit, then approve', value: 'edit' },
      ]
      if (request.allowed.includes('revise')) choices.push({ name: 'revise (send back with feedback)', value: 'revise' })
      // an item's gate fails its item; the fan-out's on_item_error says whether that ends the run
      choices.push({ name: request.gate.includes('[') ? 'reject (fail this item)' : 'reject (end the run)', value: 'reject' })
      const ctx = { signal, input: this.opts.input ?? process.stdin, output: out }
      const choice = await select<Choice>({ message: `Decision for ${request.gate}`, choices }, ctx)
      if (choice === 'approve') return { decision: 'approve', by: 'human' }
      if (choice === 'edit') {
        const edited = await editor(
          {
            message: 'Edit the value (YAML or JSON); save and close the editor to approve it',
            default: text,
            postfix: '.yaml',
            // refused here, with the place at fault, so that the reviewer mends it: a decision recorded is never asked again
            validate: (s) => {
              let edits: unknown
              try {
                edits = parseYaml(s, { maxAliasCount: 100 })
              } catch (err) {
                return `not valid YAML: ${(err as Error).message.split('\n')[0]}`
              }
              return decisionProblem({ decision: 'approve', edits }, request)?.message ?? true
            },
          },
          ctx,
        )
        return { decision: 'approve', edits: parseYaml(edited, { maxAliasCount: 100 }) as unknown, by: 'human' }
      }
      const feedback = await input(
        {
          message: choice === 'revise' ? 'What should change?' : 'Why reject it? (optional)',
          required: choice === 'revise',
        },
        ctx,
      )
      return choice === 'revise' ? { decision: 'revise', feedback, by: 'human' } : { decision: 'reject', ...(feedback ? { feedback } : {}), by: 'human' }
    } finally {
      this.opts.resume?.()
    }
  }
}
