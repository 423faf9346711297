// The memory store against the RunStore contract.
import { MemoryRunStore } from '../../../engine/adapters/memory-store.ts'
import { runStoreContract } from '../../contracts/run-store.ts'

runStoreContract('memory', async () => ({ store: new MemoryRunStore(), cleanup: async () => {} }))
