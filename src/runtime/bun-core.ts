// The parts of the Bun runtime that embed no files: the HTTP listener and the migrations (from
// the binary's embedded .sql files, or the repository's migrations/ from source). The collector
// binary (src/main-collector.ts) uses these alone, so it does not carry PGlite, the docs UI or
// the SAML schemas.
import { basename, join } from 'node:path'
import { readMigrationsDir } from '../platform/db/migration-files.ts'
import { type Migration, parseMigrationFiles } from '../platform/db/migrations.ts'
import { closeWithin, type Runtime } from './runtime.ts'

export const compiled = import.meta.dir.startsWith('/$bunfs')

async function embeddedMigrations() {
  // Embedded assets get a content hash in their name: 0001_service_info-a1b2c3d4.sql.
  const files = Bun.embeddedFiles.filter((file) => (file as File).name.endsWith('.sql')) as File[]
  return parseMigrationFiles(
    await Promise.all(
      files.map(async (file) => ({
        name: basename(file.name).replace(/-[a-z0-9]{8}\.sql$/, '.sql'),
        text: await file.text(),
      })),
    ),
  )
}

export function bunMigrations(): Promise<Migration[]> {
  return compiled
    ? embeddedMigrations()
    : Promise.resolve(readMigrationsDir(join(import.meta.dir, '..', '..', 'migrations')))
}

export const bunServe: Runtime['serve'] = async (fetch, { host, port }) => {
  const server = Bun.serve({
    // The socket peer goes to the app as its env; the app decides whether to trust headers.
    // Asked only when read: a probe or a request that never needs its client's address does not
    // pay for the lookup.
    fetch: (request, bunServer) =>
      fetch(request, {
        get peerAddress() {
          return bunServer.requestIP(request)?.address
        },
      }),
    hostname: host,
    port,
    idleTimeout: 30,
  })
  return {
    port: server.port as number,
    close: (timeoutMs) => closeWithin(server.stop(false), () => server.stop(true), timeoutMs),
  }
}
