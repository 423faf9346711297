// Builds the console into dist/console: one ES module for the first page, the editor (CodeMirror) as a chunk
// loaded on the editor page only, one stylesheet, and the page itself. Run by `npm run build` (and so by
// `npm install`); the server serves the result, nothing is fetched from elsewhere at run time.
import { build } from 'esbuild'
import { copyFile, mkdir, rm } from 'node:fs/promises'
import path from 'node:path'
import { fileURLToPath } from 'node:url'

const here = path.dirname(fileURLToPath(import.meta.url))
const out = path.join(here, '..', 'dist', 'console')
await rm(out, { recursive: true, force: true })
await mkdir(path.join(out, 'assets'), { recursive: true })
await build({
  entryPoints: [path.join(here, 'src', 'main.tsx')],
  bundle: true,
  splitting: true,
  format: 'esm',
  target: 'es2022',
  minify: true,
  sourcemap: false,
  jsx: 'automatic',
  jsxImportSource: 'preact',
  outdir: path.join(out, 'assets'),
  entryNames: '[name]',
  chunkNames: 'chunk-[hash]',
  legalComments: 'none',
  logLevel: 'warning',
})
await copyFile(path.join(here, 'index.html'), path.join(out, 'index.html'))
