// Entry point of dist/pganalytics-collector: `pganalytics collect` alone, in a binary that holds
// only what collection needs (no API, sign-in, audit, backups), so a collector-only deployment
// pays for less memory. Same configuration and exit codes as the full CLI.
import { collectCommand } from './collector/collect-command.ts'
import { ConfigError, loadConfig } from './config.ts'
import { createLogger } from './platform/log.ts'
import { bunMigrations, bunServe } from './runtime/bun-core.ts'
import { buildInfo } from './system/build-info.ts'

const [command = 'collect'] = process.argv.slice(2)
let code: number
if (command === 'version') {
  process.stdout.write(
    `pganalytics-collector ${buildInfo.version} (${buildInfo.revision}) ${buildInfo.runtime}\n`,
  )
  code = 0
} else if (command !== 'collect') {
  process.stderr.write('usage: pganalytics-collector [collect | version] (see docs/COLLECTOR.md)\n')
  code = 2
} else {
  try {
    const config = loadConfig(process.env)
    const log = createLogger({ level: config.log.level, write: (line) => process.stdout.write(`${line}\n`) })
    code = await collectCommand({
      config,
      log,
      runtime: { serve: bunServe, migrations: bunMigrations },
      build: buildInfo,
    })
  } catch (error) {
    process.stderr.write(`pganalytics-collector: ${(error as Error).message}\n`)
    code = error instanceof ConfigError ? 2 : 1
  }
}
process.exit(code)
