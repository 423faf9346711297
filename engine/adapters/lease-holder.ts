// A run's lease holder as a process on a host: whether that process is gone, so that its lease need not be waited out.
import { readlinkSync } from 'node:fs'
import os from 'node:os'
import type { LeaseHolder } from '../ports.ts'

/** The process that claims leases, as the stores record it beside the owner. */
export interface ProcessIdentity {
  host: string
  pid: number
  /** Whether a process with this id runs on this host. */
  alive(pid: number): boolean
}

/** Whether a process runs here: signal 0 checks without sending anything (EPERM: it runs, as another user). */
export function pidAlive(pid: number): boolean {
  try {
    process.kill(pid, 0)
    return true
  } catch (err) {
    return (err as { code?: string }).code === 'EPERM'
  }
}

/**
 * This machine as leases name it: the host name, and on Linux the process-id namespace too. Containers that share a
 * host name (host networking) have pid namespaces of their own; a pid seen from another namespace says nothing.
 */
function hostId(): string {
  try {
    const ns = /\[(\d+)\]/.exec(readlinkSync('/proc/self/ns/pid'))?.[1]
    return ns ? `${os.hostname()}/pidns:${ns}` : os.hostname()
  } catch {
    return os.hostname()
  }
}

export const thisProcess: ProcessIdentity = { host: hostId(), pid: process.pid, alive: pidAlive }

/**
 * Whether a live lease's holder is known to be gone: it was taken on this host, by another process, which no longer
 * runs. A holder on another host (or of an older version, which recorded no host) is waited out until its lease expires.
 */
export function holderGone(holder: Pick<LeaseHolder, 'host' | 'pid'>, me: ProcessIdentity): boolean {
  return holder.host === me.host && holder.pid !== null && holder.pid !== me.pid && !me.alive(holder.pid)
}
