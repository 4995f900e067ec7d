// Which hosts the service may connect to on behalf of an instance (PGA_INSTANCE_HOSTS_ALLOW and
// PGA_INSTANCE_HOSTS_DENY). Registering an instance makes the service open a TCP connection to an
// address an operator chose: without a limit, that is a way to reach the cloud metadata service
// or to map the networks the service sits in. A host is checked twice: as written (its name
// against the name globs, a literal address against the CIDR blocks) and after DNS resolution
// (every address the name resolves to against the CIDR blocks). Callers then connect to a checked
// address, never to the name again, so a DNS answer that changes between the check and the
// connection (rebinding) cannot lead elsewhere.
//
// Rules: a deny rule always wins (built-in ones first: link-local and cloud metadata addresses,
// which cannot be lifted); when the allow list is not empty, the name must match one of its globs
// or every resolved address one of its blocks.
import { lookup } from 'node:dns/promises'
import { isIP } from 'node:net'
import { ServiceError } from '../http/errors.ts'

/** Addresses no instance lives on: the link-local ranges (every cloud's metadata service answers
 * on 169.254.169.254; ECS task metadata on 169.254.170.2), the other metadata endpoints, and the
 * unspecified addresses (a connection to 0.0.0.0 reaches the service's own host). */
export const builtInDenyRules: readonly { rule: string; why: string }[] = [
  { rule: '169.254.0.0/16', why: 'IPv4 link-local, cloud metadata' },
  { rule: 'fe80::/10', why: 'IPv6 link-local' },
  { rule: 'fd00:ec2::254/128', why: 'AWS instance metadata over IPv6' },
  { rule: '100.100.100.200/32', why: 'Alibaba Cloud instance metadata' },
  { rule: '168.63.129.16/32', why: 'Azure platform endpoint (WireServer)' },
  { rule: 'metadata.google.internal', why: 'Google Cloud instance metadata' },
  { rule: '0.0.0.0/8', why: 'unspecified IPv4 address' },
  { rule: '::/128', why: 'unspecified IPv6 address' },
]

type Address = { family: 4 | 6; value: bigint }
type CidrRule = { kind: 'cidr'; text: string; family: 4 | 6; network: bigint; bits: number }
type NameRule = { kind: 'name'; text: string; pattern: RegExp }
export type HostRule = CidrRule | NameRule

/** "10.0.0.1" or "2001:db8::1" as a number; IPv4-mapped IPv6 addresses (::ffff:a.b.c.d, how a
 * dual-stack resolver may answer) count as their IPv4 address. Null when not an address. */
export function parseAddress(text: string): Address | null {
  const family = isIP(text)
  if (family === 4) {
    return {
      family: 4,
      value: text.split('.').reduce((sum, part) => (sum << 8n) | BigInt(Number(part)), 0n),
    }
  }
  if (family !== 6) return null
  let rest = text.toLowerCase()
  // A trailing dotted IPv4 part is two groups.
  const dotted = /(\d+\.\d+\.\d+\.\d+)$/.exec(rest)
  if (dotted) {
    const v4 = parseAddress(dotted[1] as string) as Address
    rest = `${rest.slice(0, dotted.index)}${(v4.value >> 16n).toString(16)}:${(v4.value & 0xffffn).toString(16)}`
  }
  const [head = '', tail] = rest.split('::') as [string, string | undefined]
  const headGroups = head ? head.split(':') : []
  const tailGroups = tail ? tail.split(':') : []
  const groups =
    tail === undefined
      ? headGroups
      : [...headGroups, ...Array(8 - headGroups.length - tailGroups.length).fill('0'), ...tailGroups]
  const value = groups.reduce((sum, group) => (sum << 16n) | BigInt(Number.parseInt(group, 16)), 0n)
  if (value >> 32n === 0xffffn) return { family: 4, value: value & 0xffffffffn }
  return { family: 6, value }
}

/** One rule of a list: a CIDR block or address ("10.0.0.0/8", "fd00::/8", "192.0.2.7"), or a
 * host name glob ("*.db.internal", "pg-*.example.com"; `*` matches any characters, dots
 * included). Null when it is neither. */
export function parseHostRule(text: string): HostRule | null {
  const trimmed = text.trim().toLowerCase()
  const [address = '', prefix, ...extra] = trimmed.split('/')
  const parsed = parseAddress(address)
  if (parsed) {
    if (extra.length > 0 || (prefix !== undefined && !/^\d{1,3}$/.test(prefix))) return null
    const width = parsed.family === 4 ? 32 : 128
    const bits = prefix === undefined ? width : Number(prefix)
    if (bits > width) return null
    const shift = BigInt(width - bits)
    return {
      kind: 'cidr',
      text: `${address}/${bits}`,
      family: parsed.family,
      network: (parsed.value >> shift) << shift,
      bits,
    }
  }
  if (prefix !== undefined) return null
  const name = trimmed.replace(/\.$/, '')
  if (!/^[a-z0-9_*](?:[a-z0-9_*.-]*[a-z0-9_*])?$/.test(name) || name.includes('..')) return null
  const pattern = new RegExp(`^${name.replaceAll('.', '\\.').replaceAll('*', '.+')}$`)
  return { kind: 'name', text: name, pattern }
}

function addressMatches(rule: CidrRule, address: Address): boolean {
  if (rule.family !== address.family) return false
  const shift = BigInt((address.family === 4 ? 32 : 128) - rule.bits)
  return (address.value >> shift) << shift === rule.network
}

/** A host as the API stores it ("[::1]", "db.example.com.") as rules see it ("::1",
 * "db.example.com"): names are compared without case and without a trailing dot. */
function normalHost(host: string): string {
  const bare = host.startsWith('[') && host.endsWith(']') ? host.slice(1, -1) : host
  return bare.toLowerCase().replace(/\.$/, '')
}

/** The host may not be connected to; `detail` names the host and the rule, nothing about the
 * remote side (no address it resolved to, no port state). */
export class HostNotAllowedError extends ServiceError {
  constructor(detail: string) {
    super('instance_host_not_allowed', 422, 'Host not allowed', detail)
    this.name = 'HostNotAllowedError'
  }
}

export type HostPolicySettings = {
  /** Normalised rules of PGA_INSTANCE_HOSTS_ALLOW; empty: every host not denied. */
  allow: readonly string[]
  /** Normalised rules of PGA_INSTANCE_HOSTS_DENY, on top of the built-in ones. */
  deny: readonly string[]
}

type Denial = { rule: HostRule; source: string }

export class HostPolicy {
  private readonly deny: Denial[]
  private readonly allow: HostRule[]

  constructor(settings: HostPolicySettings) {
    const parse = (text: string) => {
      const rule = parseHostRule(text)
      if (!rule) throw new Error(`not a CIDR block or host name glob: ${text}`)
      return rule
    }
    this.deny = [
      ...builtInDenyRules.map(({ rule, why }) => ({ rule: parse(rule), source: `a built-in rule (${why})` })),
      ...settings.deny.map((text) => ({ rule: parse(text), source: 'PGA_INSTANCE_HOSTS_DENY' })),
    ]
    this.allow = settings.allow.map(parse)
  }

  /** The host as written, before any DNS: a literal address against the blocks, a name against
   * the globs. Throws HostNotAllowedError. A name that the allow list can only judge by its
   * addresses passes here and is decided by `resolve`. */
  checkWritten(host: string): void {
    const name = normalHost(host)
    const address = parseAddress(name)
    const denial = this.deny.find(({ rule }) =>
      address
        ? rule.kind === 'cidr' && addressMatches(rule, address)
        : rule.kind === 'name' && rule.pattern.test(name),
    )
    if (denial) throw this.denied(host, denial, address ? 'is' : 'matches')
    if (this.allow.length === 0) return
    if (address) {
      if (!this.allow.some((rule) => rule.kind === 'cidr' && addressMatches(rule, address)))
        throw this.notAllowed(host)
    } else if (
      !this.allow.some((rule) => rule.kind === 'name' && rule.pattern.test(name)) &&
      !this.allow.some((rule) => rule.kind === 'cidr')
    ) {
      throw this.notAllowed(host)
    }
  }

  /** The addresses to connect to for `host`, every one of them checked; in the resolver's order.
   * Throws HostNotAllowedError, or the resolver's error (ENOTFOUND, ...) when it does not resolve. */
  async resolve(host: string): Promise<string[]> {
    this.checkWritten(host)
    const name = normalHost(host)
    const literal = parseAddress(name)
    const addresses = literal
      ? [name]
      : (await lookup(name, { all: true, verbatim: true })).map((a) => a.address)
    const nameAllowed = !literal && this.allow.some((rule) => rule.kind === 'name' && rule.pattern.test(name))
    for (const text of addresses) {
      const address = parseAddress(text)
      if (!address) throw new HostNotAllowedError(`${host} resolves to something that is not an IP address`)
      const denial = this.deny.find(({ rule }) => rule.kind === 'cidr' && addressMatches(rule, address))
      if (denial) throw this.denied(host, denial, literal ? 'is' : 'resolves to an address in')
      if (
        this.allow.length > 0 &&
        !nameAllowed &&
        !this.allow.some((rule) => rule.kind === 'cidr' && addressMatches(rule, address))
      )
        throw this.notAllowed(host)
    }
    return addresses
  }

  private denied(host: string, { rule, source }: Denial, verb: string): HostNotAllowedError {
    return new HostNotAllowedError(`${host} ${verb} ${rule.text}, refused by ${source}`)
  }

  private notAllowed(host: string): HostNotAllowedError {
    return new HostNotAllowedError(
      `${host} is not allowed by PGA_INSTANCE_HOSTS_ALLOW (neither its name nor every address it resolves to matches a rule)`,
    )
  }
}
