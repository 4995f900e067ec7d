// The client address of a request, resolved once: the socket peer, unless that peer is a trusted
// proxy (PGA_TRUSTED_PROXIES). Then the forwarding headers are walked from the right, skipping
// trusted hops, and the first untrusted hop is the client. X-Forwarded-For is read first (what
// most balancers append to), then Forwarded (RFC 7239), then X-Real-IP. A header that cannot be
// walked (a hop that is not an address) is ignored as a whole, never a 500. Headers from an
// untrusted peer are never read, so a caller cannot choose its own address.
import { BlockList, isIP } from 'node:net'
import type { MiddlewareHandler } from 'hono'

declare module 'hono' {
  interface ContextVariableMap {
    /** The client address, resolved on first call (once per request), or undefined when the
     * runtime gave no peer (in-process tests). */
    clientAddress: () => string | undefined
  }
}

/** What the runtime adapters pass as the Hono env of each request. */
export type ConnectionEnv = { peerAddress?: string | undefined }

/** "10.0.0.0/8", "192.0.2.7" or "fd00::/8" → the normalised block ("192.0.2.7/32"), or null. */
export function parseCidr(text: string): string | null {
  const [address = '', prefix, ...rest] = text.trim().split('/')
  const family = isIP(address)
  if (family === 0 || rest.length > 0) return null
  const max = family === 4 ? 32 : 128
  if (prefix !== undefined && !/^\d{1,3}$/.test(prefix)) return null
  const bits = prefix === undefined ? max : Number(prefix)
  return bits <= max ? `${address}/${bits}` : null
}

/** IPv4-mapped IPv6 peers (a dual-stack listener) are shown and counted as IPv4. */
export function normaliseAddress(address: string): string {
  const mapped = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/i.exec(address)
  return mapped ? (mapped[1] as string) : address
}

export class TrustedProxies {
  private readonly list = new BlockList()
  readonly empty: boolean

  /** From normalised blocks (config's PGA_TRUSTED_PROXIES). */
  constructor(blocks: readonly string[]) {
    this.empty = blocks.length === 0
    for (const block of blocks) {
      const [address, bits] = block.split('/') as [string, string]
      this.list.addSubnet(address, Number(bits), isIP(address) === 4 ? 'ipv4' : 'ipv6')
    }
  }

  contains(address: string): boolean {
    const family = isIP(address)
    return family !== 0 && this.list.check(address, family === 4 ? 'ipv4' : 'ipv6')
  }
}

/** One hop of a forwarding header as an address: strips brackets and ports; null if not one. */
function hopAddress(hop: string): string | null {
  let text = hop.trim()
  if (text.startsWith('"') && text.endsWith('"') && text.length >= 2) text = text.slice(1, -1)
  const bracketed = /^\[([^\]]+)\](?::\d{1,5})?$/.exec(text)
  if (bracketed) text = bracketed[1] as string
  else if (/^\d+\.\d+\.\d+\.\d+:\d{1,5}$/.test(text)) text = text.slice(0, text.lastIndexOf(':'))
  return isIP(text) === 0 ? null : normaliseAddress(text)
}

/** The `for=` values of a Forwarded header, left to right; null when an element has none. */
function forwardedFor(header: string): string[] | null {
  const hops: string[] = []
  for (const element of header.split(',')) {
    const pair = element
      .split(';')
      .map((part) => part.trim())
      .find((part) => part.toLowerCase().startsWith('for='))
    if (!pair) return null
    hops.push(pair.slice(4))
  }
  return hops
}

/** Walks hops from the right past trusted proxies; null when a hop is not an address. */
function firstUntrusted(hops: string[], trusted: TrustedProxies): string | null {
  let client: string | null = null
  for (let i = hops.length - 1; i >= 0; i--) {
    const address = hopAddress(hops[i] as string)
    if (address === null) return null
    client = address
    if (!trusted.contains(address)) return address
  }
  // Every hop is a trusted proxy: the leftmost is where the request entered.
  return client
}

/** The client address of a request whose socket peer is `peer`. */
export function resolveClientAddress(
  peer: string | undefined,
  header: (name: string) => string | undefined,
  trusted: TrustedProxies,
): string | undefined {
  if (peer === undefined) return undefined
  const direct = normaliseAddress(peer)
  if (trusted.empty || !trusted.contains(direct)) return direct
  const xff = header('X-Forwarded-For')
  if (xff) {
    const client = firstUntrusted(xff.split(','), trusted)
    if (client) return client
  }
  const forwarded = header('Forwarded')
  if (forwarded) {
    const hops = forwardedFor(forwarded)
    const client = hops && firstUntrusted(hops, trusted)
    if (client) return client
  }
  const realIp = header('X-Real-IP')
  return (realIp && hopAddress(realIp)) || direct
}

/** Middleware: puts the client address on the context, resolved when first asked for, so a
 * request that never needs it (a probe, most reads) does not pay for the peer lookup. */
export function clientAddress(options: { trustedProxies: readonly string[] }): MiddlewareHandler {
  const trusted = new TrustedProxies(options.trustedProxies)
  // Not async: an extra promise per request costs more than the resolution itself.
  return (c, next) => {
    let resolved: { address: string | undefined } | undefined
    c.set('clientAddress', () => {
      resolved ??= {
        address: resolveClientAddress(
          (c.env as ConnectionEnv | undefined)?.peerAddress,
          (name) => c.req.header(name),
          trusted,
        ),
      }
      return resolved.address
    })
    return next()
  }
}

/** The key a per-address limit counts under: an IPv6 client owns at least a /64, so it is
 * counted by its /64 (or it could rotate addresses to escape the limit); IPv4 by address. */
export function rateLimitBucket(address: string | undefined): string {
  if (address === undefined) return 'unknown'
  if (isIP(address) !== 6) return address
  return `${expandIpv6(address).slice(0, 4).join(':')}::/64`
}

/** The eight hextets of an IPv6 address (zone dropped), each without leading zeros. */
function expandIpv6(address: string): string[] {
  const [text = ''] = address.split('%')
  let [head = '', tail] = text.split('::') as [string, string | undefined]
  // An embedded IPv4 tail (::ffff:1.2.3.4 not mapped, 64:ff9b::1.2.3.4) is two hextets.
  const v4 = /(\d+)\.(\d+)\.(\d+)\.(\d+)$/.exec(tail ?? head)
  if (v4) {
    const [a, b, c, d] = v4.slice(1).map(Number) as [number, number, number, number]
    const hextets = `${((a << 8) | b).toString(16)}:${((c << 8) | d).toString(16)}`
    if (tail !== undefined) tail = tail.replace(v4[0], hextets)
    else head = head.replace(v4[0], hextets)
  }
  const left = head ? head.split(':') : []
  const right = tail ? tail.split(':') : []
  const zeros = tail === undefined ? [] : Array(8 - left.length - right.length).fill('0')
  return [...left, ...zeros, ...right].map((h) => Number.parseInt(h || '0', 16).toString(16))
}
