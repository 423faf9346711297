// Worker entry when Weft runs from its TypeScript sources: registers tsx in this thread, then loads the worker.
// (From dist/ the compiled piscina-worker.js is the entry and needs no loader.)
import { register } from 'tsx/esm/api'

register()
const worker = await import('./piscina-worker.ts')
export default worker.default
