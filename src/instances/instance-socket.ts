// The TCP sockets of one postgres.js client to a monitored instance, opened here (postgres.js
// `socket` option) rather than by the driver, for two reasons:
// - a deadline can destroy them at any stage (TCP connect, TLS, start-up, query): postgres.js
//   only ends connections politely and keeps retrying a start-up whose socket closed, so a peer
//   that closes or stalls would otherwise hold the caller until the process stops;
// - a peer that does not speak PostgreSQL (an HTTP server, anything else) is refused at its first
//   bytes, with a clear error that quotes none of them, instead of being parsed as protocol
//   messages;
// - the host passes the instance host policy (host-policy.ts) first, and the socket connects to
//   the addresses that policy checked, never to the name again.
import net from 'node:net'
import type { HostPolicy } from './host-policy.ts'

/** The peer answered something no PostgreSQL server sends. */
export class ProtocolError extends Error {
  readonly code = 'PGA_PROTOCOL_ERROR'
  constructor(detail: string) {
    super(detail)
    this.name = 'ProtocolError'
  }
}

/** The TCP connection did not complete in time (a filtered port, an unreachable network). */
class TcpConnectTimeoutError extends Error {
  readonly code = 'CONNECT_TIMEOUT'
  constructor(ms: number) {
    super(`TCP connection not established within ${ms} ms`)
  }
}

/** The first byte a PostgreSQL server sends: to an SSLRequest `S` or `N`; to a StartupMessage
 * `R` (authentication), `E` (error; also old servers refusing an SSLRequest) or `v`
 * (NegotiateProtocolVersion). */
const postgresFirstBytes = new Set(['S', 'N', 'E', 'R', 'v'].map((c) => c.charCodeAt(0)))
const sslAnswers = new Set(['S', 'N'].map((c) => c.charCodeAt(0)))
/** Far above any message a server sends before authentication; text read as a length (an HTTP
 * status line, an SSH banner) is far above it too. */
const largestFirstMessage = 1 << 20

/** Whether the first chunk a peer sends can start a PostgreSQL answer: the one-byte answer to an
 * SSLRequest (the server then waits for us, so nothing follows it), or a message whose length
 * field is plausible. A chunk too short to hold the length passes; the deadline covers a stall. */
export function looksLikePostgres(chunk: Buffer): boolean {
  const first = chunk[0] as number
  if (sslAnswers.has(first)) return chunk.length === 1
  if (!postgresFirstBytes.has(first)) return false
  if (chunk.length < 5) return true
  const length = chunk.readUInt32BE(1)
  return length >= 4 && length <= largestFirstMessage
}

/** A host as the API stores it ("[::1]" for IPv6) as the socket layer takes it ("::1"). */
export function socketHost(host: string): string {
  return host.startsWith('[') && host.endsWith(']') ? host.slice(1, -1) : host
}

export class InstanceSockets {
  private readonly open = new Set<net.Socket>()
  private refusal: Error | undefined

  constructor(
    private readonly host: string,
    private readonly port: number,
    private readonly connectTimeoutMs: number,
    private readonly policy: HostPolicy,
  ) {}

  /** For postgres.js' `socket` option: resolves to a socket connected to one of the host's
   * checked addresses (tried in the resolver's order), or rejects with HostNotAllowedError, the
   * resolver's error or the last address' error. */
  readonly connect = async (): Promise<net.Socket> => {
    if (this.refusal) throw this.refusal
    const addresses = await this.policy.resolve(this.host)
    let failure: unknown
    for (const address of addresses) {
      if (this.refusal) throw this.refusal
      try {
        return await this.connectTo(address)
      } catch (error) {
        failure = error
      }
    }
    throw this.refusal ?? failure
  }

  private connectTo(address: string): Promise<net.Socket> {
    return new Promise((resolve, reject) => {
      let socket: net.Socket
      try {
        socket = net.connect({ host: address, port: this.port })
      } catch (error) {
        return reject(error)
      }
      // postgres.js drops every listener of a socket it upgrades to TLS (ours too): forget the
      // closed ones here.
      for (const known of this.open) if (known.destroyed) this.open.delete(known)
      this.open.add(socket)
      // postgres.js reads these (TLS server name, error messages) from sockets it opens itself:
      // the name as written, so verify-full checks the certificate against it.
      Object.assign(socket, { host: socketHost(this.host), port: this.port })
      const timer = setTimeout(
        () => socket.destroy(new TcpConnectTimeoutError(this.connectTimeoutMs)),
        this.connectTimeoutMs,
      )
      // The first chunk is checked before the driver sees it, so bytes that are not PostgreSQL
      // never reach its parser (which would log them as unknown messages and wait for more).
      let answered = false
      const emit = socket.emit as (this: net.Socket, event: string | symbol, ...args: unknown[]) => boolean
      socket.emit = function (this: net.Socket, event: string | symbol, ...args: unknown[]): boolean {
        if (event === 'data' && !answered) {
          answered = true
          if (!looksLikePostgres(args[0] as Buffer)) {
            socket.destroy(new ProtocolError('the server does not speak the PostgreSQL protocol'))
            return true
          }
        }
        return emit.call(this, event, ...args)
      } as typeof socket.emit
      socket.once('end', () => {
        // A PostgreSQL server always answers the start-up before it closes.
        if (!answered)
          socket.destroy(new ProtocolError('the server closed the connection without a PostgreSQL answer'))
      })
      socket.once('connect', () => {
        clearTimeout(timer)
        socket.off('error', reject)
        resolve(socket)
      })
      socket.once('error', reject)
      socket.once('close', () => {
        clearTimeout(timer)
        this.open.delete(socket)
      })
    })
  }

  /** Destroys every socket with `error` (the driver's pending queries reject with it) and refuses
   * new ones: the client is dead from here on. */
  destroy(error: Error): void {
    this.refusal ??= error
    for (const socket of this.open) socket.destroy(error)
  }
}
