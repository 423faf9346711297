// TEMPORARY minimal version (to be replaced by the hardened one).
import { LineCounter, parseDocument, isNode, isPair, isMap as yIsMap, type Node } from 'yaml'
import type { Diagnostic } from '../errors.ts'
export interface YamlLimits { maxBytes: number; maxDepth: number; maxAliasCount: number }
export const defaultYamlLimits: YamlLimits = { maxBytes: 1 << 20, maxDepth: 64, maxAliasCount: 100 }
export interface YamlSource {
  file: string
  text: string
  value: unknown
  diagnostics: Diagnostic[]
  locate(path: readonly (string | number)[], which?: 'key' | 'value'): { line: number; col: number }
  position(offset: number): { line: number; col: number }
  range(path: readonly (string | number)[]): [number, number] | undefined
}
export function parseYamlSource(text: string, file: string): YamlSource {
  const lc = new LineCounter()
  const doc = parseDocument(text, { lineCounter: lc, prettyErrors: false })
  const diagnostics: Diagnostic[] = []
  const position = (offset: number) => { const p = lc.linePos(offset); return { line: p.line, col: p.col } }
  for (const e of doc.errors) { const p = position(e.pos[0]); diagnostics.push({ code: 'YAML_SYNTAX', message: e.message.split('\n')[0]!, file, line: p.line, col: p.col, path: '', severity: 'error' }) }
  const value = diagnostics.length ? undefined : doc.toJS({ maxAliasCount: 100 })
  const find = (path: readonly (string | number)[]) => {
    let node: unknown = doc.contents
    let key: unknown
    let last: unknown = node
    for (const seg of path) {
      if (!yIsMap(node) && !(node && typeof node === 'object' && 'items' in node)) break
      const items = (node as { items: unknown[] }).items
      let next: unknown
      if (yIsMap(node)) {
        const pair = items.find((it) => isPair(it) && ((it.key as { value?: unknown })?.value === seg))
        if (!pair || !isPair(pair)) break
        key = pair.key; next = pair.value
      } else { next = items[seg as number]; key = undefined }
      if (next === undefined || next === null) { last = key ?? last; node = undefined; break }
      node = next; last = next
    }
    return { node: node as Node | undefined, key: key as Node | undefined, last: last as Node | undefined }
  }
  return {
    file, text, value, diagnostics, position,
    locate(path, which = 'value') {
      const f = find(path)
      const n = which === 'key' && f.key && isNode(f.key) ? f.key : f.node ?? f.last
      const off = n && isNode(n) && n.range ? n.range[0] : 0
      return position(off)
    },
    range(path) { const f = find(path); return f.node && isNode(f.node) && f.node.range ? [f.node.range[0], f.node.range[1]] : undefined },
  }
}
