// The TCP sockets of one postgres.js client to a monitored instance, opened here (postgres.js
// `socket` option) rather than by the driver, for two reasons:
// - a deadline can destroy them at any stage (TCP connect, TLS, start-up, query): postgres.js
//   only ends connections politely and keeps retrying a start-up whose socket closed, so a peer
//   that closes or stalls would otherwise hold the caller until the process stops;
// - a peer that does not speak PostgreSQL (an HTTP server, anything else) is refused at its first
//   byte, with a clear error, instead of being parsed as protocol messages.
import net from 'node:net'

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
  ) {}

  /** For postgres.js' `socket` option: resolves to a connected socket, or rejects. */
  readonly connect = (): Promise<net.Socket> =>
    new Promise((resolve, reject) => {
      if (this.refusal) return reject(this.refusal)
      let socket: net.Socket
      try {
        socket = net.connect({ host: socketHost(this.host), port: this.port })
      } catch (error) {
        return reject(error)
      }
      // postgres.js drops every listener of a socket it upgrades to TLS (ours too): forget the
      // closed ones here.
      for (const known of this.open) if (known.destroyed) this.open.delete(known)
      this.open.add(socket)
      // postgres.js reads these (TLS server name, error messages) from sockets it opens itself.
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
          if (!postgresFirstBytes.has((args[0] as Buffer)[0] as number)) {
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

  /** Destroys every socket with `error` (the driver's pending queries reject with it) and refuses
   * new ones: the client is dead from here on. */
  destroy(error: Error): void {
    this.refusal ??= error
    for (const socket of this.open) socket.destroy(error)
  }
}
