// `GET /docs`: a self-contained HTML page rendered from the OpenAPI document (no scripts, no CDN).

interface Operation {
  summary?: string
  security?: unknown[]
  parameters?: Array<{ name: string; in: string; description?: string; required?: boolean; schema?: unknown }>
  requestBody?: { content: Record<string, { schema?: unknown }> }
  responses: Record<string, { description: string; content?: Record<string, { schema?: unknown }> }>
}

/** The Content-Security-Policy the page is served with: inline styles only, nothing fetched. */
export const DOCS_CSP = "default-src 'none'; style-src 'unsafe-inline'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"

/** Renders the OpenAPI document as one HTML page: every operation, its parameters, bodies and responses, then the schemas. */
export function renderDocsPage(doc: Record<string, unknown>): string {
  const info = doc.info as { title: string; version: string; description?: string }
  const paths = doc.paths as Record<string, Record<string, Operation>>
  const schemas = (doc.components as { schemas?: Record<string, unknown> } | undefined)?.schemas ?? {}
  const ops: string[] = []
  const toc: string[] = []
  for (const [path, methods] of Object.entries(paths)) {
    for (const [method, op] of Object.entries(methods)) {
      const anchor = `${method}-${path}`.replace(/[^A-Za-z0-9]+/g, '-')
      toc.push(`<li><a href="#${anchor}"><code>${esc(method.toUpperCase())} ${esc(path)}</code></a></li>`)
      ops.push(operation(anchor, method, path, op))
    }
  }
  const defs = Object.entries(schemas)
    .map(([name, schema]) => `<section id="schema-${esc(name)}"><h3>${esc(name)}</h3>${json(schema)}</section>`)
    .join('\n')
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>${esc(info.title)} ${esc(info.version)}</title>
<style>
body{font:15px/1.5 system-ui,sans-serif;max-width:60rem;margin:2rem auto;padding:0 1rem;color:#1d1d1f}
code,pre{font:13px/1.4 ui-monospace,monospace}pre{background:#f5f5f7;padding:.6rem;overflow:auto;border-radius:4px}
.op{border-top:1px solid #ddd;padding-top:.5rem;margin-top:1.5rem}.m{font-weight:700;padding:0 .4rem;border-radius:3px;color:#fff}
.get{background:#2b7a3d}.post{background:#1f5fa8}table{border-collapse:collapse}td,th{border:1px solid #ddd;padding:.2rem .5rem;text-align:left;vertical-align:top}
.muted{color:#666}
</style></head><body>
<h1>${esc(info.title)} <small class="muted">${esc(info.version)}</small></h1>
<p>${esc(info.description ?? '')}</p>
<p>Machine-readable: <a href="/openapi.json"><code>/openapi.json</code></a> (OpenAPI 3.1). Authenticate with <code>Authorization: Bearer &lt;key&gt;</code> or <code>X-API-Key: &lt;key&gt;</code>.</p>
<h2>Operations</h2><ul>${toc.join('')}</ul>
${ops.join('\n')}
<h2>Schemas</h2>
${defs}
</body></html>
`
}

function operation(anchor: string, method: string, path: string, op: Operation): string {
  const parts = [
    `<section class="op" id="${anchor}"><h3><span class="m ${esc(method)}">${esc(method.toUpperCase())}</span> <code>${esc(path)}</code></h3>`,
    `<p>${esc(op.summary ?? '')}${op.security && op.security.length === 0 ? ' <span class="muted">(no API key needed)</span>' : ''}</p>`,
  ]
  if (op.parameters?.length) {
    parts.push('<h4>Parameters</h4><table><tr><th>name</th><th>in</th><th>required</th><th>schema</th><th>description</th></tr>')
    for (const p of op.parameters) {
      parts.push(
        `<tr><td><code>${esc(p.name)}</code></td><td>${esc(p.in)}</td><td>${p.required ? 'yes' : 'no'}</td><td><code>${esc(JSON.stringify(p.schema ?? {}))}</code></td><td>${esc(p.description ?? '')}</td></tr>`,
      )
    }
    parts.push('</table>')
  }
  if (op.requestBody) {
    parts.push('<h4>Body</h4>')
    for (const [type, media] of Object.entries(op.requestBody.content)) parts.push(`<p><code>${esc(type)}</code>: ${schemaLink(media.schema)}</p>`)
  }
  parts.push('<h4>Responses</h4><table><tr><th>status</th><th>description</th><th>body</th></tr>')
  for (const [status, r] of Object.entries(op.responses)) {
    const bodies = Object.entries(r.content ?? {})
      .map(([type, media]) => `<code>${esc(type)}</code> ${schemaLink(media.schema)}`)
      .join('<br>')
    parts.push(`<tr><td>${esc(status)}</td><td>${esc(r.description)}</td><td>${bodies}</td></tr>`)
  }
  parts.push('</table></section>')
  return parts.join('\n')
}

function schemaLink(schema: unknown): string {
  const s = schema as { $ref?: string; type?: string; items?: { $ref?: string } } | undefined
  const refName = (r: string) => r.split('/').pop() ?? r
  if (s?.$ref) return `<a href="#schema-${esc(refName(s.$ref))}">${esc(refName(s.$ref))}</a>`
  if (s?.type === 'array' && s.items?.$ref) return `array of <a href="#schema-${esc(refName(s.items.$ref))}">${esc(refName(s.items.$ref))}</a>`
  return s && Object.keys(s).length ? `<code>${esc(JSON.stringify(s))}</code>` : ''
}

const json = (x: unknown) => `<pre>${esc(JSON.stringify(x, null, 2))}</pre>`

function esc(s: string): string {
  return s.replace(/[&<>"']/g, (ch) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[ch]!)
}
