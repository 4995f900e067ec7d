// The command line: serve | collect | migrate | openapi | version | keys | audit | agent | help. Exit codes: 0 ok, 1 failure
// at run time, 2 bad usage or bad configuration (with a one-line reason).
import { readFileSync, writeFileSync } from 'node:fs'
import { parseArgs } from 'node:util'
// Each command imports what it runs when it runs (import() below): `version`, `help` and the
// archive_command `wal-push` (once per WAL segment) do not evaluate the HTTP app, the SSO
// libraries or the cloud SDKs that `serve` needs.
import type { AuditSubcommand } from './audit/cli.ts'
import type { Config } from './config.ts'
import type { KeysSubcommand } from './keys/cli.ts'
import type { Logger } from './platform/log.ts'
import type { Runtime } from './runtime/runtime.ts'
import { buildInfo } from './system/build-info.ts'

export type CliIo = {
  env: Record<string, string | undefined>
  out: (text: string) => void
  err: (text: string) => void
}

export const usage = `pganalytics ${buildInfo.version}: PostgreSQL fleet monitoring and operations

Usage:
  pganalytics serve                 start the HTTP service (runs pending migrations first)
  pganalytics collect               collect only: the collector with /livez, /readyz and
                                    /metrics, no API (needs DATABASE_URL; see docs/COLLECTOR.md)
  pganalytics migrate               apply pending migrations and exit
  pganalytics openapi [--output F]  print the OpenAPI document (or write it to F)
  pganalytics openapi --check F     exit 1 when F differs from the document the code produces
  pganalytics version               print version, git revision and runtime
  pganalytics keys status           data keys and re-encryption progress (JSON)
  pganalytics keys rotate [--reason R]   new active data key (see docs/ENCRYPTION.md)
  pganalytics keys rewrap [--batch-size N]  re-encrypt values under older keys now
  pganalytics keys rotate-master-key   re-wrap data keys and backup repositories' keys from
                                    PGA_MASTER_KEY_PREVIOUS to PGA_MASTER_KEY
  pganalytics audit verify          verify the store's audit trail (exit 1 when broken)
  pganalytics audit export --output F[.gz]   export the audit trail as an archive
  pganalytics audit verify --archive F --public-key K.pem [--public-key ...]
                                    verify an archive offline against keys you trust
  pganalytics restore --backup ID --to DIR [--repository URL]
                    [--target-time T | --target-lsn L | --target-xid X | --target-name N]
                    [--action promote|pause|shutdown]
                                    restore a backup into DIR (needs only the repository
                                    and PGA_MASTER_KEY); then pg_ctl -D DIR start; at the
                                    target recovery promotes (default), pauses or shuts down
  pganalytics wal-push %p [--pgdata D]
                                    archive_command: store a WAL file in PGA_BACKUP_REPOSITORY,
                                    under the cluster of the data directory (default: the
                                    current directory, where PostgreSQL runs the command)
  pganalytics wal-fetch %f %p [--pgdata D]
                                    restore_command: fetch one (exit 1 when absent)
  pganalytics agent --url U --instance ID [--key-file F] [--data-directory D] [--once]
                                    on a database host: push CPU, memory, disk, filesystem
                                    and network metrics (see docs/AGENT.md)
  pganalytics help | --help         this text

Configuration comes from the environment (PGA_*, DATABASE_URL, REDIS_URL);
see docs/CONFIGURATION.md. Without DATABASE_URL and REDIS_URL the service uses an
embedded PostgreSQL (PGlite) in PGA_DATA_DIR and in-process state: one replica only.
`

class UsageError extends Error {}

const commands: Record<
  string,
  { options: Record<string, { type: 'string' | 'boolean'; multiple?: boolean }> }
> = {
  serve: { options: {} },
  collect: { options: {} },
  migrate: { options: {} },
  openapi: { options: { output: { type: 'string' }, check: { type: 'string' } } },
  version: { options: { json: { type: 'boolean' } } },
  keys: { options: { reason: { type: 'string' }, 'batch-size': { type: 'string' } } },
  audit: {
    options: {
      archive: { type: 'string' },
      'public-key': { type: 'string', multiple: true },
      output: { type: 'string' },
    },
  },
  restore: {
    options: {
      repository: { type: 'string' },
      backup: { type: 'string' },
      to: { type: 'string' },
      'target-time': { type: 'string' },
      'target-lsn': { type: 'string' },
      'target-xid': { type: 'string' },
      'target-name': { type: 'string' },
      action: { type: 'string' },
    },
  },
  'wal-push': { options: { pgdata: { type: 'string' } } },
  'wal-fetch': { options: { pgdata: { type: 'string' } } },
  // Its flags come from the agent's own configuration: read when the command is `agent`.
  agent: { options: {} },
  help: { options: {} },
}

async function parse(argv: string[]) {
  const [first, ...rest] = argv
  const command = first === undefined || first === '--help' || first === '-h' ? 'help' : first
  const spec =
    command === 'agent' ? { options: (await import('./agent/cli.ts')).agentOptions } : commands[command]
  if (!spec) {
    const what = command.startsWith('-') ? 'option' : 'command'
    throw new UsageError(`unknown ${what} "${command}"; run "pganalytics --help"`)
  }
  try {
    const { values, positionals } = parseArgs({
      args: rest,
      options: { ...spec.options, help: { type: 'boolean', short: 'h' } },
      strict: true,
      allowPositionals: ['keys', 'audit', 'wal-push', 'wal-fetch'].includes(command),
    })
    return {
      command: values.help ? 'help' : command,
      values: values as Record<string, string | boolean | string[] | undefined>,
      positionals,
    }
  } catch (error) {
    throw new UsageError(`${command}: ${(error as Error).message.split('\n')[0]}`)
  }
}

/** The configuration (parsed once), a logger at its level, and warnings for unknown PGA_* names. */
async function configAndLog(
  io: CliIo,
  logTo: 'out' | 'err' = 'out',
): Promise<{ config: Config; log: Logger }> {
  // Imported here, not at the top: `version` and `help` need neither the configuration table
  // nor the logger, and evaluating the configuration was a third of `version`'s time.
  const [{ loadConfig, unknownVariables }, { createLogger }] = await Promise.all([
    import('./config.ts'),
    import('./platform/log.ts'),
  ])
  const config = loadConfig(io.env)
  const log = createLogger({ level: config.log.level, write: (line) => io[logTo](`${line}\n`) })
  for (const name of unknownVariables(io.env))
    log.warn('unknown variable ignored (typo?)', { variable: name })
  return { config, log }
}

function keysArguments(
  keysSubcommands: readonly KeysSubcommand[],
  positionals: string[],
  values: Record<string, string | boolean | string[] | undefined>,
) {
  const [subcommand, ...extra] = positionals
  if (!keysSubcommands.includes(subcommand as KeysSubcommand) || extra.length > 0) {
    throw new UsageError(`keys: expected one of ${keysSubcommands.join(', ')}`)
  }
  const batch = values['batch-size']
  if (batch !== undefined && !(typeof batch === 'string' && /^[1-9]\d{0,5}$/.test(batch))) {
    throw new UsageError('keys: --batch-size must be an integer from 1 to 999999')
  }
  return {
    subcommand: subcommand as KeysSubcommand,
    options: {
      ...(typeof values.reason === 'string' ? { reason: values.reason } : {}),
      ...(batch ? { batchSize: Number(batch) } : {}),
    },
  }
}

function auditArguments(
  auditSubcommands: readonly AuditSubcommand[],
  positionals: string[],
  values: Record<string, string | boolean | string[] | undefined>,
) {
  const [subcommand, ...extra] = positionals
  if (!auditSubcommands.includes(subcommand as AuditSubcommand) || extra.length > 0)
    throw new UsageError(`audit: expected one of ${auditSubcommands.join(', ')}`)
  const publicKeys = (values['public-key'] as string[] | undefined) ?? []
  const archive = typeof values.archive === 'string' ? values.archive : undefined
  const output = typeof values.output === 'string' ? values.output : undefined
  if (subcommand === 'export' && !output) throw new UsageError('audit export: --output FILE is required')
  if (archive && publicKeys.length === 0)
    throw new UsageError('audit verify --archive: pass the public key(s) you trust with --public-key FILE')
  return {
    subcommand: subcommand as AuditSubcommand,
    options: { publicKeys, ...(archive ? { archive } : {}), ...(output ? { output } : {}) },
  }
}

/** Runs one command and returns the process exit code. */
export async function runCli(argv: string[], runtime: Runtime, io: CliIo): Promise<number> {
  try {
    const { command, values, positionals } = await parse(argv)
    switch (command) {
      case 'help':
        io.out(usage)
        return 0
      case 'version':
        io.out(
          values.json
            ? `${JSON.stringify(buildInfo)}\n`
            : `pganalytics ${buildInfo.version} (${buildInfo.revision}) ${buildInfo.runtime}\n`,
        )
        return 0
      case 'openapi': {
        const { generateOpenApiDocument, serializeOpenApiDocument } = await import('./openapi-document.ts')
        const text = serializeOpenApiDocument(generateOpenApiDocument())
        if (typeof values.check === 'string') {
          if (readFileSync(values.check, 'utf8') === text) return 0
          io.err(`${values.check} is out of date with the routes: run "npm run openapi" and commit it\n`)
          return 1
        }
        if (typeof values.output === 'string') writeFileSync(values.output, text)
        else io.out(text)
        return 0
      }
      case 'migrate': {
        const { config, log } = await configAndLog(io)
        const { openDatabase } = await import('./platform/db/database.ts')
        const { runMigrations } = await import('./platform/db/migrations.ts')
        const db = await openDatabase(config.store, { log, embeddedAssets: runtime.assets.embeddedStore })
        try {
          const result = await runMigrations(db.sql, await runtime.assets.migrations(), log)
          log.info('migrations complete', { applied: result.applied, alreadyApplied: result.alreadyApplied })
        } finally {
          await db.close()
        }
        return 0
      }
      case 'serve': {
        const { config, log } = await configAndLog(io)
        const { serveCommand } = await import('./serve.ts')
        return await serveCommand({ config, log, runtime, build: buildInfo })
      }
      case 'collect': {
        const { config, log } = await configAndLog(io)
        const { collectCommand } = await import('./collector/collect-command.ts')
        return await collectCommand({
          config,
          log,
          runtime: { serve: runtime.serve, migrations: runtime.assets.migrations },
          build: buildInfo,
        })
      }
      case 'keys': {
        const { keysSubcommands, runKeysCommand } = await import('./keys/cli.ts')
        const { subcommand, options } = keysArguments(keysSubcommands, positionals, values)
        // Logs to stderr: stdout carries only the JSON result, for scripts.
        const { config, log } = await configAndLog(io, 'err')
        return await runKeysCommand(subcommand, options, {
          config,
          log,
          runtime,
          build: buildInfo,
          out: io.out,
        })
      }
      case 'audit': {
        const { auditSubcommands, runAuditStoreCommand, verifyArchive } = await import('./audit/cli.ts')
        const { subcommand, options } = auditArguments(auditSubcommands, positionals, values)
        if (subcommand === 'verify' && options.archive) return await verifyArchive(options, io.out)
        const { config, log } = await configAndLog(io, 'err')
        return await runAuditStoreCommand(subcommand, options, { config, log, runtime, out: io.out })
      }
      case 'restore': {
        const { config, log } = await configAndLog(io, 'err')
        const { runRestoreCommand } = await import('./backup/cli.ts')
        const text = (name: string) =>
          typeof values[name] === 'string' ? (values[name] as string) : undefined
        return await runRestoreCommand(
          {
            repository: text('repository'),
            backup: text('backup'),
            to: text('to'),
            targetTime: text('target-time'),
            targetLsn: text('target-lsn'),
            targetXid: text('target-xid'),
            targetName: text('target-name'),
            action: text('action'),
          },
          { config, log, out: io.out },
        )
      }
      case 'wal-push':
      case 'wal-fetch': {
        // archive_command and restore_command: stdout stays quiet, errors go to PostgreSQL's log.
        const { config, log } = await configAndLog(io, 'err')
        // PostgreSQL runs both in the data directory, whose pg_control names the cluster.
        const dataDirectory = typeof values.pgdata === 'string' ? values.pgdata : process.cwd()
        const ctx = { config, log, out: io.out }
        const { runWalFetch, runWalPush } = await import('./backup/cli.ts')
        return command === 'wal-push'
          ? await runWalPush(positionals[0], dataDirectory, ctx)
          : await runWalFetch(positionals[0], positionals[1], dataDirectory, ctx)
      }
      case 'agent':
        return await (await import('./agent/cli.ts')).runAgentCommand(values, io)
    }
    return 2
  } catch (error) {
    if (error instanceof UsageError) {
      io.err(`pganalytics: ${error.message}\n`)
      return 2
    }
    if (error instanceof Error && error.name === 'ConfigError') {
      io.err(`pganalytics: ${error.message}\n`)
      return 2
    }
    io.err(`pganalytics: ${(error as Error).message}\n`)
    return 1
  }
}
