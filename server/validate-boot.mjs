// Validation worker entry when Weft runs from its TypeScript sources: registers tsx in this thread, then loads it.
// (From dist/ the compiled validate-worker.js is the entry and needs no loader.)
import { register } from 'tsx/esm/api'

register()
const worker = await import('./validate-worker.ts')
export default worker.default
