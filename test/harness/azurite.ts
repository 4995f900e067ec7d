// An ephemeral Azure Blob Storage emulator (Azurite, files in a temporary directory) on a free
// loopback port, with one account whose key is random for this run. Stopped by its PID.
import type { ChildProcess } from 'node:child_process'
import { randomBytes } from 'node:crypto'
import { rmSync } from 'node:fs'
import { join } from 'node:path'
import { freePort, spawn, stopChild, tempDir } from './processes.ts'

export type TestAzurite = {
  /** The account's blob service URL (path style: `http://127.0.0.1:PORT/ACCOUNT`). */
  endpoint: string
  account: string
  accountKey: string
  connectionString: string
  stop(): Promise<void>
}

const binary = join(import.meta.dirname, '../../node_modules/.bin/azurite-blob')

function launch(location: string, port: number, account: string, accountKey: string) {
  const child = spawn(
    binary,
    [
      '--blobHost',
      '127.0.0.1',
      '--blobPort',
      String(port),
      '--location',
      location,
      '--skipApiVersionCheck',
      '--disableTelemetry',
      '--silent',
    ],
    {
      env: { ...process.env, AZURITE_ACCOUNTS: `${account}:${accountKey}` },
      stdio: ['ignore', 'pipe', 'pipe'],
    },
  )
  let output = ''
  // Ready when Azurite says it listens (not when the port answers: another process may hold it);
  // not ready when it exits (EADDRINUSE) or after a generous deadline.
  const ready = new Promise<boolean>((resolve) => {
    const timer = setTimeout(() => resolve(false), 60_000)
    const settle = (value: boolean) => {
      clearTimeout(timer)
      resolve(value)
    }
    const capture = (chunk: Buffer) => {
      output = (output + chunk.toString()).slice(-4000)
      if (output.includes('successfully listens')) settle(true)
    }
    child.stdout?.on('data', capture)
    child.stderr?.on('data', capture)
    child.once('exit', () => settle(false))
    child.once('error', (error) => {
      output += String(error)
      settle(false)
    })
  })
  return { child, ready, output: () => output }
}

/** Starts Azurite; retries on another port when the one picked was taken in the meantime. */
export async function startAzurite(account = 'pgatest'): Promise<TestAzurite> {
  const location = tempDir('azurite')
  const accountKey = randomBytes(64).toString('base64')
  let child: ChildProcess | undefined
  let port = 0
  let lastOutput = ''
  for (let attempt = 0; attempt < 3 && !child; attempt++) {
    port = await freePort()
    const started = launch(location, port, account, accountKey)
    if ((await started.ready) && started.child.exitCode === null) child = started.child
    else {
      lastOutput = started.output()
      await stopChild(started.child)
    }
  }
  if (!child) {
    rmSync(location, { recursive: true, force: true })
    throw new Error(`Azurite did not start: ${lastOutput}`)
  }
  const endpoint = `http://127.0.0.1:${port}/${account}`
  const running = child
  return {
    endpoint,
    account,
    accountKey,
    connectionString: `DefaultEndpointsProtocol=http;AccountName=${account};AccountKey=${accountKey};BlobEndpoint=${endpoint};`,
    async stop() {
      await stopChild(running)
      rmSync(location, { recursive: true, force: true })
    },
  }
}
