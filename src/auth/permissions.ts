// Roles and what they may do. Every route declares one permission (or is public); the matrix below
// is the whole policy, and docs/AUTHENTICATION.md prints it.
/** Roles of users (and of the API keys acting for them). */
export const roles = ['admin', 'operator', 'viewer', 'auditor'] as const
export type Role = (typeof roles)[number]
/** Roles an API key may have: a user's, or `agent` (bound to one instance, pushes its host metrics). */
export const apiKeyRoles = [...roles, 'agent'] as const
export type ApiKeyRole = (typeof apiKeyRoles)[number]

export const permissions = [
  // The caller's own account: profile, password, sessions.
  'account:self',
  'instances:read',
  'instances:write',
  'metrics:read',
  'metrics:read_query_text',
  'audit:read',
  'audit:manage',
  'keys:manage',
  'users:read',
  'users:manage',
  // Backups: see history and recovery status; run backups, verify, schedules; restore; repositories.
  'backups:read',
  'backups:run',
  'backups:restore',
  'backups:manage',
  // Identity providers (LDAP, SAML, OIDC): their settings and role mappings, tests and syncs.
  'identity_providers:read',
  'identity_providers:manage',
  // Push host metrics (pganalytics agent) for the one instance the API key is bound to.
  'agent:push',
] as const
export type Permission = (typeof permissions)[number]

export const rolePermissions: Record<ApiKeyRole, readonly Permission[]> = {
  admin: permissions,
  // Runs the monitoring: instances, metrics with query texts, agent keys for the instances.
  operator: [
    'account:self',
    'instances:read',
    'instances:write',
    'metrics:read',
    'metrics:read_query_text',
    'backups:read',
    'backups:run',
    'agent:push',
  ],
  // Reads dashboards: metrics without query texts.
  viewer: ['account:self', 'instances:read', 'metrics:read', 'backups:read'],
  // Reads and verifies the audit trail and who has access; changes nothing.
  auditor: [
    'account:self',
    'audit:read',
    'users:read',
    'instances:read',
    'backups:read',
    'identity_providers:read',
  ],
  // An API key of `pganalytics agent` on a database host: pushes that instance's host metrics only.
  agent: ['agent:push'],
}

export const roleMay = (role: ApiKeyRole, permission: Permission) =>
  rolePermissions[role].includes(permission)
