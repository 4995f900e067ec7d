// Entry point of the Node build (dist/node/main.js): same CLI, Node runtime adapter.
import { runCli } from './cli.ts'
import { nodeRuntime } from './runtime/node.ts'

// Exit only once every write has been handed over: on a pipe the tail of a long output (the
// OpenAPI document) would otherwise be lost at process.exit.
const pending = new Set<Promise<void>>()
const writeTo = (stream: NodeJS.WriteStream) => (text: string) => {
  const done = new Promise<void>((resolve) => stream.write(text, () => resolve()))
  pending.add(done)
  void done.then(() => pending.delete(done))
}

const code = await runCli(process.argv.slice(2), nodeRuntime, {
  env: process.env,
  out: writeTo(process.stdout),
  err: writeTo(process.stderr),
})
await Promise.all(pending)
process.exit(code)
