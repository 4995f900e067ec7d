// Entry point of the Bun build (the compiled `pganalytics` binary and `bun src/main.ts`).
import { runCli } from './cli.ts'
import { bunRuntime } from './runtime/bun.ts'

// Bun.write takes a whole text to a pipe (process.stdout.write may leave the tail of a long
// output, such as the OpenAPI document, unwritten at exit); writes stay in order.
let written: Promise<unknown> = Promise.resolve()
const writeTo = (file: typeof Bun.stdout) => (text: string) => {
  written = written.then(() => Bun.write(file, text))
}

const code = await runCli(process.argv.slice(2), bunRuntime, {
  env: process.env,
  out: writeTo(Bun.stdout),
  err: writeTo(Bun.stderr),
})
await written
process.exit(code)
