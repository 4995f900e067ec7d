// Node runtime: @hono/node-server for HTTP, argon2id on a worker_threads pool (hash-wasm), files
// from the source tree and node_modules.
import { readFile } from 'node:fs/promises'
import type { Server } from 'node:http'
import { createRequire } from 'node:module'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { type Http2Bindings, type HttpBindings, serve } from '@hono/node-server'
import { workerPoolHasher } from '../auth/password-hashing.ts'
import { readMigrationsDir } from '../platform/db/migration-files.ts'
import { closeWithin, type Runtime } from './runtime.ts'

// src/runtime/node.ts and the bundled dist/node/main.js both sit two levels below the root.
const root = join(dirname(fileURLToPath(import.meta.url)), '..', '..')
const require = createRequire(import.meta.url)

export const nodeRuntime: Runtime = {
  name: 'node',
  passwordHasher: () => workerPoolHasher(),
  assets: {
    migrations: async () => readMigrationsDir(join(root, 'migrations')),
    docsAsset: async (name) => {
      const dist = dirname(require.resolve('swagger-ui-dist/package.json'))
      return new Uint8Array(await readFile(join(dist, name)))
    },
    openApiDocument: () => readFile(join(root, 'openapi', 'openapi.json'), 'utf8'),
    samlSchemaFile: async (name) => {
      const base = name.startsWith('xmllint')
        ? dirname(require.resolve('xmllint-wasm/package.json'))
        : join(dirname(require.resolve('@authenio/samlify-xmllint-wasm/package.json')), 'schemas')
      return new Uint8Array(await readFile(join(base, name)))
    },
  },
  serve(fetch, { host, port }) {
    return new Promise((resolve) => {
      const server = serve(
        {
          // The socket peer goes to the app as its env; the app decides whether to trust headers.
          fetch: (request, env: HttpBindings | Http2Bindings) =>
            fetch(request, { peerAddress: env.incoming.socket.remoteAddress }),
          hostname: host,
          port,
        },
        (info) => {
          const http = server as Server
          resolve({
            port: info.port,
            close: (timeoutMs) => {
              const closed = new Promise<void>((done) => http.close(() => done()))
              http.closeIdleConnections()
              return closeWithin(closed, () => http.closeAllConnections(), timeoutMs)
            },
          })
        },
      )
    })
  },
}
