// A built `weft serve` child process for the benchmarks, resolved once it says where it listens.
import { spawn, type ChildProcess } from 'node:child_process'
import path from 'node:path'

/** The repository root, seen from `dist/bench/`. */
export const root = path.resolve(import.meta.dirname, '..', '..')

/** Starts `weft serve --port 0 …args` (the built CLI) with `env`; its stderr goes to this process's. */
export async function startServe(args: string[], env: NodeJS.ProcessEnv): Promise<{ url: string; child: ChildProcess }> {
  const child = spawn(process.execPath, [path.join(root, 'dist', 'cli', 'weft.js'), 'serve', '--port', '0', ...args], { cwd: root, env, stdio: ['ignore', 'pipe', 'inherit'] })
  const url = await new Promise<string>((resolve, reject) => {
    let out = ''
    child.stdout!.on('data', (d: Buffer) => {
      out += d
      const m = /serving on (http:\/\/\S+)/.exec(out)
      if (m) resolve(m[1]!)
    })
    child.on('exit', (code) => reject(new Error(`weft serve exited with ${code}`)))
  })
  return { url, child }
}
