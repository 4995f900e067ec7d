// What the service needs from its runtime: an HTTP listener and the files it ships with
// (migrations, the docs script, PGlite's WASM). bun.ts and node.ts implement it.
import type { EmbeddedAssets } from '../platform/db/embedded.ts'
import type { Migration } from '../platform/db/migrations.ts'

export type RuntimeAssets = {
  migrations(): Promise<Migration[]>
  docsScript(): Promise<Uint8Array>
  /** Only where PGlite cannot find its own files (the compiled binary). */
  embeddedStore?: () => Promise<EmbeddedAssets>
}

export type HttpServer = {
  readonly port: number
  /** Stops accepting connections; requests already received go on. */
  stopAccepting(): Promise<void>
  /** Closes every remaining connection. */
  closeAll(): Promise<void>
}

export type Runtime = {
  readonly name: 'bun' | 'node'
  readonly assets: RuntimeAssets
  serve(
    fetch: (request: Request) => Response | Promise<Response>,
    options: { host: string; port: number },
  ): Promise<HttpServer>
}
