// The pipelines a server offers: `<name>.yaml` files in one folder, loaded and validated on demand.
import { readdir, readFile } from 'node:fs/promises'
import path from 'node:path'
import { loadPipeline } from '../engine/dsl/load.ts'
import type { Pipeline } from '../engine/dsl/pipeline.ts'
import { WeftError, type Diagnostic } from '../engine/errors.ts'
import { fileVersions, type FileVersion } from '../engine/file-versions.ts'

const NAME = /^[A-Za-z0-9][\w-]*$/

export class PipelineCatalog {
  readonly #cache = new Map<string, { mtimeMs: number; pipeline: Pipeline }>()

  /** `versions`: how a file's version is read (by default at most once a second: an edited file is picked up within one). */
  constructor(
    readonly dir: string,
    readonly versions: FileVersion = fileVersions(),
  ) {}

  async names(): Promise<string[]> {
    const files = await readdir(this.dir).catch(() => [])
    return files
      .filter((f) => f.endsWith('.yaml') && NAME.test(f.slice(0, -5)))
      .map((f) => f.slice(0, -5))
      .sort()
  }

  /** The YAML text of the pipeline called `name` (valid or not); PIPELINE_NOT_FOUND when there is no such file. */
  async source(name: string): Promise<string> {
    const { file } = await this.#locate(name)
    // the file may have gone since its version was read (within the last second)
    return readFile(file, 'utf8').catch(async () => readFile((await this.#locate(name, true)).file, 'utf8'))
  }

  /**
   * The pipeline in `file` (a run's recorded file), cached while the file is unchanged; undefined when it is gone or
   * does not validate. Plugins load only for files in this catalog's folder (the server runs those anyway): a path
   * read from a record elsewhere is parsed without running any code.
   */
  async ofFile(file: string): Promise<Pipeline | undefined> {
    const mtimeMs = await this.versions(file)
    if (mtimeMs === undefined) return undefined
    return (await this.#load(file, mtimeMs, this.serves(file) ? {} : { plugins: false })).pipeline
  }

  /** Whether `file` is one of this server's pipelines (in its folder): only those load their plugins. */
  serves(file: string): boolean {
    return path.dirname(path.resolve(file)) === this.dir
  }

  /** The pipeline called `name`; PIPELINE_NOT_FOUND, or PIPELINE_INVALID listing its diagnostics. */
  async get(name: string): Promise<Pipeline> {
    const { file, mtimeMs } = await this.#locate(name)
    let { pipeline, diagnostics } = await this.#load(file, mtimeMs, {})
    // what failed may be a version read before an edit or a removal (within the last second): once more, read now
    if (!pipeline) ({ pipeline, diagnostics } = await this.#load(file, (await this.#locate(name, true)).mtimeMs, {}))
    if (!pipeline) throw new WeftError('PIPELINE_INVALID', `pipeline "${name}" does not validate`, { retryable: false, details: { diagnostics } })
    return pipeline
  }

  /** The file of the pipeline called `name` (its version read now with `recheck`); PIPELINE_NOT_FOUND (naming the pipelines there are) when there is none. */
  async #locate(name: string, recheck = false): Promise<{ file: string; mtimeMs: number }> {
    if (!NAME.test(name)) throw new WeftError('PIPELINE_NOT_FOUND', `"${name}" is not a pipeline name`, { retryable: false })
    const file = path.join(this.dir, `${name}.yaml`)
    const mtimeMs = await this.versions(file, { recheck })
    if (mtimeMs === undefined) throw new WeftError('PIPELINE_NOT_FOUND', `no pipeline "${name}"`, { retryable: false, details: { available: await this.names() } })
    return { file, mtimeMs }
  }

  /** `file` loaded, or from the cache while its mtime is the one it was loaded at; only valid pipelines are kept. */
  async #load(file: string, mtimeMs: number, opts: { plugins?: false }): Promise<{ pipeline?: Pipeline; diagnostics: Diagnostic[] }> {
    const hit = this.#cache.get(file)
    if (hit && hit.mtimeMs === mtimeMs) return { pipeline: hit.pipeline, diagnostics: [] }
    const { pipeline, diagnostics } = await loadPipeline(file, opts)
    if (pipeline) this.#cache.set(file, { mtimeMs, pipeline })
    return pipeline ? { pipeline, diagnostics } : { diagnostics }
  }
}
