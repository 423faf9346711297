// The store a command records runs in: the durable one (PGlite, or Postgres with DATABASE_URL) or memory.
import { MemoryRunStore } from '../engine/adapters/memory-store.ts'
import { openRunStore } from '../engine/adapters/open-store.ts'
import type { RunStore } from '../engine/ports.ts'

export type StoreKind = 'db' | 'memory'

/** Opens the store; `db` applies pending migrations first. */
export function openStore(kind: StoreKind = 'db'): Promise<RunStore> {
  return kind === 'memory' ? Promise.resolve(new MemoryRunStore()) : openRunStore()
}

/** Opens a store, hands it over, and always closes it (an open PGlite keeps the process alive). */
export async function withStore<T>(kind: StoreKind, fn: (store: RunStore) => Promise<T>): Promise<T> {
  const store = await openStore(kind)
  try {
    return await fn(store)
  } finally {
    await store.close()
  }
}
