// The pipeline's DAG, laid out by dagre: edges drawn in SVG, each node a button showing its live state.
import { useEffect, useMemo, useRef, useState } from 'preact/hooks'
import { layoutGraph, type GraphNode } from '../dag-layout.ts'
import { formatMs, shownStatus, type NodeView, type RunView } from '../run-state.ts'

const narrow = () => matchMedia('(max-width: 700px)').matches

export function Dag({ nodes, view, selected, onSelect }: { nodes: GraphNode[]; view: RunView; selected: string | undefined; onSelect: (id: string) => void }) {
  const [isNarrow, setNarrow] = useState(narrow)
  useEffect(() => {
    const mq = matchMedia('(max-width: 700px)')
    const on = () => setNarrow(mq.matches)
    mq.addEventListener('change', on)
    return () => mq.removeEventListener('change', on)
  }, [])
  const layout = useMemo(() => layoutGraph(nodes, { direction: isNarrow ? 'TB' : 'LR', nodeWidth: isNarrow ? 150 : 168 }), [nodes, isNarrow])
  // a wide pipeline is shrunk to fit the page, down to 70 %; past that the box scrolls
  const box = useRef<HTMLDivElement>(null)
  const [room, setRoom] = useState(0)
  useEffect(() => {
    const el = box.current
    if (!el) return
    const ro = new ResizeObserver(() => setRoom(el.clientWidth))
    ro.observe(el)
    return () => ro.disconnect()
  }, [])
  const scale = room > 0 && layout.width > room ? Math.max(0.7, room / layout.width) : 1
  return (
    <div class="dag" role="group" aria-label="Pipeline nodes" ref={box}>
      <div style={{ width: `${layout.width * scale}px`, height: `${layout.height * scale}px` }}>
        <div class="dag-canvas" style={{ width: `${layout.width}px`, height: `${layout.height}px`, transform: scale < 1 ? `scale(${scale})` : undefined, transformOrigin: '0 0' }}>
          <svg width={layout.width} height={layout.height} aria-hidden="true">
            <defs>
              <marker id="arrow" viewBox="0 0 8 8" refX="7" refY="4" markerWidth="7" markerHeight="7" orient="auto">
                <path d="M0,0 L8,4 L0,8 z" />
              </marker>
            </defs>
            {layout.edges.map((e) => (
              <polyline key={`${e.from}>${e.to}`} points={e.points.map((p) => `${p.x},${p.y}`).join(' ')} marker-end="url(#arrow)" class={`edge e-${view.nodes[e.from]?.status ?? 'pending'}`} />
            ))}
          </svg>
          {layout.nodes.map((p) => {
            const n = view.nodes[p.id]
            const status = shownStatus(view, p.id)
            return (
              <button
                key={p.id}
                type="button"
                class={`node s-${status}${selected === p.id ? ' selected' : ''}`}
                style={{ left: `${p.x}px`, top: `${p.y}px`, width: `${p.width}px`, height: `${p.height}px` }}
                aria-pressed={selected === p.id}
                aria-label={`${p.id}: ${status === 'queued' ? 'queued, waiting for a worker' : status}${n?.error ? `, ${n.error.code}` : ''}`}
                aria-describedby={`meta-${p.id}`}
                onClick={() => onSelect(p.id)}
                data-node={p.id}
              >
                <span class="node-id">{p.id}</span>
                <span class="node-meta" id={`meta-${p.id}`}>
                  {nodeLine(n, nodes.find((x) => x.id === p.id)?.type ?? '', status === 'queued')}
                </span>
              </button>
            )
          })}
        </div>
      </div>
    </div>
  )
}

/** `running · 3/5 items`, `succeeded · 2.4 s`, `failed · TIMEOUT`, `critic_loop · 58 → 91`, `queued for a worker`. */
function nodeLine(n: NodeView | undefined, type: string, queued: boolean): string {
  if (!n) return `${type} · pending`
  const parts: string[] = queued ? ['queued for a worker'] : [n.status]
  const items = Object.values(n.items)
  if (items.length) parts.push(`${items.filter((i) => i.status !== 'running').length}/${items.length} items`)
  if (n.scores.length) parts.push(n.scores.join(' → '))
  if (n.status === 'failed' && n.error) parts.push(n.error.code)
  else if (n.durationMs !== null && n.status !== 'running' && n.status !== 'waiting') parts.push(formatMs(n.durationMs))
  if (n.attempts > 1) parts.push(`${n.attempts} attempts`)
  return parts.join(' · ')
}
