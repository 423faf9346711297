// Run progress for humans: a live table on a TTY (log-update), one plain line per event otherwise.
import { createLogUpdate } from 'log-update'
import type { Pipeline } from '../engine/dsl/pipeline.ts'
import { formatUsage, isEmpty, runUsage } from '../engine/usage.ts'
import { budgetLimit } from '../engine/meter.ts'
import type { CacheNote, EventSink, NodeStatus, RunEvent, RunRecord } from '../engine/ports.ts'
import { formatDuration } from '../engine/duration.ts'

export interface ProgressSink extends EventSink {
  note(message: string): void
  summary(record: RunRecord): void
  /** Stops drawing (while a question is asked on the terminal) until `resume`. */
  pause(): void
  resume(): void
  close(): void
}

const ICON: Record<NodeStatus, string> = { pending: '·', running: '▶', waiting: '⏸', succeeded: '✔', failed: '✖', skipped: '↷', cancelled: '■' }

interface Row {
  status: NodeStatus
  type: string
  started?: number
  finished?: number
  attempts: number
  note?: string
}

/** Picks the live renderer when given a TTY stream, else the plain line writer (on stderr). */
export function createProgressSink(pipeline: Pipeline, tty: NodeJS.WriteStream | undefined): ProgressSink {
  return tty ? liveSink(pipeline, tty) : plainSink()
}

function plainSink(): ProgressSink {
  const out = (s: string) => process.stderr.write(s + '\n')
  return {
    emit(e) {
      out(`${e.timestamp.slice(11, 23)} ${e.type}${e.node ? ` ${e.node}` : ''}${describePayload(e)}`)
    },
    note: out,
    summary: (r) => out(summaryText(r)),
    pause() {},
    resume() {},
    close() {},
  }
}

function liveSink(pipeline: Pipeline, stream: NodeJS.WriteStream): ProgressSink {
  const log = createLogUpdate(stream)
  const rows = new Map<string, Row>()
  for (const spec of pipeline.nodes.values()) rows.set(spec.id, { status: 'pending', type: spec.type, attempts: 0 })
  const notes: string[] = []
  const t0 = Date.now()
  let dirty = true
  let closed = false
  const render = () => {
    if (!dirty) return
    dirty = false
    const counts = new Map<NodeStatus, number>()
    for (const r of rows.values()) counts.set(r.status, (counts.get(r.status) ?? 0) + 1)
    const head = `${pipeline.name} · ${formatDuration(Date.now() - t0)} · ` + [...counts].map(([s, n]) => `${ICON[s]} ${s} ${n}`).join('  ')
    const room = Math.max(5, (stream.rows ?? 30) - notes.length - 3)
    const order: NodeStatus[] = ['running', 'waiting', 'failed', 'succeeded', 'cancelled', 'skipped', 'pending']
    const list = [...rows].sort((a, b) => order.indexOf(a[1].status) - order.indexOf(b[1].status)).slice(0, room)
    const width = Math.min(28, Math.max(...list.map(([id]) => id.length)))
    const lines = list.map(([id, r]) => {
      const elapsed = r.started ? formatDuration((r.finished ?? Date.now()) - r.started) : ''
      const retries = r.attempts > 1 ? ` attempt ${r.attempts}` : ''
      return `${ICON[r.status]} ${id.padEnd(width)} ${r.type.padEnd(10)} ${elapsed.padStart(8)}${retries}${r.note ? `  ${r.note}` : ''}`
    })
    if (rows.size > list.length) lines.push(`… ${rows.size - list.length} more`)
    log([...notes, head, ...lines].join('\n'))
  }
  let paused = false
  const tick = () => {
    dirty = true
    if (!paused) render()
  }
  let timer = setInterval(tick, 100)
  timer.unref()
  return {
    emit(e) {
      const row = e.node ? rows.get(e.node) : undefined
      if (row) {
        const now = Date.parse(e.timestamp)
        if (e.type === 'node.started') Object.assign(row, { status: 'running', started: now, attempts: 1 })
        else if (e.type === 'node.retrying') Object.assign(row, { attempts: Number(e.payload.next_attempt), note: `retry: ${(e.payload.error as { code: string }).code}` })
        else if (e.type === 'node.progress') row.note = progressText(e.payload)
        else if (e.type === 'approval.requested') row.status = 'waiting'
        else if (e.type === 'approval.resolved') row.status = 'running'
        else if (e.type === 'node.completed' || e.type === 'node.failed' || e.type === 'node.skipped' || e.type === 'node.cancelled') {
          row.status = e.payload.status as NodeStatus
          row.finished = now
          row.attempts = Number(e.payload.attempts ?? row.attempts)
          const err = e.payload.error as { code: string; message: string } | undefined
          row.note = err ? `${err.code}: ${err.message}` : typeof e.payload.reason === 'string' ? e.payload.reason : undefined
        }
      }
      dirty = true
    },
    note(message) {
      notes.push(message)
      dirty = true
      if (!paused) render()
    },
    pause() {
      if (paused || closed) return
      paused = true
      clearInterval(timer)
      log.clear()
    },
    resume() {
      if (!paused || closed) return
      paused = false
      timer = setInterval(tick, 100)
      timer.unref()
      tick()
    },
    summary(r) {
      stream.write(summaryText(r) + '\n')
    },
    close() {
      if (closed) return
      closed = true
      clearInterval(timer)
      dirty = true
      render()
      log.done()
    },
  }
}

function progressText(p: Record<string, unknown>): string {
  const parts: string[] = []
  if (typeof p.fraction === 'number') parts.push(`${Math.round(p.fraction * 100)}%`)
  if (typeof p.message === 'string') parts.push(p.message)
  if (p.item !== undefined) parts.push(`[item ${String(p.item)}]`)
  return parts.join(' ')
}

function describePayload(e: RunEvent): string {
  const p = e.payload
  switch (e.type) {
    case 'node.started':
      return ` (${String(p.type)})`
    case 'node.progress':
      return ` ${progressText(p)}`
    case 'node.retrying':
      return ` attempt ${String(p.attempt)} failed (${(p.error as { code: string }).code}); retrying in ${String(p.delay_ms)} ms`
    case 'node.completed': {
      const from = (p.cache as CacheNote | undefined)?.from
      return from ? ` from the cache (run ${from.run})` : ` in ${formatDuration(Number(p.duration_ms ?? 0))}`
    }
    case 'node.failed':
    case 'node.cancelled':
      return ` ${(p.error as { code: string; message: string } | undefined)?.code ?? ''}: ${(p.error as { message: string } | undefined)?.message ?? ''}`
    case 'node.skipped':
      return ` (${String(p.reason)})`
    case 'stage.changed':
      return ` ${String(p.stage)}`
    case 'approval.requested':
      return ` gate ${String(p.gate)}`
    case 'approval.resolved':
      return ` ${String(p.decision)}${p.by ? ` by ${String(p.by)}` : ''}`
    case 'run.failed':
    case 'run.cancelled':
      return ` ${(p.error as { code: string; message: string } | null)?.message ?? ''}`
    default:
      return ''
  }
}

function summaryText(r: RunRecord): string {
  const nodes = Object.values(r.nodes)
  const count = (s: NodeStatus) => nodes.filter((n) => n.status === s).length
  const took = r.finished_at && r.started_at ? formatDuration(Date.parse(r.finished_at) - Date.parse(r.started_at)) : ''
  // taken from the node cache, or kept by a re-run: either way computed by an earlier run
  const reused = nodes.filter((n) => n.cache?.hit).length
  const lines = [
    `run ${r.id} ${r.status} in ${took}: ${count('succeeded')} succeeded${reused ? ` (${reused} computed by earlier runs)` : ''}, ${count('failed')} failed, ${count('skipped')} skipped, ${count('cancelled')} cancelled`,
  ]
  if (r.error) lines.push(`  ${r.error.code}: ${r.error.message}`)
  const { total } = runUsage(nodes)
  const budget = budgetLimit(r.config)
  if (!isEmpty(total) || budget !== undefined || reused) lines.push(`  usage: ${formatUsage(total)}${budget !== undefined ? ` (budget $${budget})` : ''}`)
  if (r.outputs && Object.keys(r.outputs).length) {
    for (const [k, v] of Object.entries(r.outputs)) {
      const text = typeof v === 'string' ? v : JSON.stringify(v)
      lines.push(`  ${k}: ${text.length > 200 ? text.slice(0, 200) + '…' : text}`)
    }
  }
  return lines.join('\n')
}
