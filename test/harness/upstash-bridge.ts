// A small server speaking Upstash's Redis REST protocol in front of a real Redis, so the Upstash
// state store is tested against real Redis semantics without the cloud service. It implements
// what @upstash/redis sends: POST / with one command as a JSON array, POST /pipeline and
// /multi-exec with an array of commands, a Bearer token, and base64-encoded string results when
// the request carries `Upstash-Encoding: base64` (the client's default).
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http'
import type { AddressInfo } from 'node:net'
import { Redis } from 'ioredis'

export type UpstashBridge = { url: string; stop(): Promise<void> }

type Command = [string, ...string[]]
type Reply = { result: unknown } | { error: string }

/** Reads a command array as the client sends it (name first; numbers and booleans as args). */
function toCommand(value: unknown): Command {
  if (!Array.isArray(value) || value.length === 0 || typeof value[0] !== 'string') {
    throw new Error('ERR a command is a non-empty JSON array starting with its name')
  }
  return value.map((part) => {
    if (typeof part === 'string') return part
    if (typeof part === 'number' || typeof part === 'boolean') return String(part)
    throw new Error('ERR command arguments must be strings, numbers or booleans')
  }) as Command
}

/** Turns a reply read in buffer mode into JSON: bulk strings as UTF-8, or base64 when asked. */
function toJson(value: unknown, base64: boolean): unknown {
  if (Buffer.isBuffer(value)) return base64 ? value.toString('base64') : value.toString('utf8')
  if (typeof value === 'string') return base64 ? Buffer.from(value).toString('base64') : value
  if (Array.isArray(value)) return value.map((item) => toJson(item, base64))
  return value ?? null
}

const errorText = (error: unknown) => (error instanceof Error ? error.message : String(error))

async function readBody(req: IncomingMessage): Promise<string> {
  const chunks: Buffer[] = []
  for await (const chunk of req) chunks.push(chunk as Buffer)
  return Buffer.concat(chunks).toString('utf8')
}

function send(res: ServerResponse, status: number, body: unknown) {
  res.writeHead(status, { 'content-type': 'application/json' })
  res.end(JSON.stringify(body))
}

/**
 * Starts the bridge on a free port of 127.0.0.1. Requests without `Authorization: Bearer
 * <token>` get 401; a failing single command gets 400 `{error}` like Upstash (the client then
 * throws, which is how EVALSHA's NOSCRIPT reaches its EVAL fallback).
 */
export async function startUpstashBridge(redisUrl: string, token: string): Promise<UpstashBridge> {
  const redis = new Redis(redisUrl, { protocol: 2, maxRetriesPerRequest: 2 })
  redis.on('error', () => {
    // each failed command answers its request with the error
  })

  const runOne = async (command: Command, base64: boolean): Promise<Reply> => {
    try {
      const [name, ...args] = command
      return { result: toJson(await redis.callBuffer(name, args), base64) }
    } catch (error) {
      return { error: errorText(error) }
    }
  }

  const runTransaction = async (
    commands: Command[],
    base64: boolean,
  ): Promise<Reply[] | { error: string }> => {
    const tx = redis.multi()
    for (const [name, ...args] of commands) tx.callBuffer(name, args)
    try {
      const results = (await tx.exec()) ?? []
      return results.map(([error, result]) =>
        error ? { error: errorText(error) } : { result: toJson(result, base64) },
      )
    } catch (error) {
      return { error: errorText(error) }
    }
  }

  const server = createServer(async (req, res) => {
    try {
      if (req.headers.authorization !== `Bearer ${token}`) return send(res, 401, { error: 'Unauthorized' })
      if (req.method !== 'POST') return send(res, 405, { error: 'ERR only POST is supported' })
      const base64 = String(req.headers['upstash-encoding'] ?? '').toLowerCase() === 'base64'
      const path = new URL(req.url ?? '/', 'http://bridge').pathname.replace(/\/+$/, '')
      let body: unknown
      try {
        body = JSON.parse(await readBody(req))
      } catch {
        return send(res, 400, { error: 'ERR the body is not JSON' })
      }
      if (path === '') {
        const reply = await runOne(toCommand(body), base64)
        return send(res, 'error' in reply ? 400 : 200, reply)
      }
      if (path === '/pipeline' || path === '/multi-exec') {
        if (!Array.isArray(body))
          return send(res, 400, { error: 'ERR the body must be an array of commands' })
        const commands = body.map(toCommand)
        if (path === '/pipeline') {
          // Sent back to back on one connection, in order; like Redis pipelining, not atomic.
          return send(res, 200, await Promise.all(commands.map((command) => runOne(command, base64))))
        }
        const replies = await runTransaction(commands, base64)
        return send(res, 'error' in replies ? 400 : 200, replies)
      }
      return send(res, 404, { error: `ERR unknown path ${path}` })
    } catch (error) {
      return send(res, 400, { error: errorText(error) })
    }
  })
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject)
    server.listen(0, '127.0.0.1', () => resolve())
  })
  const { port } = server.address() as AddressInfo

  return {
    url: `http://127.0.0.1:${port}`,
    async stop() {
      server.closeAllConnections()
      await new Promise<void>((resolve) => server.close(() => resolve()))
      await redis.quit().catch(() => redis.disconnect())
    },
  }
}
