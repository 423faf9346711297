// A re-run of a recorded run: which nodes keep their recorded outputs (everything upstream of `--from`), which
// execute again whatever the cache holds (`--from` and everything downstream), and the kept outputs moved into
// the new run's folder (files linked, not copied).
import { rm } from 'node:fs/promises'
import path from 'node:path'
import { bfsFromNode } from 'graphology-traversal'
import { topologicalSort } from 'graphology-dag'
import { WeftError } from './errors.ts'
import { buildGraph } from './graph.ts'
import { didYouMean } from './dsl/reporter.ts'
import type { Pipeline } from './dsl/pipeline.ts'
import type { NodeRecord, RunRecord } from './ports.ts'
import { filesIn, placeFile, rebase, walk } from './cache/run-files.ts'

export interface RerunPlan {
  /** Upstream of `from`: recorded outputs kept (those that succeeded, or were skipped by their `when`). */
  keep: string[]
  /** `from` and everything downstream of it: executed again, bypassing the cache. */
  refresh: string[]
}

/** Pure: the plan for re-running `pipeline` from node `from` (without it, nothing is kept and the cache decides). */
export function planRerun(pipeline: Pipeline, from?: string): RerunPlan {
  if (from === undefined) return { keep: [], refresh: [] }
  if (!pipeline.nodes.has(from)) {
    throw new WeftError('UNKNOWN_NODE', `pipeline "${pipeline.name}" has no node "${from}"${didYouMean(from, [...pipeline.nodes.keys()])}`, { retryable: false, details: { node: from } })
  }
  const graph = buildGraph(pipeline)
  const refresh: string[] = []
  bfsFromNode(
    graph,
    from,
    (id) => {
      refresh.push(id)
    },
    { mode: 'outbound' },
  )
  const keep: string[] = []
  bfsFromNode(
    graph,
    from,
    (id) => {
      if (id !== from) keep.push(id)
    },
    { mode: 'inbound' },
  )
  const order = [...pipeline.nodes.keys()]
  const byOrder = (a: string, b: string) => order.indexOf(a) - order.indexOf(b)
  return { keep: keep.sort(byOrder), refresh: refresh.sort(byOrder) }
}

/**
 * Pure: which of `among` (default: every node) keep their recorded result in a resume or a re-run, in the pipeline's
 * order. A node is kept when it succeeded (or was skipped by its own `when`) as a node of the same type, and only with
 * everything it needs kept too: its output was computed from theirs.
 */
export function keepable(pipeline: Pipeline, nodes: Readonly<Record<string, NodeRecord>>, among?: readonly string[]): string[] {
  const wanted = among ? new Set(among) : undefined
  const usable = new Set<string>()
  for (const id of topologicalSort(buildGraph(pipeline))) {
    const node = nodes[id]
    const spec = pipeline.nodes.get(id)!
    if (wanted && !wanted.has(id)) continue
    if (!node || node.type !== spec.type) continue
    if (!(node.status === 'succeeded' || (node.status === 'skipped' && node.skip_reason === '`when` was false'))) continue
    if (spec.deps.every((d) => usable.has(d))) usable.add(id)
  }
  return [...pipeline.nodes.keys()].filter((id) => usable.has(id))
}

/**
 * The records of the kept nodes as the new run holds them: outputs pointing into the new run's folder, where each
 * file they name is linked. `fromDir` and `toDir` are the old and the new run's folders.
 */
export async function keptRecords(pipeline: Pipeline, record: RunRecord, keep: readonly string[], fromDir: string, toDir: string): Promise<Record<string, NodeRecord>> {
  const out: Record<string, NodeRecord> = {}
  for (const id of keepable(pipeline, record.nodes, keep)) {
    const node = record.nodes[id]!
    for (const f of await filesIn(node.output, fromDir)) await placeFile(f.abs, `${toDir}/${f.rel}`)
    // what it used was spent by the run re-run, not by this one
    const { usage: _, ...rest } = node
    const kept: NodeRecord = { ...rest, output: rebase(node.output, fromDir, toDir) }
    // the output was computed before: by the re-run run, or by whichever run it had come from
    if (node.cache) kept.cache = { key: node.cache.key, hit: true, from: node.cache.from ?? { run: record.id, node: id } }
    out[id] = kept
  }
  return out
}

/**
 * Everything a re-run needs before it starts: the kept records, their files linked into `<runsDir>/<runId>`, and the
 * nodes to refresh. UNKNOWN_NODE for a `from` the pipeline lacks; on any failure the new folder is removed.
 */
export async function prepareRerun(
  pipeline: Pipeline,
  record: RunRecord,
  o: { from?: string | undefined; runsDir: string; runId: string },
): Promise<{ kept: Record<string, NodeRecord>; refresh: string[] }> {
  const plan = planRerun(pipeline, o.from)
  const toDir = path.join(o.runsDir, o.runId)
  try {
    return { kept: await keptRecords(pipeline, record, plan.keep, runFolderOf(record, path.join(o.runsDir, record.id)), toDir), refresh: plan.refresh }
  } catch (err) {
    await rm(toDir, { recursive: true, force: true })
    throw err
  }
}

/** The folder a recorded run wrote its files to, as recorded (or, for a run recorded before that, read from the paths its outputs hold); `fallback` when neither says. */
export function runFolderOf(record: RunRecord, fallback: string): string {
  if (record.folder) return record.folder
  // a run recorded before its folder was kept: the folder its outputs name
  const marker = `/${record.id}/`
  let found: string | undefined
  const look = (x: string): void => {
    const i = x.indexOf(marker)
    if (!found && i > 0 && x.startsWith('/')) found = x.slice(0, i + marker.length - 1)
  }
  for (const node of Object.values(record.nodes)) walk(node.output, look)
  return found ?? fallback
}
