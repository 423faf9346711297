// The selected node: state, timing, attempts, error, fan-out items, critic scores, its output and its events.
import { useEffect, useRef } from 'preact/hooks'
import type { GraphNode } from '../dag-layout.ts'
import { formatMs, type GenerationRecord, type LogEntry, type NodeView } from '../run-state.ts'
import { OutputView } from './output-view.tsx'

export function NodePanel({
  generationId,
  node,
  queued,
  spec,
  record,
  log,
  onClose,
}: {
  generationId: string
  node: NodeView | undefined
  /** Dispatched to the fleet's queue and taken by no worker yet. */
  queued: boolean
  spec: GraphNode | undefined
  record: GenerationRecord['nodes'][string] | undefined
  log: LogEntry[]
  onClose: () => void
}) {
  const id = node?.id ?? spec?.id ?? ''
  const heading = useRef<HTMLHeadingElement>(null)
  // opening a node moves the focus to its details; closing them gives it back to the node's box
  useEffect(() => heading.current?.focus(), [id])
  const close = () => {
    onClose()
    requestAnimationFrame(() => document.querySelector<HTMLElement>(`[data-node="${CSS.escape(id)}"]`)?.focus())
  }
  const items = Object.entries(node?.items ?? {}).sort((a, b) => Number(a[0]) - Number(b[0]) || a[0].localeCompare(b[0]))
  return (
    <section class="panel" aria-labelledby="node-title">
      <div class="bar">
        <h2 id="node-title" tabIndex={-1} ref={heading}>
          Node {id}
        </h2>
        <button type="button" class="link" onClick={close}>
          Close node details
        </button>
      </div>
      {spec?.description ? <p>{spec.description}</p> : null}
      <dl class="facts">
        <dt>Type</dt>
        <dd>{node?.type || spec?.type || '—'}</dd>
        <dt>Status</dt>
        <dd>
          <span class={`status s-${queued ? 'queued' : (node?.status ?? 'pending')}`}>{queued ? 'queued' : (node?.status ?? 'pending')}</span>
          {queued ? ' (waiting for a worker)' : ''}
          {node?.skipReason ? ` (${node.skipReason})` : ''}
        </dd>
        <dt>Attempts</dt>
        <dd>
          {node?.attempts ?? 0}
          {node?.retries ? `, ${node.retries} retried` : ''}
        </dd>
        <dt>Started</dt>
        <dd>{node?.startedAt ? new Date(node.startedAt).toLocaleTimeString() : '—'}</dd>
        <dt>Duration</dt>
        <dd>{node?.durationMs != null ? formatMs(node.durationMs) : '—'}</dd>
        {spec?.needs.length ? (
          <>
            <dt>Needs</dt>
            <dd>{spec.needs.join(', ')}</dd>
          </>
        ) : null}
        {node?.scores.length ? (
          <>
            <dt>Critic scores</dt>
            <dd>{node.scores.map((s, i) => `draft ${i + 1}: ${s}`).join(', ')}</dd>
          </>
        ) : null}
      </dl>
      {node?.error ? (
        <div role="alert" class="error">
          <p>
            <span class="mono">{node.error.code}</span>: {node.error.message}
          </p>
        </div>
      ) : null}
      {items.length ? (
        <div>
          <h3>
            Items ({items.filter(([, i]) => i.status === 'succeeded').length} succeeded, {items.filter(([, i]) => i.status === 'failed').length} failed, {items.length} seen)
          </h3>
          <ol class="items">
            {items.slice(0, 1000).map(([key, item]) => (
              <li key={key} class={`item s-${item.status}`} title={item.message}>
                <span class="mono">{key}</span> {item.status}
                {item.message ? `: ${item.message}` : ''}
              </li>
            ))}
          </ol>
        </div>
      ) : null}
      {record && record.output !== null && record.output !== undefined ? (
        <>
          <h3>Output</h3>
          <OutputView generationId={generationId} output={record.output} />
        </>
      ) : null}
      <h3>Events</h3>
      {log.length ? (
        <ol class="log">
          {log.slice(-100).map((e) => (
            <li key={e.seq}>
              <time>{new Date(e.timestamp).toLocaleTimeString()}</time> {e.text}
            </li>
          ))}
        </ol>
      ) : (
        <p class="muted">none yet</p>
      )}
    </section>
  )
}
