// The client-address resolver: headers count only from a trusted peer, walked from the right;
// anything malformed is ignored; IPv6 is limited per /64.
import { describe, expect, it } from 'vitest'
import {
  normaliseAddress,
  parseCidr,
  rateLimitBucket,
  resolveClientAddress,
  TrustedProxies,
} from '../../src/http/client-address.ts'

const trusted = new TrustedProxies(['10.0.0.0/8', 'fd00::/8', '127.0.0.1/32'])
const resolve = (peer: string | undefined, headers: Record<string, string>, proxies = trusted) =>
  resolveClientAddress(
    peer,
    (name) => Object.entries(headers).find(([key]) => key.toLowerCase() === name.toLowerCase())?.[1],
    proxies,
  )

describe('parseCidr', () => {
  it('normalises addresses and blocks, IPv4 and IPv6', () => {
    expect(parseCidr('10.0.0.0/8')).toBe('10.0.0.0/8')
    expect(parseCidr(' 192.0.2.7 ')).toBe('192.0.2.7/32')
    expect(parseCidr('::1')).toBe('::1/128')
    expect(parseCidr('2001:db8::/32')).toBe('2001:db8::/32')
  })
  it.each(['10.0.0.0/33', 'fd00::/129', 'host.example', '10.0.0.0/8/8', '10.0.0.0/', '10.0.0.0/-1', ''])(
    'refuses %j',
    (text) => expect(parseCidr(text)).toBeNull(),
  )
})

describe('resolveClientAddress', () => {
  it('ignores every forwarding header from an untrusted peer', () => {
    const spoof = { 'X-Forwarded-For': '1.2.3.4', Forwarded: 'for=1.2.3.4', 'X-Real-IP': '1.2.3.4' }
    expect(resolve('198.51.100.7', spoof)).toBe('198.51.100.7')
    expect(resolve('198.51.100.7', spoof, new TrustedProxies([]))).toBe('198.51.100.7')
  })

  it('walks X-Forwarded-For from the right past trusted hops', () => {
    // The client wrote "6.6.6.6" itself; the first proxy appended the real client, 203.0.113.9.
    expect(resolve('10.0.0.2', { 'X-Forwarded-For': '6.6.6.6, 203.0.113.9, 10.0.0.5' })).toBe('203.0.113.9')
    expect(resolve('10.0.0.2', { 'X-Forwarded-For': '203.0.113.9' })).toBe('203.0.113.9')
    // Only proxies: the leftmost hop is where the request entered.
    expect(resolve('10.0.0.2', { 'X-Forwarded-For': '10.9.9.9, 10.0.0.5' })).toBe('10.9.9.9')
    // Repeated headers arrive joined with ", ".
    expect(resolve('127.0.0.1', { 'X-Forwarded-For': '2001:db8::7, 10.0.0.5' })).toBe('2001:db8::7')
  })

  it('reads Forwarded (RFC 7239) when there is no X-Forwarded-For, quoted IPv6 and ports included', () => {
    expect(
      resolve('10.0.0.2', {
        Forwarded: 'for=6.6.6.6;proto=https, for="[2001:db8:cafe::17]:4711";by=10.0.0.5, for=10.0.0.6',
      }),
    ).toBe('2001:db8:cafe::17')
    expect(resolve('10.0.0.2', { Forwarded: 'For="192.0.2.60:8080"' })).toBe('192.0.2.60')
  })

  it('takes X-Real-IP only from a trusted peer and only as the last resort', () => {
    expect(resolve('10.0.0.2', { 'X-Real-IP': '192.0.2.1' })).toBe('192.0.2.1')
    expect(resolve('10.0.0.2', { 'X-Real-IP': '192.0.2.1', 'X-Forwarded-For': '192.0.2.2' })).toBe(
      '192.0.2.2',
    )
    expect(resolve('192.0.2.99', { 'X-Real-IP': '192.0.2.1' })).toBe('192.0.2.99')
  })

  it.each<Record<string, string>>([
    { 'X-Forwarded-For': 'not-an-address' },
    { 'X-Forwarded-For': '203.0.113.9, garbage' },
    { 'X-Forwarded-For': ',,,' },
    { 'X-Forwarded-For': '999.1.1.1' },
    { Forwarded: 'for=unknown' },
    { Forwarded: 'proto=https' },
    { Forwarded: 'for="_hidden"' },
    { 'X-Real-IP': '<script>' },
  ])('ignores the malformed %o and uses the peer', (headers) => {
    expect(resolve('10.0.0.2', headers)).toBe('10.0.0.2')
  })

  it('falls through a malformed header to the next one', () => {
    expect(resolve('10.0.0.2', { 'X-Forwarded-For': 'garbage', Forwarded: 'for=192.0.2.5' })).toBe(
      '192.0.2.5',
    )
  })

  it('shows IPv4-mapped peers as IPv4 and matches them against IPv4 blocks', () => {
    expect(normaliseAddress('::ffff:192.0.2.1')).toBe('192.0.2.1')
    expect(resolve('::ffff:10.0.0.2', { 'X-Forwarded-For': '192.0.2.8' })).toBe('192.0.2.8')
    expect(resolve('::ffff:198.51.100.1', { 'X-Forwarded-For': '192.0.2.8' })).toBe('198.51.100.1')
  })

  it('trusts IPv6 proxies by block', () => {
    expect(resolve('fd12::1', { 'X-Forwarded-For': '2001:db8::1' })).toBe('2001:db8::1')
    expect(resolve('2001:db8::99', { 'X-Forwarded-For': '2001:db8::1' })).toBe('2001:db8::99')
  })

  it('gives no address when the runtime gave no peer', () => {
    expect(resolve(undefined, { 'X-Forwarded-For': '1.2.3.4' })).toBeUndefined()
  })
})

describe('rateLimitBucket', () => {
  it('counts IPv4 per address and IPv6 per /64', () => {
    expect(rateLimitBucket('192.0.2.1')).toBe('192.0.2.1')
    expect(rateLimitBucket('2001:db8:1:2:aaaa::1')).toBe('2001:db8:1:2::/64')
    expect(rateLimitBucket('2001:db8:1:2:bbbb:cccc:dddd:eeee')).toBe('2001:db8:1:2::/64')
    expect(rateLimitBucket('2001:db8::1')).toBe('2001:db8:0:0::/64')
    expect(rateLimitBucket('2001:0db8:0001:0002::1')).toBe('2001:db8:1:2::/64')
    expect(rateLimitBucket('::1')).toBe('0:0:0:0::/64')
    expect(rateLimitBucket('64:ff9b::192.0.2.1')).toBe('64:ff9b:0:0::/64')
    expect(rateLimitBucket('fe80::1%eth0')).toBe('fe80:0:0:0::/64')
    expect(rateLimitBucket(undefined)).toBe('unknown')
  })
})
