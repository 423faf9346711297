#!/usr/bin/env node
// The `weft` command: registers the TypeScript loader, then hands over to the CLI proper.
import { register } from 'tsx/esm/api'

register()
const { main } = await import('./main.ts')
process.exitCode = await main(process.argv)
