// Entry point of the Bun build (the compiled `pganalytics` binary and `bun src/main.ts`).
import { runCli } from './cli.ts'
import { bunRuntime } from './runtime/bun.ts'

const code = await runCli(process.argv.slice(2), bunRuntime, {
  env: process.env,
  out: (text) => process.stdout.write(text),
  err: (text) => process.stderr.write(text),
})
process.exit(code)
