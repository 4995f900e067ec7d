// Entry point of the Node build (dist/node/main.js): same CLI, Node runtime adapter.
import { runCli } from './cli.ts'
import { nodeRuntime } from './runtime/node.ts'

const code = await runCli(process.argv.slice(2), nodeRuntime, {
  env: process.env,
  out: (text) => process.stdout.write(text),
  err: (text) => process.stderr.write(text),
})
process.exit(code)
