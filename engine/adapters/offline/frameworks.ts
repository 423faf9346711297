// Ad frameworks (AIDA, PAS, FAB, custom): their stages, and how stages spread over a number of beats.

export type Framework = 'AIDA' | 'PAS' | 'FAB' | 'custom'

export const STAGES: Record<Framework, readonly string[]> = {
  AIDA: ['attention', 'interest', 'desire', 'action'],
  PAS: ['problem', 'agitate', 'solution'],
  FAB: ['features', 'advantages', 'benefits'],
  custom: ['hook', 'build', 'payoff', 'close'],
}

/** Reads a framework name leniently ("aida", "AIDA (attention…)"); anything else is `custom`. */
export function frameworkOf(value: unknown): Framework {
  const s = String(value ?? '').toUpperCase()
  for (const f of ['AIDA', 'PAS', 'FAB'] as const) if (new RegExp(`\\b${f}\\b`).test(s)) return f
  return 'custom'
}

/**
 * The stages each of `n` beats covers, in order. With more beats than stages the middle stages get
 * the extra beats (a story lingers on interest and desire, not on the hook); with fewer, neighbouring
 * middle stages share a beat, and the opening and closing stages keep theirs.
 */
export function beatPlan(framework: Framework, n: number): string[][] {
  const stages = STAGES[framework]
  const k = stages.length
  if (n <= 0) return []
  if (n < k) {
    // The hook and the close keep their own beats; the middle stages share what is left.
    if (n < 3) return spread(stages, n)
    return [[stages[0]!], ...spread(stages.slice(1, -1), n - 2), [stages[k - 1]!]]
  }
  const counts = stages.map(() => Math.floor(n / k))
  const middle = k > 2 ? stages.map((_, i) => i).slice(1, -1) : stages.map((_, i) => i)
  for (let r = 0; r < n % k; r++) counts[middle[r % middle.length]!]!++
  return stages.flatMap((s, i) => Array.from({ length: counts[i]! }, () => [s]))
}

/** `stages` in order over `n` groups (n ≤ stages.length), each group neighbouring stages. */
function spread(stages: readonly string[], n: number): string[][] {
  const out: string[][] = Array.from({ length: n }, () => [])
  stages.forEach((s, i) => {
    out[Math.floor((i * n) / stages.length)]!.push(s)
  })
  return out
}

/** A beat's name: "Attention", "Interest & Desire", "Desire (2/2)". */
export function beatNames(plan: string[][]): string[] {
  const totals = new Map<string, number>()
  for (const p of plan) if (p.length === 1) totals.set(p[0]!, (totals.get(p[0]!) ?? 0) + 1)
  const seen = new Map<string, number>()
  return plan.map((stages) => {
    const name = stages.map(title).join(' & ')
    if (stages.length !== 1) return name
    const total = totals.get(stages[0]!)!
    const nth = (seen.get(stages[0]!) ?? 0) + 1
    seen.set(stages[0]!, nth)
    return total > 1 ? `${name} (${nth}/${total})` : name
  })
}

function title(stage: string): string {
  return stage[0]!.toUpperCase() + stage.slice(1)
}

/** The framework stages a beat name mentions, in framework order. */
function stagesNamed(framework: Framework, name: string): number[] {
  const n = name.toLowerCase()
  return STAGES[framework].flatMap((s, i) => (new RegExp(`\\b${s}`).test(n) ? [i] : []))
}

/**
 * Whether beat names follow the framework: every stage named, in order, no beat without a stage.
 * Returns the problems found (empty when they follow it).
 */
export function stageProblems(framework: Framework, names: readonly string[]): string[] {
  const stages = STAGES[framework]
  const problems: string[] = []
  let last = -1
  const covered = new Set<number>()
  names.forEach((name, i) => {
    const found = stagesNamed(framework, name)
    if (!found.length) problems.push(`beat ${i + 1} ("${name}") names no ${framework} stage`)
    for (const s of found) {
      if (s < last) problems.push(`beat ${i + 1} ("${name}") goes back to ${stages[s]} after ${stages[last]}`)
      last = Math.max(last, s)
      covered.add(s)
    }
  })
  const missing = stages.filter((_, i) => !covered.has(i))
  if (missing.length) problems.push(`no beat covers ${missing.join(', ')}`)
  return problems
}
