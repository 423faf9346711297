// Reads a pipeline YAML file into plain data plus source positions; hostile input becomes diagnostics, never a crash or a hang.

import { CST, Composer, Lexer, LineCounter, Parser, isAlias, isMap, isScalar, isSeq } from 'yaml'
import type { Alias, Document, DocumentOptions, ParseOptions, ParsedNode, Pair, SchemaOptions, YAMLMap } from 'yaml'
import type { Diagnostic } from '../errors.ts'

/** Resource limits applied before and while reading a YAML file. */
export interface YamlLimits {
  /** Largest accepted file, in UTF-8 bytes. Checked first; nothing else is read when it is exceeded. */
  maxBytes: number
  /** Deepest accepted nesting of maps and lists (flow or block). */
  maxDepth: number
  /** Most alias nodes (`*name`) in a file; also the budget of nodes that aliases may expand to (billion laughs). */
  maxAliasCount: number
}

/**
 * Defaults. Hand-written pipelines are a few KB and nest under 10 levels, so:
 * - 512 KiB is ~100x a 200-line pipeline, and bounds the time yaml 2.9 needs: it reads ~0.2-0.5 MB/s
 *   (measured 2-6 s per MiB on hostile shapes such as 100k unclosed brackets), on the caller's thread;
 * - depth 64 is far beyond real use and >10x below the ~800 levels at which a recursive reader
 *   (yaml's composer and `toJS`, valibot) exhausts a default 1 MB stack;
 * - 100 aliases is yaml's own default expansion budget; capping the alias count too keeps yaml's
 *   alias lookup (quadratic in the number of aliases) cheap.
 */
export const defaultYamlLimits: YamlLimits = Object.freeze({ maxBytes: 512 * 1024, maxDepth: 64, maxAliasCount: 100 })

/** A YAML file read into plain data, with its diagnostics and a way back from document paths to positions. */
export interface YamlSource {
  file: string
  text: string
  /**
   * Plain JS value of the document (objects, arrays, scalars; `null` for an empty file), or `undefined` when
   * it could not be read (any error other than YAML_TAG / YAML_UNSAFE_KEY). Objects are safe: unsafe keys
   * such as `__proto__` are reported and left out, so no prototype can change.
   */
  value: unknown
  diagnostics: Diagnostic[]
  /**
   * 1-based position of the node at `path` (keys/indices). `which: 'key'` gives the map key's position
   * (for "unknown key" errors), 'value' the value's. A missing path falls back to its nearest existing
   * ancestor (for a missing key, the parent map). Aliases met on the way are followed to their anchor.
   */
  locate(path: readonly (string | number)[], which?: 'key' | 'value'): { line: number; col: number }
  /** 1-based position of an absolute character offset in `text`. */
  position(offset: number): { line: number; col: number }
  /**
   * [start, end) character offsets of the value node at `path` in `text` (quotes included for quoted
   * scalars; an alias gives its anchor's node), or undefined if there is no such node.
   */
  range(path: readonly (string | number)[]): [number, number] | undefined
}

type Doc = Document.Parsed
type Segment = string | number
interface Frame {
  node: ParsedNode
  parent: Frame | undefined
  seg: Segment | undefined
}

const CORE_TAGS = new Set(['str', 'int', 'float', 'bool', 'null', 'map', 'seq'].map((t) => `tag:yaml.org,2002:${t}`))
/** Keys that reach prototypes through `obj[a][b] = c` gadgets; never meaningful pipeline names. */
const UNSAFE_KEYS = new Set(['__proto__', 'constructor', 'prototype'])
/** Only these codes leave `value` readable; anything else means the data cannot be trusted. */
const VALUE_KEEPING = new Set(['YAML_TAG', 'YAML_UNSAFE_KEY'])
const MAX_DIAGNOSTICS = 100
const COLLECTION_TOKENS = new Set(['block-map', 'block-seq', 'flow-collection'])

const yamlOptions: ParseOptions & DocumentOptions & SchemaOptions = {
  // Core schema whatever `%YAML` says, no `<<` merge keys, no !!binary/!!set/!!timestamp objects: only plain data.
  schema: 'core',
  merge: false,
  resolveKnownTags: false,
  // Keys are strings as written; collections or aliases as keys are errors.
  stringKeys: true,
  // yaml's duplicate check is quadratic in map size; we check with a Set instead.
  uniqueKeys: false,
  // 'error' keeps yaml from printing warnings (we report them).
  logLevel: 'error',
  prettyErrors: false,
  strict: true,
}

/** Reads `text` (the content of `file`) into plain data; every problem becomes a diagnostic. Never throws. */
export function parseYamlSource(text: string, file: string, limits: Partial<YamlLimits> = {}): YamlSource {
  const lim = mergeLimits(limits)
  const lines = new LineCounter()
  let indexed = false
  const position = (offset: number): { line: number; col: number } => {
    const at = Math.max(0, Math.min(Number.isFinite(offset) ? Math.trunc(offset) : 0, text.length))
    if (at === 0) return { line: 1, col: 1 }
    if (!indexed) {
      lines.addNewLine(0)
      for (let i = text.indexOf('\n'); i !== -1; i = text.indexOf('\n', i + 1)) lines.addNewLine(i + 1)
      indexed = true
    }
    return lines.linePos(at)
  }
  const out = new Collector(file, position)
  const nav = new Navigator()
  const source: YamlSource = {
    file,
    text,
    value: undefined,
    diagnostics: out.diagnostics,
    position,
    locate: (path, which = 'value') => position(nav.locate(path, which)),
    range: (path) => nav.range(path),
  }

  const bytes = text.length > lim.maxBytes ? text.length : Buffer.byteLength(text, 'utf8')
  if (bytes > lim.maxBytes) {
    out.report('YAML_TOO_LARGE', 0, [], `file is ${bytes} bytes; the limit is ${lim.maxBytes} (split it or raise maxBytes)`)
    return source
  }

  let read: ReturnType<typeof compose>
  try {
    read = compose(text, lim.maxDepth)
  } catch (err) {
    // Not expected (depth is bounded while parsing), but a library bug must not escape.
    const deep = err instanceof RangeError
    out.report(deep ? 'YAML_TOO_DEEP' : 'YAML_SYNTAX', 0, [], deep ? 'nesting is too deep to read' : `could not read the document: ${String(err)}`)
    return source
  }
  if (read.tooDeepAt >= 0) {
    out.report('YAML_TOO_DEEP', read.tooDeepAt, [], `nesting is deeper than ${lim.maxDepth} levels (flatten the document)`)
    return source
  }
  const doc = read.doc
  nav.doc = doc

  // the parser goes on after a syntax error and reports what follows from it: the first one is the one to fix
  const syntax = doc.errors.filter((e) => !['RESOURCE_EXHAUSTION', 'NON_STRING_KEY', 'DUPLICATE_KEY'].includes(e.code)).sort((a, b) => a.pos[0] - b.pos[0])
  for (const e of doc.errors) {
    if (e.code === 'RESOURCE_EXHAUSTION') out.report('YAML_TOO_DEEP', e.pos[0], [], e.message)
    else if (e.code === 'NON_STRING_KEY') out.report('YAML_SYNTAX', e.pos[0], [], 'map keys must be plain strings (not lists, maps, aliases or tagged values)')
    else if (e.code === 'DUPLICATE_KEY') out.report('YAML_SYNTAX', e.pos[0], [], e.message.split('\n')[0]!)
  }
  const first = syntax[0]
  if (first) {
    const more = syntax.length - 1
    const message = first.message.split('\n')[0]!.replace(/ at line \d+, column \d+:?$/, '')
    out.report(
      'YAML_SYNTAX',
      first.pos[0],
      [],
      `${message}${more ? ` (and ${more} more parser message${more === 1 ? '' : 's'} after it, which usually follow from this one)` : ''}`,
      'error',
      syntaxHint(first.code, message, text, first.pos[0]),
    )
  }
  if (read.secondDocAt >= 0) {
    out.report('YAML_MULTI_DOC', read.secondDocAt, [], 'found a second YAML document; a pipeline file holds exactly one (remove the "---" separator)')
  }
  const walk = inspect(doc, lim, nav, read.tagOffsets, out)
  for (const w of doc.warnings) {
    // Unresolved custom tags are already YAML_TAG; a core tag that does not fit its value (`!!int abc`) is one too.
    const tagged = w.code === 'TAG_RESOLVE_FAILED' ? walk.tagged.get(w.pos[0]) : undefined
    if (tagged === undefined) out.report('YAML_SYNTAX', w.pos[0], [], w.message, 'warning')
    else if (tagged.allowed) out.report('YAML_TAG', w.pos[0], pathOf(tagged.frame), `value does not match its tag ${showTag(tagged.frame.node.tag ?? '')}`)
  }

  if (out.readable) {
    try {
      // yaml counts the anchored node itself as one use, hence + 1: n aliases of a scalar are n + 1 uses.
      source.value = doc.toJS({ maxAliasCount: lim.maxAliasCount + 1 })
      if (walk.unsafeKeys) dropUnsafeKeys(source.value)
    } catch (err) {
      const message = err instanceof Error ? err.message : String(err)
      if (/excessive alias count/i.test(message)) {
        const at = walk.bombAt
        out.report('YAML_ALIAS_LIMIT', at?.node.range[0] ?? 0, pathOf(at), `aliases expand past the limit of ${lim.maxAliasCount} nodes (a "billion laughs" bomb?)`)
      } else out.report('YAML_SYNTAX', 0, [], `could not read the document: ${message}`)
    }
  }
  out.finish()
  return source
}

/** What usually causes a YAML syntax error of this kind, said as what to do (the line holding it is looked at too). */
export function syntaxHint(code: string, message: string, text: string, offset: number): string {
  const lineStart = text.lastIndexOf('\n', Math.max(0, offset - 1)) + 1
  const prevStart = text.lastIndexOf('\n', Math.max(0, lineStart - 2)) + 1
  const near = text.slice(prevStart, text.indexOf('\n', offset) < 0 ? text.length : text.indexOf('\n', offset))
  if (/[{[][^\n]*\$\{\{/.test(near) && !/["']\$\{\{/.test(near)) return 'an expression inside { } or [ ] on one line must be quoted ("${{ … }}"), or write the mapping over several lines'
  if (code === 'TAB_AS_INDENT' || /\t/.test(near.slice(0, 40))) return 'indent with spaces: YAML does not allow tabs for indentation'
  if (code === 'MISSING_CHAR' && /quote/i.test(message)) return 'close the quote that opens before this point (or write the text as a block: `key: |` and the text indented below)'
  if (code === 'MISSING_CHAR' || /end with a [}\]]/.test(message))
    return `close the ${/\]$/.test(message) ? '[ … ]' : '{ … }'} that opens here (a flow collection on several lines must end with its bracket, indented past its key)`
  if (code === 'BAD_INDENT' || /indent|same column/i.test(message)) return "the keys of one mapping start at the same column; check this line's indentation against the key above it"
  if (code === 'BLOCK_AS_IMPLICIT_KEY' || code === 'MULTILINE_IMPLICIT_KEY') return 'a key must fit on one line and be followed by ": "; a value that holds ": " must be quoted'
  return 'the cause is often on the line before: an unclosed quote or bracket, or a line indented differently from its neighbours'
}

function mergeLimits(limits: Partial<YamlLimits>): YamlLimits {
  // An explicit `undefined` or NaN must not switch a limit off.
  const pick = (k: keyof YamlLimits) => {
    const n = limits[k]
    return typeof n === 'number' && !Number.isNaN(n) ? Math.max(0, n) : defaultYamlLimits[k]
  }
  return { maxBytes: pick('maxBytes'), maxDepth: pick('maxDepth'), maxAliasCount: pick('maxAliasCount') }
}

/** Accumulates diagnostics, keeping the first MAX_DIAGNOSTICS (hostile files can hold 100k problems) plus a count of the rest. */
class Collector {
  readonly diagnostics: Diagnostic[] = []
  private trusted = true
  private dropped = 0
  private firstDropped: { code: string; offset: number } | undefined

  constructor(
    private readonly file: string,
    private readonly position: (offset: number) => { line: number; col: number },
  ) {}

  /** False once an error makes the data untrustworthy (anything but a rejected tag or key). */
  get readable(): boolean {
    return this.trusted
  }

  report(code: string, offset: number, path: readonly Segment[], message: string, severity: Diagnostic['severity'] = 'error', hint?: string): void {
    if (severity === 'error' && !VALUE_KEEPING.has(code)) this.trusted = false
    if (this.diagnostics.length < MAX_DIAGNOSTICS) {
      this.diagnostics.push({ code, message, file: this.file, ...this.position(offset), path: pathString(path), severity, ...(hint ? { hint } : {}) })
    } else {
      this.dropped++
      this.firstDropped ??= { code, offset }
    }
  }

  /** Sorts by position; the "more not shown" note goes last. */
  finish(): void {
    this.diagnostics.sort((a, b) => a.line - b.line || a.col - b.col)
    if (!this.firstDropped) return
    const { code, offset } = this.firstDropped
    this.diagnostics.push({ code, message: `${this.dropped} more problems not shown`, file: this.file, ...this.position(offset), path: '', severity: 'error' })
  }
}

/**
 * What `parseDocument` does, in one pass that stops as soon as the parser holds more than `maxDepth` open
 * collections. yaml's parser and composer recurse once per nesting level, so deep input overflows the
 * stack (the parser does not even catch it); its lexer, though, is an iterative state machine, and the
 * parser keeps open collections on an explicit stack, so feeding it one token at a time and reading
 * `parser.stack` measures the depth exactly, before any deep recursion can happen.
 */
function compose(text: string, maxDepth: number): { doc: Doc; tooDeepAt: number; secondDocAt: number; tagOffsets: number[] } {
  const parser = new Parser()
  const tagOffsets: number[] = []
  let tooDeepAt = -1
  function* tokens() {
    let scalarBody = false
    for (const lexeme of new Lexer().lex(text)) {
      const at = parser.offset
      // A scalar's text follows the SCALAR marker and may start with anything, even '!'.
      if (!scalarBody && lexeme[0] === '!') tagOffsets.push(at)
      scalarBody = lexeme === CST.SCALAR
      yield* parser.next(lexeme)
      // The stack also holds the document and the scalar in progress; count collections only when it could matter.
      if (parser.stack.length > maxDepth + 1 && parser.stack.filter((t) => COLLECTION_TOKENS.has(t.type)).length > maxDepth) {
        tooDeepAt = at
        return
      }
    }
    yield* parser.end()
  }
  const composer = new Composer(yamlOptions)
  let doc: Doc | undefined
  let secondDocAt = -1
  for (const d of composer.compose(tokens(), true, text.length)) {
    if (doc) {
      secondDocAt = d.range[0]
      break
    }
    doc = d
  }
  return { doc: doc as Doc, tooDeepAt, secondDocAt, tagOffsets }
}

/** Walks the node tree (iteratively) for what yaml accepts but a pipeline must not: tags, unsafe or duplicate keys, aliases. */
function inspect(doc: Doc, lim: YamlLimits, nav: Navigator, tagOffsets: number[], out: Collector) {
  const report = out.report.bind(out)
  const anchors = new Map<string, ParsedNode>()
  const withAlias = new Set<ParsedNode>()
  const aliases: { frame: Frame; target: ParsedNode }[] = []
  const tagged = new Map<number, { frame: Frame; allowed: boolean }>()
  let aliasCount = 0
  let unsafeKeys = false
  const stack: Frame[] = doc.contents ? [{ node: doc.contents, parent: undefined, seg: undefined }] : []
  while (stack.length) {
    const frame = stack.pop() as Frame
    const { node } = frame
    if (node.tag) {
      const at = tagBefore(tagOffsets, node.range[0])
      const allowed = CORE_TAGS.has(node.tag) || ((isMap(node) || isSeq(node)) && node.tag === '!')
      tagged.set(at, { frame, allowed })
      if (!allowed) report('YAML_TAG', at, pathOf(frame), `tag ${showTag(node.tag)} is not allowed; write plain strings, numbers, booleans, null, maps and lists`)
    }
    if (isAlias(node)) {
      aliasCount++
      const target = anchors.get(node.source)
      if (aliasCount === lim.maxAliasCount + 1) {
        report('YAML_ALIAS_LIMIT', node.range[0], pathOf(frame), `more than ${lim.maxAliasCount} aliases (*name) in one file`)
      } else if (!target) {
        report('YAML_SYNTAX', node.range[0], pathOf(frame), `alias *${node.source} has no anchor &${node.source} before it`)
      } else if (isAncestor(frame, target)) {
        report('YAML_ALIAS_LIMIT', node.range[0], pathOf(frame), `alias *${node.source} is inside its own anchor (infinite expansion)`)
      } else if (aliasCount <= lim.maxAliasCount) {
        aliases.push({ frame, target })
        nav.aliases.set(node, target)
        for (let f = frame.parent; f; f = f.parent) if (f.node.anchor) withAlias.add(f.node)
      }
      continue
    }
    // Registered before the children, as yaml resolves aliases: the last anchor of that name earlier in the document.
    if (node.anchor) anchors.set(node.anchor, node)
    const children: Frame[] = []
    if (isMap(node)) {
      const seen = new Set<string>()
      for (const pair of node.items as Pair<ParsedNode | null, ParsedNode | null>[]) {
        const name = isScalar(pair.key) ? String(pair.key.value) : undefined
        if (name !== undefined && pair.key) {
          const keyFrame: Frame = { node: pair.key, parent: frame, seg: name }
          if (UNSAFE_KEYS.has(name)) {
            unsafeKeys = true
            report('YAML_UNSAFE_KEY', pair.key.range[0], pathOf(keyFrame), `key "${name}" is not allowed (it can change object prototypes); rename it`)
          }
          if (seen.has(name)) report('YAML_SYNTAX', pair.key.range[0], pathOf(keyFrame), 'Map keys must be unique')
          seen.add(name)
          children.push(keyFrame)
        } else if (pair.key) children.push({ node: pair.key, parent: frame, seg: '?' })
        if (pair.value) children.push({ node: pair.value, parent: frame, seg: name ?? '?' })
      }
    } else if (isSeq(node)) {
      node.items.forEach((item, i) => {
        if (item) children.push({ node: item as ParsedNode, parent: frame, seg: i })
      })
    }
    for (let i = children.length - 1; i >= 0; i--) stack.push(children[i] as Frame)
  }
  // yaml does not say which alias blew the budget; point at the first one that multiplies (its anchor holds aliases).
  const bomb = aliases.find((a) => withAlias.has(a.target)) ?? aliases[0]
  return { tagged, unsafeKeys, bombAt: bomb?.frame }
}

/** Finds nodes by path for locate() and range(); map lookups are indexed so many lookups stay linear. */
class Navigator {
  doc: Doc | undefined
  readonly aliases = new Map<Alias, ParsedNode>()
  private readonly index = new WeakMap<YAMLMap, Map<string, Pair<ParsedNode, ParsedNode | null>>>()

  locate(path: readonly Segment[], which: 'key' | 'value'): number {
    const found = this.find(path)
    if (!found) return 0
    if (found.missing) return found.node.range[0]
    return (which === 'key' && found.key ? found.key : found.node).range[0]
  }

  range(path: readonly Segment[]): [number, number] | undefined {
    const found = this.find(path)
    if (!found || found.missing) return undefined
    const node = isAlias(found.node) ? (this.aliases.get(found.node) ?? found.node) : found.node
    return [node.range[0], node.range[1]]
  }

  private find(path: readonly Segment[]): { node: ParsedNode; key?: ParsedNode; missing: boolean } | undefined {
    let node = this.doc?.contents ?? undefined
    if (!node) return undefined
    let key: ParsedNode | undefined
    for (const seg of path) {
      const here: ParsedNode = isAlias(node) ? (this.aliases.get(node) ?? node) : node
      let next: ParsedNode | undefined
      key = undefined
      if (isMap(here)) {
        const pair = this.pairs(here).get(String(seg))
        if (pair) {
          key = pair.key
          next = pair.value ?? pair.key
        }
      } else if (isSeq(here) && /^\d+$/.test(String(seg))) {
        next = (here.items[Number(seg)] as ParsedNode | null) ?? undefined
      }
      if (!next) return { node, missing: true }
      node = next
    }
    return { node, key, missing: false }
  }

  private pairs(map: YAMLMap): Map<string, Pair<ParsedNode, ParsedNode | null>> {
    let idx = this.index.get(map)
    if (!idx) {
      idx = new Map()
      for (const pair of map.items as Pair<ParsedNode | null, ParsedNode | null>[]) {
        if (isScalar(pair.key) && !idx.has(String(pair.key.value))) idx.set(String(pair.key.value), pair as Pair<ParsedNode, ParsedNode | null>)
      }
      this.index.set(map, idx)
    }
    return idx
  }
}

function pathOf(frame: Frame | undefined): Segment[] {
  const path: Segment[] = []
  for (let f = frame; f; f = f.parent) if (f.seg !== undefined) path.push(f.seg)
  return path.reverse()
}

/** `nodes.story.needs[0]`, the form the DSL reporter prints. */
function pathString(path: readonly Segment[]): string {
  let out = ''
  for (const p of path) out += typeof p === 'number' ? `[${p}]` : out ? `.${p}` : p
  return out
}

function isAncestor(frame: Frame, node: ParsedNode): boolean {
  for (let f = frame.parent; f; f = f.parent) if (f.node === node) return true
  return false
}

/** Offset of the tag token written for a node starting at `start`: the last tag before it (only anchors, space and comments can sit between). */
function tagBefore(tagOffsets: number[], start: number): number {
  let lo = 0
  let hi = tagOffsets.length
  while (lo < hi) {
    const mid = (lo + hi) >> 1
    if ((tagOffsets[mid] as number) < start) lo = mid + 1
    else hi = mid
  }
  return lo > 0 ? (tagOffsets[lo - 1] as number) : start
}

function showTag(tag: string): string {
  if (tag.startsWith('tag:yaml.org,2002:')) return `!!${tag.slice('tag:yaml.org,2002:'.length)}`
  return tag.startsWith('!') ? tag : `!<${tag}>`
}

/** Deletes unsafe own keys from every object in `value` (iteratively; alias targets are shared, hence `seen`). */
function dropUnsafeKeys(value: unknown): void {
  const seen = new Set<object>()
  const todo: unknown[] = [value]
  while (todo.length) {
    const v = todo.pop()
    if (typeof v !== 'object' || v === null || seen.has(v)) continue
    seen.add(v)
    for (const k of UNSAFE_KEYS) if (Object.hasOwn(v, k)) delete (v as Record<string, unknown>)[k]
    for (const child of Object.values(v)) todo.push(child)
  }
}
