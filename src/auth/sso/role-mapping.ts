// From what a provider says about a user to one of our roles: ordered rules, the first match wins
// (LDAP: a group DN the user is in, directly or nested; SAML: an attribute value; OIDC: a claim
// value). No match: the provider's default role, or no role at all with strict mapping (the user
// cannot sign in).
import type { Role } from '../permissions.ts'
import type { ExternalIdentity, IdentityProvider, RoleRule } from './types.ts'

/** A DN compared the way directories do: case-insensitive, no spaces around separators. */
export function normalizeDn(dn: string): string {
  return dn
    .split(/(?<!\\),/)
    .map((rdn) =>
      rdn
        .split(/(?<!\\)=/)
        .map((part) => part.trim())
        .join('='),
    )
    .join(',')
    .toLowerCase()
}

function ruleMatches(rule: RoleRule, identity: ExternalIdentity, groups: Set<string>): boolean {
  if ('group' in rule) return groups.has(normalizeDn(rule.group))
  const name = 'attribute' in rule ? rule.attribute : rule.claim
  return (identity.claims[name] ?? []).includes(rule.value)
}

/** The role of a signed-in identity, or null when strict mapping finds no rule. */
export function mapRole(
  provider: Pick<IdentityProvider, 'roleMapping' | 'strict' | 'defaultRole'>,
  identity: ExternalIdentity,
): { role: Role | null; rule: number | null } {
  const groups = new Set(identity.groups.map(normalizeDn))
  const index = provider.roleMapping.findIndex((rule) => ruleMatches(rule, identity, groups))
  if (index >= 0) return { role: (provider.roleMapping[index] as RoleRule).role, rule: index }
  return { role: provider.strict ? null : provider.defaultRole, rule: null }
}
