// A real client of a real `weft serve` child process: its HTTP API and its WebSocket, as a UI uses them.
import assert from 'node:assert/strict'
import { spawn, type ChildProcess } from 'node:child_process'
import path from 'node:path'
import WebSocket from 'ws'

const root = path.resolve(import.meta.dirname, '..', '..')
export const weftArgs = ['--import', 'tsx', path.join(root, 'cli', 'weft.ts')]

export interface Server {
  url: string
  child: ChildProcess
  stop(signal?: NodeJS.Signals): Promise<void>
}

export async function serve(env: Record<string, string>, args: string[] = []): Promise<Server> {
  const child = spawn(process.execPath, [...weftArgs, 'serve', '--port', '0', ...args], { cwd: root, env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] })
  let err = ''
  child.stderr!.on('data', (d: Buffer) => (err += d))
  const url = await new Promise<string>((resolve, reject) => {
    let out = ''
    child.stdout!.on('data', (d: Buffer) => {
      out += d
      const m = /serving on (http:\/\/\S+)/.exec(out)
      if (m) resolve(m[1]!)
    })
    child.on('exit', (code) => reject(new Error(`weft serve exited (${code}):\n${err}`)))
  })
  return {
    url,
    child,
    stop: (signal = 'SIGTERM') =>
      new Promise((resolve) => {
        if (child.exitCode !== null) return resolve()
        child.on('exit', () => resolve())
        child.kill(signal)
      }),
  }
}

export interface Frame {
  type: string
  seq?: number | null
  generation_id?: string
  payload?: Record<string, any>
  [k: string]: unknown
}

/** A WebSocket client that keeps every frame and lets the test wait for the next one matching a test. */
export class Client {
  readonly frames: Frame[] = []
  #waiters: Array<{ test: (f: Frame) => boolean; resolve: (f: Frame) => void; from: number }> = []
  readonly ws: WebSocket
  readonly opened: Promise<void>
  constructor(url: string, token: string) {
    this.ws = new WebSocket(url, ['weft.v1', `weft.token.${token}`])
    this.opened = new Promise((resolve, reject) => {
      this.ws.once('open', () => resolve())
      this.ws.once('error', reject)
    })
    this.ws.on('message', (data) => {
      const frame = JSON.parse(String(data)) as Frame
      this.frames.push(frame)
      for (const w of [...this.#waiters]) {
        if (w.test(frame)) {
          this.#waiters.splice(this.#waiters.indexOf(w), 1)
          w.resolve(frame)
        }
      }
    })
  }
  /** The first frame (already received or still to come) after position `from` that passes `test`. */
  next(test: (f: Frame) => boolean, from = 0, ms = 120_000): Promise<Frame> {
    const seen = this.frames.slice(from).find(test)
    if (seen) return Promise.resolve(seen)
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`no frame came in ${ms} ms; last: ${JSON.stringify(this.frames.slice(-3))}`)), ms)
      this.#waiters.push({ test, from, resolve: (f) => (clearTimeout(timer), resolve(f)) })
    })
  }
  send(message: unknown): void {
    this.ws.send(JSON.stringify(message))
  }
  close(): void {
    this.ws.close()
  }
}

export async function post(url: string, body: unknown) {
  const res = await fetch(`${url}/api/v2/generate`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) })
  assert.equal(res.status, 202, await res.clone().text())
  return (await res.json()) as { generation_id: string; session_id: string; websocket_url: string; status_url: string; ws_token: string }
}

export const gate = (name: string) => (f: Frame) => f.type === 'approval.requested' && f.payload?.gate === name
