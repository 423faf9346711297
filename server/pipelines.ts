// The pipelines a server offers: `<name>.yaml` files in one folder, loaded and validated on demand.
import { readdir, stat } from 'node:fs/promises'
import path from 'node:path'
import { loadPipeline } from '../engine/dsl/load.ts'
import type { Pipeline } from '../engine/dsl/pipeline.ts'
import { WeftError } from '../engine/errors.ts'

const NAME = /^[A-Za-z0-9][\w-]*$/

export class PipelineCatalog {
  readonly #cache = new Map<string, { mtimeMs: number; pipeline: Pipeline }>()

  constructor(readonly dir: string) {}

  async names(): Promise<string[]> {
    const files = await readdir(this.dir).catch(() => [])
    return files.filter((f) => f.endsWith('.yaml') && NAME.test(f.slice(0, -5))).map((f) => f.slice(0, -5)).sort()
  }

  /** The pipeline called `name`; PIPELINE_NOT_FOUND, or PIPELINE_INVALID listing its diagnostics. */
  async get(name: string): Promise<Pipeline> {
    if (!NAME.test(name)) throw new WeftError('PIPELINE_NOT_FOUND', `"${name}" is not a pipeline name`, { retryable: false })
    const file = path.join(this.dir, `${name}.yaml`)
    const info = await stat(file).catch(() => undefined)
    if (!info?.isFile()) throw new WeftError('PIPELINE_NOT_FOUND', `no pipeline "${name}"`, { retryable: false, details: { available: await this.names() } })
    const hit = this.#cache.get(file)
    if (hit && hit.mtimeMs === info.mtimeMs) return hit.pipeline
    const { pipeline, diagnostics } = await loadPipeline(file)
    if (!pipeline) throw new WeftError('PIPELINE_INVALID', `pipeline "${name}" does not validate`, { retryable: false, details: { diagnostics } })
    this.#cache.set(file, { mtimeMs: info.mtimeMs, pipeline })
    return pipeline
  }
}
