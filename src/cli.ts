// The command line: serve | migrate | openapi | version | help. Exit codes: 0 ok, 1 failure
// at run time, 2 bad usage or bad configuration (with a one-line reason).
import { readFileSync, writeFileSync } from 'node:fs'
import { parseArgs } from 'node:util'
import { type Config, ConfigError, loadConfig, unknownVariables } from './config.ts'
import { generateOpenApiDocument, serializeOpenApiDocument } from './openapi-document.ts'
import { openDatabase } from './platform/db/database.ts'
import { runMigrations } from './platform/db/migrations.ts'
import { createLogger, type Logger } from './platform/log.ts'
import type { Runtime } from './runtime/runtime.ts'
import { serveCommand } from './serve.ts'
import { buildInfo } from './system/build-info.ts'

export type CliIo = {
  env: Record<string, string | undefined>
  out: (text: string) => void
  err: (text: string) => void
}

export const usage = `pganalytics ${buildInfo.version}: PostgreSQL fleet monitoring and operations

Usage:
  pganalytics serve                 start the HTTP service (runs pending migrations first)
  pganalytics migrate               apply pending migrations and exit
  pganalytics openapi [--output F]  print the OpenAPI document (or write it to F)
  pganalytics openapi --check F     exit 1 when F differs from the document the code produces
  pganalytics version               print version, git revision and runtime
  pganalytics help | --help         this text

Configuration comes from the environment (PGA_*, DATABASE_URL, REDIS_URL);
see docs/CONFIGURATION.md. Without DATABASE_URL and REDIS_URL the service uses an
embedded PostgreSQL (PGlite) in PGA_DATA_DIR and in-process state: one replica only.
`

class UsageError extends Error {}

const commands: Record<string, { options: Record<string, { type: 'string' | 'boolean' }> }> = {
  serve: { options: {} },
  migrate: { options: {} },
  openapi: { options: { output: { type: 'string' }, check: { type: 'string' } } },
  version: { options: { json: { type: 'boolean' } } },
  help: { options: {} },
}

function parse(argv: string[]) {
  const [first, ...rest] = argv
  const command = first === undefined || first === '--help' || first === '-h' ? 'help' : first
  const spec = commands[command]
  if (!spec) {
    const what = command.startsWith('-') ? 'option' : 'command'
    throw new UsageError(`unknown ${what} "${command}"; run "pganalytics --help"`)
  }
  try {
    const { values } = parseArgs({
      args: rest,
      options: { ...spec.options, help: { type: 'boolean', short: 'h' } },
      strict: true,
    })
    return {
      command: values.help ? 'help' : command,
      values: values as Record<string, string | boolean | undefined>,
    }
  } catch (error) {
    throw new UsageError(`${command}: ${(error as Error).message.split('\n')[0]}`)
  }
}

function configFrom(io: CliIo, log?: Logger): Config {
  const config = loadConfig(io.env)
  for (const name of unknownVariables(io.env))
    log?.warn('unknown variable ignored (typo?)', { variable: name })
  return config
}

/** Runs one command and returns the process exit code. */
export async function runCli(argv: string[], runtime: Runtime, io: CliIo): Promise<number> {
  try {
    const { command, values } = parse(argv)
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
        const probe = loadConfig(io.env)
        const log = createLogger({ level: probe.log.level, write: (line) => io.out(`${line}\n`) })
        const config = configFrom(io, log)
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
        const probe = loadConfig(io.env)
        const log = createLogger({ level: probe.log.level, write: (line) => io.out(`${line}\n`) })
        const config = configFrom(io, log)
        return await serveCommand({ config, log, runtime, build: buildInfo })
      }
    }
    return 2
  } catch (error) {
    if (error instanceof UsageError) {
      io.err(`pganalytics: ${error.message}\n`)
      return 2
    }
    if (error instanceof ConfigError) {
      io.err(`pganalytics: ${error.message}\n`)
      return 2
    }
    io.err(`pganalytics: ${(error as Error).message}\n`)
    return 1
  }
}
