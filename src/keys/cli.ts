// `pganalytics keys status | rotate | rewrap | rotate-master-key`: the keyring from the command
// line, against the configured store (migrated first) and state store (for the rewrap lease).
import { userInfo } from 'node:os'
import type { Config } from '../config.ts'
import { buildDeps } from '../deps.ts'
import { runMigrations } from '../platform/db/migrations.ts'
import type { Logger } from '../platform/log.ts'
import type { Runtime } from '../runtime/runtime.ts'
import type { BuildInfo } from '../system/build-info.ts'

export const keysSubcommands = ['status', 'rotate', 'rewrap', 'rotate-master-key'] as const
export type KeysSubcommand = (typeof keysSubcommands)[number]

/** Runs one keys subcommand; prints its result as JSON on `out`. Returns the exit code. */
export async function runKeysCommand(
  subcommand: KeysSubcommand,
  options: { reason?: string; batchSize?: number },
  ctx: { config: Config; log: Logger; runtime: Runtime; build: BuildInfo; out: (text: string) => void },
): Promise<number> {
  const deps = await buildDeps(ctx.config, {
    log: ctx.log,
    assets: ctx.runtime.assets,
    build: ctx.build,
    ...(options.batchSize ? { keys: { batchSize: options.batchSize } } : {}),
  })
  const print = (value: unknown) => ctx.out(`${JSON.stringify(value, null, 2)}\n`)
  try {
    await runMigrations(deps.db.sql, await ctx.runtime.assets.migrations(), ctx.log)
    await deps.keys.start({ maintenance: false })
    switch (subcommand) {
      case 'status':
        print(await deps.keys.report())
        return 0
      case 'rotate': {
        const version = await deps.keys.rotate(options.reason ?? 'rotated from the command line', {
          actor: { type: 'system', id: `cli:${userInfo().username}` },
        })
        print({
          activeVersion: version,
          rewrap: 'run `pganalytics keys rewrap`, or let the replicas do it in the background',
        })
        return 0
      }
      case 'rewrap': {
        const outcome = await deps.keys.rewrap({
          onProgress: (p) => ctx.log.info('rewrap progress', p),
          ...(options.batchSize ? { batchSize: options.batchSize } : {}),
        })
        print(outcome)
        return outcome.status === 'busy' || outcome.status === 'lease-lost' ? 1 : 0
      }
      case 'rotate-master-key': {
        const rotation = await deps.keys.rotateMasterKey()
        print({
          rewrappedDataKeys: rotation.rewrappedDataKeys,
          ...rotation.holders,
          complete: rotation.complete,
        })
        return rotation.complete ? 0 : 1
      }
    }
  } finally {
    await deps.close()
  }
}
