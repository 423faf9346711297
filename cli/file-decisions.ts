// DecisionSource from a file (`weft run --decisions <file>`): a gate waits until the file holds its decision, so a
// script or a person can decide later, without a terminal. The file is read again while a gate waits.
import { readFile } from 'node:fs/promises'
import * as v from 'valibot'
import { parse as parseYaml } from 'yaml'
import type { ApprovalRequest, Decision, DecisionSource } from '../engine/ports.ts'
import type { GateNames } from '../engine/gate-names.ts'
import { sleep, systemClock, type Clock } from '../engine/clock.ts'
import { decisionProblem } from '../engine/decision-rule.ts'

const DecisionSchema = v.union([
  v.picklist(['approve', 'reject']),
  v.strictObject({
    decision: v.picklist(['approve', 'reject', 'revise']),
    /** With revise or reject: what to change, or why. */
    feedback: v.optional(v.string()),
    /** With approve: the value that replaces the gated value downstream. */
    edits: v.optional(v.unknown()),
    /** Who decided (default `file`). */
    by: v.optional(v.string()),
  }),
])

/**
 * The decisions file: gate id → its decision at every revision, or a list with one per revision (index 0 is
 * the first ask; a missing or null entry is not decided yet). A gate missing from the file waits.
 */
const DecisionsFileSchema = v.record(
  v.string(),
  v.union([DecisionSchema, v.array(v.nullable(DecisionSchema))], 'expected approve, reject, { decision, feedback, edits, by }, or a list of those (one per revision)'),
  'expected a mapping of gate ids to decisions',
)

export interface FileDecisionsOptions {
  /** The run's gates: an entry naming none of them (a typo) is told, once per content of the file. */
  gates?: GateNames
  /** How often a waiting gate reads the file again (ms, default 100). */
  pollMs?: number
  /** Told once per distinct problem (unreadable file, invalid content); the gates go on waiting for a fix. */
  onProblem?(message: string): void
  /** Times the polls (tests pass a manual one). */
  clock?: Clock
}

export class FileDecisions implements DecisionSource {
  /** Problems told about the file as it reads now: told again only once its content has changed. */
  readonly #told = new Set<string>()
  /** The content they were told about (undefined: the file could not be read). */
  #toldOf: string | undefined
  constructor(
    readonly file: string,
    private readonly opts: FileDecisionsOptions = {},
  ) {}

  async decide(request: ApprovalRequest, signal: AbortSignal): Promise<Decision> {
    for (;;) {
      signal.throwIfAborted()
      const found = await this.#lookUp(request)
      if (found) return found
      await sleep(this.opts.clock ?? systemClock, this.opts.pollMs ?? 100, signal)
    }
  }

  async #lookUp(request: ApprovalRequest): Promise<Decision | undefined> {
    let text: string
    try {
      text = await readFile(this.file, 'utf8')
    } catch (err) {
      this.#reading(undefined)
      // not written yet: the gate waits for it
      if ((err as { code?: string }).code !== 'ENOENT') this.#problem(`cannot read ${this.file}: ${(err as Error).message}`)
      return undefined
    }
    this.#reading(text)
    let parsed: unknown
    try {
      parsed = parseYaml(text, { maxAliasCount: 100 }) ?? {}
    } catch (err) {
      this.#problem(`${this.file} is not valid YAML or JSON: ${(err as Error).message.split('\n')[0]}`)
      return undefined
    }
    if (Array.isArray(parsed)) {
      this.#problem(`${this.file}: expected a mapping of gate ids to decisions, got a list`)
      return undefined
    }
    const checked = v.safeParse(DecisionsFileSchema, parsed)
    if (!checked.success) {
      const issue = checked.issues[0]
      this.#problem(`${this.file}${issue.path ? ` at ${issue.path.map((p) => String(p.key)).join('.')}` : ''}: ${issue.message}`)
      return undefined
    }
    const gates = this.opts.gates
    for (const name of gates ? Object.keys(checked.output) : []) {
      if (!gates!.has(name)) this.#problem(`${this.file}: "${name}" names no gate of this pipeline${gates!.shown.length ? ` (its gates: ${gates!.shown.join(', ')})` : ''}; it is never read`)
    }
    const entry = checked.output[request.gate]
    const one = Array.isArray(entry) ? entry[request.revision] : entry
    if (!one) return undefined
    const decision: Decision = typeof one === 'string' ? { decision: one, by: 'file' } : { ...one, by: one.by ?? 'file' }
    // a decision the gate cannot take is not recorded (a resume would replay it): the gate waits for a fix, as over the API
    const problem = decisionProblem(decision, request)
    if (problem) {
      this.#problem(`${this.file} at ${request.gate}${Array.isArray(entry) ? `[${request.revision}]` : ''}: ${problem.message} (${problem.code})`)
      return undefined
    }
    return decision
  }

  /** A new content (or none) is read: what was told of the one before may be told again. */
  #reading(text: string | undefined): void {
    if (text === this.#toldOf) return
    this.#toldOf = text
    this.#told.clear()
  }

  /** Tells a problem once per content of the file, however many gates wait on it and however often they look. */
  #problem(message: string): void {
    if (this.#told.has(message)) return
    this.#told.add(message)
    this.opts.onProblem?.(message)
  }
}
