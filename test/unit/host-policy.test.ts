// The instance host policy's rules (PGA_INSTANCE_HOSTS_ALLOW/_DENY): CIDR blocks of both
// families at their boundaries, host name globs, the built-in denials, and the resolution check
// against the machine's real resolver (`localhost`). Also what a failed connection may say.
import { describe, expect, it } from 'vitest'
import { ConfigError, loadConfig } from '../../src/config.ts'
import { classifyConnectionError } from '../../src/instances/connection-test.ts'
import { HostNotAllowedError, HostPolicy, parseHostRule } from '../../src/instances/host-policy.ts'
import { looksLikePostgres } from '../../src/instances/instance-socket.ts'

const policy = (allow: string[] = [], deny: string[] = []) => new HostPolicy({ allow, deny })

/** The refusal's detail, or 'allowed'. */
function written(p: HostPolicy, host: string): string {
  try {
    p.checkWritten(host)
    return 'allowed'
  } catch (error) {
    expect(error).toBeInstanceOf(HostNotAllowedError)
    expect((error as HostNotAllowedError).code).toBe('instance_host_not_allowed')
    return (error as Error).message
  }
}

async function resolved(p: HostPolicy, host: string): Promise<string[] | string> {
  try {
    return await p.resolve(host)
  } catch (error) {
    expect(error).toBeInstanceOf(HostNotAllowedError)
    return (error as Error).message
  }
}

describe('parseHostRule', () => {
  it('reads CIDR blocks, addresses and globs, normalised', () => {
    expect(parseHostRule('10.0.0.0/8')).toMatchObject({ kind: 'cidr', text: '10.0.0.0/8', family: 4 })
    expect(parseHostRule(' 192.0.2.7 ')).toMatchObject({ kind: 'cidr', text: '192.0.2.7/32' })
    expect(parseHostRule('FD00::/8')).toMatchObject({ kind: 'cidr', text: 'fd00::/8', family: 6 })
    expect(parseHostRule('::1')).toMatchObject({ kind: 'cidr', text: '::1/128' })
    expect(parseHostRule('*.DB.internal.')).toMatchObject({ kind: 'name', text: '*.db.internal' })
  })

  it('refuses what is neither', () => {
    for (const bad of [
      '10.0.0.0/33',
      'fd00::/129',
      '10.0.0.0/8/1',
      '10.0.0.0/x',
      'db/8',
      'a..b',
      'db host',
      'db:5432',
      '',
    ])
      expect(parseHostRule(bad), bad).toBeNull()
  })

  it('config refuses a list with one bad rule, naming the variable', () => {
    for (const name of ['PGA_INSTANCE_HOSTS_ALLOW', 'PGA_INSTANCE_HOSTS_DENY']) {
      try {
        loadConfig({ [name]: '10.0.0.0/8,not a host' })
        expect.unreachable(name)
      } catch (error) {
        expect(error).toBeInstanceOf(ConfigError)
        expect((error as ConfigError).issues.map((i) => i.variable)).toEqual([name])
      }
    }
    expect(loadConfig({ PGA_INSTANCE_HOSTS_ALLOW: '10.0.0.0/8, *.DB.internal' }).instances.hosts).toEqual({
      allow: ['10.0.0.0/8', '*.db.internal'],
      deny: [],
    })
  })
})

describe('built-in denials (no configuration)', () => {
  const open = policy()
  const link4 = 'IPv4 link-local, cloud metadata'
  it.each([
    ['169.254.169.254', 'is', '169.254.0.0/16', link4],
    ['169.254.170.2', 'is', '169.254.0.0/16', link4],
    ['[fe80::1]', 'is', 'fe80::/10', 'IPv6 link-local'],
    ['[febf:ffff::1]', 'is', 'fe80::/10', 'IPv6 link-local'],
    ['[fd00:ec2::254]', 'is', 'fd00:ec2::254/128', 'AWS instance metadata over IPv6'],
    ['100.100.100.200', 'is', '100.100.100.200/32', 'Alibaba Cloud instance metadata'],
    ['168.63.129.16', 'is', '168.63.129.16/32', 'Azure platform endpoint (WireServer)'],
    ['metadata.google.internal', 'matches', 'metadata.google.internal', 'Google Cloud instance metadata'],
    ['Metadata.Google.Internal', 'matches', 'metadata.google.internal', 'Google Cloud instance metadata'],
    ['0.0.0.0', 'is', '0.0.0.0/8', 'unspecified IPv4 address'],
    ['[::]', 'is', '::/128', 'unspecified IPv6 address'],
    // IPv4-mapped IPv6, in both spellings, is its IPv4 address.
    ['[::ffff:169.254.169.254]', 'is', '169.254.0.0/16', link4],
    ['[::ffff:a9fe:a9fe]', 'is', '169.254.0.0/16', link4],
  ])('refuses %s (%s %s)', (host, verb, rule, why) => {
    expect(written(open, host)).toBe(`${host} ${verb} ${rule}, refused by a built-in rule (${why})`)
  })

  it('lets the neighbours of the denied ranges through', () => {
    for (const host of [
      '169.253.255.255',
      '169.255.0.0',
      '[fec0::1]',
      '[fd00:ec2::253]',
      '100.100.100.201',
      '1.0.0.0',
      '[::2]',
      'metadata.google.internal.example.com',
      'db.example.com',
    ])
      expect(written(open, host), host).toBe('allowed')
  })

  it('an allow list does not lift them', () => {
    expect(written(policy(['169.254.0.0/16']), '169.254.169.254')).toContain('refused by a built-in rule')
  })
})

describe('PGA_INSTANCE_HOSTS_DENY', () => {
  it('refuses inside IPv4 and IPv6 blocks, to their exact boundaries', () => {
    const p = policy([], ['10.0.0.0/8', '2001:db8::/32', '192.0.2.7'])
    expect(written(p, '10.255.255.255')).toBe(
      '10.255.255.255 is 10.0.0.0/8, refused by PGA_INSTANCE_HOSTS_DENY',
    )
    expect(written(p, '10.0.0.0')).toContain('refused by PGA_INSTANCE_HOSTS_DENY')
    expect(written(p, '11.0.0.0')).toBe('allowed')
    expect(written(p, '9.255.255.255')).toBe('allowed')
    expect(written(p, '[2001:db8:ffff:ffff::1]')).toBe(
      '[2001:db8:ffff:ffff::1] is 2001:db8::/32, refused by PGA_INSTANCE_HOSTS_DENY',
    )
    expect(written(p, '[2001:db9::1]')).toBe('allowed')
    expect(written(p, '[2001:db7:ffff::1]')).toBe('allowed')
    expect(written(p, '192.0.2.7')).toContain('192.0.2.7/32')
    expect(written(p, '192.0.2.8')).toBe('allowed')
  })

  it('refuses names matching a glob; `*` spans labels but needs at least one character', () => {
    const p = policy([], ['*.corp.example.com'])
    expect(written(p, 'db.corp.example.com')).toBe(
      'db.corp.example.com matches *.corp.example.com, refused by PGA_INSTANCE_HOSTS_DENY',
    )
    expect(written(p, 'a.b.CORP.example.com')).toContain('refused')
    expect(written(p, 'corp.example.com')).toBe('allowed')
    expect(written(p, 'db.corp.example.com.evil')).toBe('allowed')
    expect(written(p, 'xcorp.example.com')).toBe('allowed')
  })

  it('checks every address a name resolves to: localhost with 127.0.0.0/8 denied', async () => {
    expect(await resolved(policy([], ['127.0.0.0/8', '::1']), 'localhost')).toMatch(
      /^localhost resolves to an address in (127\.0\.0\.0\/8|::1\/128), refused by PGA_INSTANCE_HOSTS_DENY$/,
    )
    // The same name as written passes: only its addresses are denied.
    expect(written(policy([], ['127.0.0.0/8', '::1']), 'localhost')).toBe('allowed')
    expect(await resolved(policy([], ['10.0.0.0/8']), 'localhost')).toEqual(
      expect.arrayContaining(['127.0.0.1']),
    )
  })
})

describe('PGA_INSTANCE_HOSTS_ALLOW', () => {
  it('with blocks only: literal addresses must be inside; names are judged by their addresses', async () => {
    const p = policy(['127.0.0.0/8', 'fd00::/8'])
    expect(written(p, '127.0.0.1')).toBe('allowed')
    expect(written(p, '[fd12::1]')).toBe('allowed')
    expect(written(p, '10.0.0.1')).toMatch(/^10\.0\.0\.1 is not allowed by PGA_INSTANCE_HOSTS_ALLOW/)
    expect(written(p, '[::1]')).toMatch(/^\[::1\] is not allowed by PGA_INSTANCE_HOSTS_ALLOW/)
    expect(written(p, 'localhost')).toBe('allowed')
    expect(await resolved(p, 'localhost')).toEqual(expect.arrayContaining(['127.0.0.1']))
    expect(await resolved(policy(['10.0.0.0/8']), 'localhost')).toMatch(
      /^localhost is not allowed by PGA_INSTANCE_HOSTS_ALLOW/,
    )
  })

  it('with globs only: the name must match, and literal addresses are refused', async () => {
    const p = policy(['local*', '*.db.internal'])
    expect(written(p, 'localhost')).toBe('allowed')
    expect(written(p, 'pg1.eu.db.internal')).toBe('allowed')
    expect(written(p, 'db.internal')).toMatch(/not allowed/)
    expect(written(p, 'example.com')).toMatch(/not allowed/)
    expect(written(p, '127.0.0.1')).toMatch(/not allowed/)
    expect(await resolved(p, 'localhost')).toEqual(expect.arrayContaining(['127.0.0.1']))
  })

  it('a deny wins over an allow, for names and for their addresses', async () => {
    expect(written(policy(['*.db.internal'], ['bad.db.internal']), 'bad.db.internal')).toContain(
      'refused by PGA_INSTANCE_HOSTS_DENY',
    )
    expect(await resolved(policy(['local*'], ['127.0.0.0/8', '::1']), 'localhost')).toMatch(
      /refused by PGA_INSTANCE_HOSTS_DENY$/,
    )
  })
})

describe('what a failed connection may say', () => {
  it('the first bytes must be able to start a PostgreSQL answer', () => {
    expect(looksLikePostgres(Buffer.from('N'))).toBe(true)
    expect(looksLikePostgres(Buffer.from('S'))).toBe(true)
    expect(looksLikePostgres(Buffer.from([0x52, 0, 0, 0, 8, 0, 0, 0, 0]))).toBe(true)
    // Too short to judge: the deadline decides.
    expect(looksLikePostgres(Buffer.from([0x52, 0, 0]))).toBe(true)
    expect(looksLikePostgres(Buffer.from('HTTP/1.1 400 Bad Request\r\n'))).toBe(false)
    // An SSH banner starts with 'S', an error line with 'E', a Redis error with '-'.
    expect(looksLikePostgres(Buffer.from('SSH-2.0-OpenSSH_9.6\r\n'))).toBe(false)
    expect(looksLikePostgres(Buffer.from('ERROR unknown command\r\n'))).toBe(false)
    expect(looksLikePostgres(Buffer.from('-ERR unknown command\r\n'))).toBe(false)
    expect(looksLikePostgres(Buffer.from('NO AUTH\r\n'))).toBe(false)
  })

  const target = {
    host: 'db.example.com',
    port: 5432,
    database: 'app',
    username: 'mon',
    sslmode: 'verify-full' as const,
  }

  it('a TLS failure is named in our words, not with the certificate’s names', () => {
    const altname = Object.assign(
      new Error(
        "Hostname/IP does not match certificate's altnames: Host: db.example.com. is not in the cert's altnames: DNS:secret-internal.corp",
      ),
      { code: 'ERR_TLS_CERT_ALTNAME_INVALID' },
    )
    expect(classifyConnectionError(altname, target)).toEqual({
      reason: 'tls',
      detail:
        'TLS with db.example.com:5432 failed (sslmode verify-full): the certificate does not name this host',
    })
    const unknown = Object.assign(
      new Error('Client network socket disconnected before secure TLS connection was established'),
      {
        code: 'ECONNRESET',
      },
    )
    expect(classifyConnectionError(unknown, target).detail).toBe(
      'TLS with db.example.com:5432 failed (sslmode verify-full): the server closed the connection during the TLS handshake',
    )
  })

  it('an unclassified error shows its code only when it is one of ours, Node’s or an SQLSTATE', () => {
    const code = (value: string) =>
      classifyConnectionError(Object.assign(new Error('x'), { code: value }), target).detail
    expect(code('EHOSTUNREACH')).toBe('connection to db.example.com:5432 failed (EHOSTUNREACH)')
    expect(code('CONNECTION_CLOSED')).toBe('connection to db.example.com:5432 failed (CONNECTION_CLOSED)')
    expect(code('53300')).toBe('connection to db.example.com:5432 failed (53300)')
    // A peer that answered with an error response of its own chose this text.
    expect(code('OpenSSH_9.6p1 Ubuntu')).toBe('connection to db.example.com:5432 failed')
  })

  it('a refused host is its own reason, with the policy’s detail', () => {
    expect(classifyConnectionError(new HostNotAllowedError('x is 10.0.0.0/8, refused by y'), target)).toEqual(
      {
        reason: 'host_not_allowed',
        detail: 'x is 10.0.0.0/8, refused by y',
      },
    )
  })
})
