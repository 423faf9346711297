#!/usr/bin/env node
// The `weft` command (built to dist/cli/weft.js, which package.json names as the bin).
import { main } from './main.ts'

// a reader that stops early (`weft runs | head -1`) ends the output, as a closed pipe ends a Unix command: no stack trace
for (const stream of [process.stdout, process.stderr]) {
  stream.on('error', (err: NodeJS.ErrnoException) => {
    if (err.code === 'EPIPE') process.exit(process.exitCode ?? 0)
    throw err
  })
}

process.exitCode = await main(process.argv)
