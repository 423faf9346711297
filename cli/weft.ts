#!/usr/bin/env node
// The `weft` command (built to dist/cli/weft.js, which package.json names as the bin).
import { main } from './main.ts'

process.exitCode = await main(process.argv)
