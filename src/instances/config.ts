// The instances section of the configuration: which hosts the service may connect to on behalf of
// a monitored instance (host-policy.ts applies them).
import { defineVariables, Expected, type ParsedVariables } from '../config-kit.ts'
import { type HostPolicySettings, parseHostRule } from './host-policy.ts'

/** "10.0.0.0/8, fd00::/8, *.db.internal": CIDR blocks, addresses and host name globs, normalised. */
const hostRuleList = {
  parse(value: string): string[] | Expected {
    const items = value
      .split(',')
      .map((part) => part.trim())
      .filter(Boolean)
    const rules = items.map(parseHostRule).filter((rule) => rule !== null)
    if (rules.length < items.length)
      return new Expected(
        'a comma-separated list of CIDR blocks, IP addresses and host name globs (*.db.internal)',
      )
    return rules.map((rule) => rule.text)
  },
}

export const instanceVariables = defineVariables({
  PGA_INSTANCE_HOSTS_ALLOW: {
    parser: hostRuleList,
    default: '',
    example: '10.0.0.0/8,fd00::/8,*.db.internal',
    doc: 'Where monitored instances may be: CIDR blocks, addresses and host name globs (`*` matches any characters, dots included). Set: a host must match by name, or every address its name resolves to must be in a block. Empty: any host not denied. Applies to the connection test, the collector and backups.',
  },
  PGA_INSTANCE_HOSTS_DENY: {
    parser: hostRuleList,
    default: '',
    example: '127.0.0.0/8,::1,*.corp.example.com',
    doc: 'Hosts never connected to, in the same forms; a deny wins over an allow. Added to the built-in rules, which always apply: link-local 169.254.0.0/16 and fe80::/10, cloud metadata (169.254.169.254, fd00:ec2::254, 100.100.100.200, 168.63.129.16, metadata.google.internal) and the unspecified 0.0.0.0/8 and ::. Names are checked as written and every address they resolve to is checked before the connection, which then goes to the checked address.',
  },
})

export type InstancesConfig = { hosts: HostPolicySettings }

export function instancesConfig(e: ParsedVariables<typeof instanceVariables>): InstancesConfig {
  return { hosts: { allow: e.PGA_INSTANCE_HOSTS_ALLOW, deny: e.PGA_INSTANCE_HOSTS_DENY } }
}
