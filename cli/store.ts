// The store a command records runs in: the durable one (SQLite under .weft/, or Postgres with DATABASE_URL) or memory.
import { MemoryRunStore } from '../engine/adapters/memory-store.ts'
import { openRunStore } from '../engine/adapters/open-store.ts'
import type { RunStore } from '../engine/ports.ts'

export type StoreKind = 'db' | 'memory'

/** Opens the store; `db` applies pending migrations first. Notices (an older store left behind) go to stderr. */
export function openStore(kind: StoreKind = 'db'): Promise<RunStore> {
  return kind === 'memory' ? Promise.resolve(new MemoryRunStore()) : openRunStore({ onNotice: (m) => process.stderr.write(m + '\n') })
}

/** Opens a store, hands it over, and always closes it (an open connection keeps the process alive). */
export async function withStore<T>(kind: StoreKind, fn: (store: RunStore) => Promise<T>): Promise<T> {
  const store = await openStore(kind)
  try {
    return await fn(store)
  } finally {
    await store.close()
  }
}
