// One generation, live: its status, the gates waiting for a decision, the DAG, the selected node, media and log.
import { useEffect, useMemo, useState } from 'preact/hooks'
import { ApiError, getJson, postJson } from '../api.ts'
import type { GraphNode } from '../dag-layout.ts'
import { openLive, type LiveState } from '../live.ts'
import { formatMs, fromRecord, reduceAll, runEnded, shownStatus, withRecord, type EventFrame, type GenerationRecord, type RunView } from '../run-state.ts'
import { Dag } from './dag.tsx'
import { ErrorNote } from './error-note.tsx'
import { EventLog } from './event-log.tsx'
import { GatePanel } from './gate-panel.tsx'
import { MediaSection } from './media.tsx'
import { NodePanel } from './node-panel.tsx'

export function RunPage({ id }: { id: string }) {
  const [record, setRecord] = useState<GenerationRecord | undefined>(undefined)
  const [graph, setGraph] = useState<GraphNode[] | undefined>(undefined)
  const [view, setView] = useState<RunView | undefined>(undefined)
  const [live, setLive] = useState<LiveState>('connecting')
  const [error, setError] = useState<ApiError | undefined>(undefined)
  const [selected, setSelected] = useState<string | undefined>(undefined)
  const [cancelError, setCancelError] = useState<ApiError | undefined>(undefined)
  const [cancelling, setCancelling] = useState(false)

  // the record and the graph, then the live stream folded on top (frames batched per animation frame)
  useEffect(() => {
    const ctl = new AbortController()
    let close: (() => void) | undefined
    let pending: EventFrame[] = []
    let scheduled = false
    const flush = () => {
      scheduled = false
      const frames = pending
      pending = []
      setView((v) => (v ? reduceAll(v, frames) : v))
    }
    void (async () => {
      try {
        const r = await getJson<GenerationRecord>(`/api/v2/generations/${encodeURIComponent(id)}`, ctl.signal)
        if (ctl.signal.aborted) return
        setRecord(r)
        setView(fromRecord(r))
        getJson<{ nodes: GraphNode[] }>(`/api/v2/generations/${encodeURIComponent(id)}/graph`, ctl.signal).then(
          (g) => setGraph(g.nodes),
          () => setGraph([]),
        )
        close = openLive({
          sessionId: r.session_id,
          generationId: id,
          onState: setLive,
          onFrame: (f) => {
            pending.push(f)
            if (!scheduled) {
              scheduled = true
              if (document.visibilityState === 'visible') requestAnimationFrame(flush)
              else setTimeout(flush, 50)
            }
          },
        })
      } catch (err) {
        if (!ctl.signal.aborted) setError(err instanceof ApiError ? err : new ApiError(0, 'INTERNAL', String(err)))
      }
    })()
    return () => {
      ctl.abort()
      close?.()
    }
  }, [id])

  /** Reads the record again and folds it into the view (a failed read changes nothing: the next one will tell). */
  const reread = (signal: AbortSignal) =>
    getJson<GenerationRecord>(`/api/v2/generations/${encodeURIComponent(id)}`, signal).then(
      (r) => {
        setRecord(r)
        setView((v) => (v ? withRecord(v, r) : v))
      },
      () => {},
    )

  // outputs (and durations) come from the record: read it again when a node ends, at most every 300 ms
  const version = view?.outputsVersion ?? 0
  useEffect(() => {
    if (version === 0) return
    const ctl = new AbortController()
    const t = setTimeout(() => void reread(ctl.signal), 300)
    return () => {
      clearTimeout(t)
      ctl.abort()
    }
  }, [id, version])

  // a fleet run: no event says when a worker takes a node, so what waits for one is read again every 3 s while it runs
  const fleetRun = view?.waitingForWorker !== undefined && !runEnded(view.status)
  useEffect(() => {
    if (!fleetRun) return
    const ctl = new AbortController()
    const timer = setInterval(() => {
      if (document.visibilityState === 'visible') void reread(ctl.signal)
    }, 3000)
    return () => {
      clearInterval(timer)
      ctl.abort()
    }
  }, [id, fleetRun])

  const nodes = useMemo<GraphNode[]>(() => {
    if (graph?.length) return graph
    return Object.values(record?.nodes ?? {}).map((n) => ({ id: n.id, type: n.type, needs: [] }))
  }, [graph, record])

  if (error)
    return (
      <section>
        <h1>Generation</h1>
        <ErrorNote error={error} />
      </section>
    )
  if (!record || !view)
    return (
      <section>
        <h1>Generation</h1>
        <p>Loading…</p>
      </section>
    )

  const cancel = async () => {
    setCancelError(undefined)
    setCancelling(true)
    try {
      await postJson(`/api/v2/generations/${encodeURIComponent(id)}/cancel`, {})
    } catch (err) {
      setCancelError(err instanceof ApiError ? err : new ApiError(0, 'INTERNAL', String(err)))
    } finally {
      setCancelling(false)
    }
  }
  const brief = typeof record.inputs.prompt === 'string' ? record.inputs.prompt : ''
  const started = record.started_at ? Date.parse(record.started_at) : undefined
  const finished = record.finished_at ? Date.parse(record.finished_at) : undefined
  const gates = Object.values(view.gates)
  return (
    <section aria-labelledby="run-title" class="run">
      <div class="bar">
        <h1 id="run-title">
          Generation <span class="mono">{id.slice(0, 8)}</span>
        </h1>
        <p class="run-status" role="status">
          Status:{' '}
          <strong class={`status s-${view.status}`} data-testid="run-status">
            {view.status.replace('_', ' ')}
          </strong>
        </p>
        {view.stage && !runEnded(view.status) ? <p>Stage: {view.stage}</p> : null}
        {started !== undefined ? <p>Duration: {formatMs((finished ?? Date.now()) - started)}</p> : null}
        <p class="muted" aria-live="polite">
          {live === 'live' ? 'live' : live === 'closed' ? '' : `${live}…`}
        </p>
        {!runEnded(view.status) ? (
          <button type="button" class="danger" disabled={cancelling} onClick={() => void cancel()}>
            Cancel run
          </button>
        ) : null}
      </div>
      {cancelError ? <ErrorNote error={cancelError} /> : null}
      {brief ? <p class="brief">{brief}</p> : null}
      <p class="muted">
        Pipeline {record.pipeline.name} v{String(record.pipeline.version)} · {record.interactive ? 'interactive' : 'automatic gates'}
      </p>
      {view.error ? (
        <div role="alert" class="error">
          <p>
            {view.error.code}: {view.error.message}
          </p>
        </div>
      ) : null}
      <p class="sr-only" aria-live="polite">
        {gates.length ? `${gates.length === 1 ? `Gate ${gates[0]!.gate}${gates[0]!.revision ? `, revision ${gates[0]!.revision},` : ''} waits` : `${gates.length} gates wait`} for your decision.` : ''}
      </p>
      {gates.map((g) => (
        <GatePanel key={`${g.gate}:${g.revision}`} generationId={id} gate={g} />
      ))}
      <h2>Pipeline</h2>
      <Dag nodes={nodes} view={view} selected={selected} onSelect={setSelected} />
      {selected ? (
        <NodePanel
          generationId={id}
          node={view.nodes[selected]}
          queued={shownStatus(view, selected) === 'queued'}
          spec={nodes.find((n) => n.id === selected)}
          record={record.nodes[selected]}
          log={view.log.filter((e) => e.node === selected)}
          onClose={() => setSelected(undefined)}
        />
      ) : (
        <p class="muted">Select a node to see its output, error, attempts and events.</p>
      )}
      <MediaSection record={record} />
      <EventLog log={view.log} />
    </section>
  )
}
