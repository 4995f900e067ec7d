// `pganalytics audit verify [--archive FILE --public-key PEM...] | export --output FILE`.
// verify without --archive checks the configured store (against the exported checkpoint when
// PGA_AUDIT_CHECKPOINT_DIR is set); with --archive it works offline, trusting only the given keys.
// Exit codes: 0 valid / exported, 1 invalid or failed.
import { readFileSync } from 'node:fs'
import type { Config } from '../config.ts'
import { openDatabase } from '../platform/db/database.ts'
import { runMigrations } from '../platform/db/migrations.ts'
import type { Logger } from '../platform/log.ts'
import type { Runtime } from '../runtime/runtime.ts'
import { archiveSource, exportArchive } from './archive.ts'
import { FileCheckpointSink } from './checkpoint-sink.ts'
import { verifySource, verifyTrail } from './verify.ts'

export const auditSubcommands = ['verify', 'export'] as const
export type AuditSubcommand = (typeof auditSubcommands)[number]

export type AuditCliOptions = { archive?: string; publicKeys: string[]; output?: string }

/** Offline: an archive against trusted public keys (PEM files). Needs no configuration. */
export async function verifyArchive(options: AuditCliOptions, out: (text: string) => void): Promise<number> {
  const keys = options.publicKeys.map((file) => readFileSync(file, 'utf8'))
  const result = await verifySource(await archiveSource(options.archive as string, keys))
  out(`${JSON.stringify(result, null, 2)}\n`)
  return result.valid ? 0 : 1
}

/** Against the configured store: verify everything, or export it as an archive. */
export async function runAuditStoreCommand(
  subcommand: AuditSubcommand,
  options: AuditCliOptions,
  ctx: { config: Config; log: Logger; runtime: Runtime; out: (text: string) => void },
): Promise<number> {
  const db = await openDatabase(ctx.config.store, {
    log: ctx.log,
    embeddedAssets: ctx.runtime.assets.embeddedStore,
  })
  try {
    await runMigrations(db.sql, await ctx.runtime.assets.migrations(), ctx.log)
    if (subcommand === 'export') {
      const written = await exportArchive(db.sql, options.output as string)
      ctx.out(`${JSON.stringify({ archive: options.output, ...written })}\n`)
      return 0
    }
    const dir = ctx.config.audit.checkpointDir
    const exported = dir ? await new FileCheckpointSink(dir).latest() : null
    const result = await verifyTrail(db.sql, {}, exported)
    ctx.out(`${JSON.stringify(result, null, 2)}\n`)
    return result.valid ? 0 : 1
  } finally {
    await db.close()
  }
}
