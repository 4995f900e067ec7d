// A TCP forwarder whose gate the test controls: while the gate is shut, new connections are
// accepted and held (nothing forwarded, nothing answered); `open()` lets the held ones and all later
// ones through to the target. Makes "a request that is still running" last exactly as long as a
// test needs, with a real server behind it.
import { connect, createServer, type Socket } from 'node:net'

export type TcpGate = {
  port: number
  /** Connections accepted so far. */
  readonly accepted: number
  /** Resolves once `count` connections have been accepted. */
  waitForConnections(count: number, timeoutMs?: number): Promise<void>
  /** Forwards the held connections and every later one. */
  open(): void
  close(): Promise<void>
}

export async function startTcpGate(targetPort: number, targetHost = '127.0.0.1'): Promise<TcpGate> {
  let isOpen = false
  let accepted = 0
  const held: Socket[] = []
  const sockets = new Set<Socket>()
  const waiters: (() => void)[] = []
  const forward = (client: Socket) => {
    const upstream = connect({ port: targetPort, host: targetHost })
    sockets.add(upstream)
    upstream.on('close', () => sockets.delete(upstream))
    client.pipe(upstream).pipe(client)
    const end = () => {
      client.destroy()
      upstream.destroy()
    }
    client.on('error', end)
    upstream.on('error', end)
    client.on('close', end)
  }
  const server = createServer((client) => {
    accepted++
    sockets.add(client)
    client.on('close', () => sockets.delete(client))
    client.on('error', () => client.destroy())
    for (const wake of waiters.splice(0)) wake()
    if (isOpen) forward(client)
    else {
      client.pause()
      held.push(client)
    }
  })
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  const address = server.address()
  return {
    port: typeof address === 'object' && address ? address.port : 0,
    get accepted() {
      return accepted
    },
    async waitForConnections(count, timeoutMs = 30_000) {
      const deadline = Date.now() + timeoutMs
      while (accepted < count) {
        if (Date.now() > deadline)
          throw new Error(`only ${accepted} of ${count} connections within ${timeoutMs} ms`)
        await new Promise<void>((resolve) => {
          waiters.push(resolve)
          setTimeout(resolve, 200)
        })
      }
    },
    open() {
      isOpen = true
      for (const client of held.splice(0)) {
        if (client.destroyed) continue
        forward(client)
        client.resume()
      }
    },
    async close() {
      for (const socket of sockets) socket.destroy()
      await new Promise<void>((resolve) => server.close(() => resolve()))
    },
  }
}
