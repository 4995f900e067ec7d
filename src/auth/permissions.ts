// Roles and what they may do. Every route declares one permission (or is public); the matrix below
// is the whole policy, and docs/AUTHENTICATION.md prints it.
export const roles = ['admin', 'operator', 'viewer', 'auditor'] as const
export type Role = (typeof roles)[number]

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
] as const
export type Permission = (typeof permissions)[number]

export const rolePermissions: Record<Role, readonly Permission[]> = {
  admin: permissions,
  // Runs the monitoring: instances, metrics with query texts.
  operator: [
    'account:self',
    'instances:read',
    'instances:write',
    'metrics:read',
    'metrics:read_query_text',
    'backups:read',
    'backups:run',
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
}

export const roleMay = (role: Role, permission: Permission) => rolePermissions[role].includes(permission)
