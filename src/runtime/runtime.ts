// What the service needs from its runtime: an HTTP listener, argon2id off the event loop and the
// files it ships with (migrations, the docs UI files, the OpenAPI document, PGlite's WASM, the SAML schema validator's
// WASM and schemas).
// bun.ts and node.ts implement it.

import type { PasswordHasher } from '../auth/password-hashing.ts'
import type { SamlSchemaFiles } from '../auth/sso/xml-schema.ts'
import type { ConnectionEnv } from '../http/client-address.ts'
import type { DocsAssetName } from '../http/docs-ui.ts'
import type { EmbeddedAssets } from '../platform/db/embedded.ts'
import type { Migration } from '../platform/db/migrations.ts'

export type RuntimeAssets = {
  migrations(): Promise<Migration[]>
  docsAsset(name: DocsAssetName): Promise<Uint8Array>
  /** openapi/openapi.json as committed: what createApp's /openapi.json produces (the tests and
   * CI's drift check hold them equal), served by `serve` without loading the API's schemas. */
  openApiDocument(): Promise<string>
  /** xmllint's WASM and script and the SAML schemas (src/auth/sso/xml-schema.ts). */
  samlSchemaFile: SamlSchemaFiles
  /** Only where PGlite cannot find its own files (the compiled binary). */
  embeddedStore?: () => Promise<EmbeddedAssets>
}

export type HttpServer = {
  readonly port: number
  /** Stops listening and lets responses being written finish; after timeoutMs closes whatever
   * connections remain. Resolves true when everything closed by itself. */
  close(timeoutMs: number): Promise<boolean>
}

/** Races a graceful close against a deadline, then forces. Shared by both runtimes. */
export async function closeWithin(
  graceful: Promise<unknown>,
  force: () => unknown,
  timeoutMs: number,
): Promise<boolean> {
  let timer: ReturnType<typeof setTimeout> | undefined
  const expired = new Promise<false>((resolve) => {
    timer = setTimeout(() => resolve(false), timeoutMs)
  })
  const closed = await Promise.race([graceful.then(() => true as const), expired])
  clearTimeout(timer)
  if (!closed) await force()
  return closed
}

export type Runtime = {
  readonly name: 'bun' | 'node'
  readonly assets: RuntimeAssets
  /** Password hashing on other threads (src/auth/password-hashing.ts); started on first use. */
  passwordHasher(): PasswordHasher
  serve(
    fetch: (request: Request, env: ConnectionEnv) => Response | Promise<Response>,
    options: { host: string; port: number },
  ): Promise<HttpServer>
}
