// Accounts: the users table and the admin verbs over it. Every change commits with its audit event;
// changes that should sign a user out (disable, password reset) raise the user's
// token version so every session and token ends on every replica.

import { type AuditContext, recordAuditEvent } from '../audit/events.ts'
import { BadRequestError, ConflictError, NotFoundError } from '../http/errors.ts'
import { type Db, isoTimestamp, withTransaction } from '../platform/db/database.ts'
import { type Argon2Params, hashPassword, type PasswordRules, passwordProblem } from './passwords.ts'
import type { Role } from './permissions.ts'

export type User = {
  id: string
  email: string
  displayName: string | null
  role: Role
  source: 'local' | 'ldap' | 'saml' | 'oidc'
  /** The identity provider (by name) that vouches for the user, if any. */
  identityProvider: string | null
  disabled: boolean
  mfaEnabled: boolean
  lastLoginAt: string | null
  createdAt: string
}

export type UserWithSecret = User & { passwordHash: string | null; tokenVersion: number }

export type AccountSettings = { argon2: Argon2Params; password: PasswordRules }

export const userColumns = `id::text, email, display_name as "displayName", role, source,
  identity_provider as "identityProvider", disabled_at is not null as disabled, mfa_enabled_at is not null as "mfaEnabled",
  ${isoTimestamp('last_login_at')} as "lastLoginAt", ${isoTimestamp('created_at')} as "createdAt"`

export const publicUser = ({ passwordHash: _, tokenVersion: __, ...user }: UserWithSecret): User => user

export async function findUserByEmail(db: Db, email: string): Promise<UserWithSecret | null> {
  const [row] = await db.unsafe<UserWithSecret[]>(
    `select ${userColumns}, password_hash as "passwordHash", token_version as "tokenVersion"
       from auth_users where email = $1`,
    [email.trim().toLowerCase()],
  )
  return row ?? null
}

export async function findUser(db: Db, id: string): Promise<UserWithSecret | null> {
  const [row] = await db.unsafe<UserWithSecret[]>(
    `select ${userColumns}, password_hash as "passwordHash", token_version as "tokenVersion"
       from auth_users where id::text = $1`,
    [id],
  )
  return row ?? null
}

export async function listUsers(db: Db): Promise<User[]> {
  return db.unsafe<User[]>(`select ${userColumns} from auth_users order by email`)
}

export const countUsers = async (db: Db) =>
  Number((await db<{ n: number }[]>`select count(*)::int as n from auth_users`)[0]?.n ?? 0)

/** Refuses a password the rules do not allow, naming the field. */
export function checkNewPassword(password: string, rules: PasswordRules, email: string, field = 'password') {
  const problem = passwordProblem(password, rules, email)
  if (problem)
    throw new BadRequestError('weak_password', `The password ${problem}.`, [
      { path: field, message: problem },
    ])
}

export type NewUser = { email: string; displayName?: string | undefined; role: Role; password: string }

/** Creates a local user (in the caller's transaction when given one). */
export async function createUser(
  db: Db,
  audit: AuditContext,
  input: NewUser,
  settings: AccountSettings,
  eventType = 'user.created',
): Promise<User> {
  const email = input.email.trim().toLowerCase()
  checkNewPassword(input.password, settings.password, email)
  const passwordHash = await hashPassword(input.password, settings.argon2)
  return withTransaction(db, async (tx) => {
    const [row] = await tx.unsafe<User[]>(
      `insert into auth_users (email, display_name, role, password_hash, password_changed_at)
       values ($1, $2, $3, $4, now())
       on conflict (email) do nothing
       returning ${userColumns}`,
      [email, input.displayName ?? null, input.role, passwordHash],
    )
    if (!row) throw new ConflictError('email_taken', `A user with the email ${email} already exists.`)
    await recordAuditEvent(tx, audit, {
      eventType,
      resourceType: 'user',
      resourceId: row.id,
      action: 'create',
      newValues: row,
    })
    return row
  })
}

export type UserChange = {
  displayName?: string | null | undefined
  role?: Role | undefined
  disabled?: boolean | undefined
}

/** Changes role, name or status. Returns the user and whether their sessions must end. */
export async function updateUser(
  db: Db,
  audit: AuditContext,
  id: string,
  change: UserChange,
): Promise<{ user: User; endSessions: boolean }> {
  if (audit.actor.type === 'user' && audit.actor.id === id && (change.role || change.disabled))
    throw new BadRequestError(
      'cannot_change_own_access',
      'Administrators cannot change their own role or disable themselves.',
    )
  return withTransaction(db, async (tx) => {
    const [old] = await tx.unsafe<User[]>(
      `select ${userColumns} from auth_users where id::text = $1 for update`,
      [id],
    )
    if (!old) throw new NotFoundError(`User ${id} does not exist.`)
    const [user] = await tx.unsafe<User[]>(
      `update auth_users
          set display_name = case when $2 then $3 else display_name end,
              role = coalesce($4, role),
              disabled_at = case when $5::boolean is null then disabled_at
                                 when $5 then coalesce(disabled_at, now()) else null end,
              updated_at = now()
        where id::text = $1
        returning ${userColumns}`,
      [
        id,
        change.displayName !== undefined,
        change.displayName ?? null,
        change.role ?? null,
        change.disabled ?? null,
      ],
    )
    const updated = user as User
    await recordAuditEvent(tx, audit, {
      eventType: updated.disabled && !old.disabled ? 'user.disabled' : 'user.updated',
      resourceType: 'user',
      resourceId: id,
      action: 'update',
      changes: Object.fromEntries(
        (['displayName', 'role', 'disabled'] as const)
          .filter((k) => old[k] !== updated[k])
          .map((k) => [k, { old: old[k], new: updated[k] }]),
      ),
      oldValues: old,
      newValues: updated,
    })
    // A new role applies from the next request (roles are read per request, not from the token).
    const endSessions = updated.disabled && !old.disabled
    return { user: updated, endSessions }
  })
}

/** Sets a new password (admin reset or the user's own change) and records it. */
export async function setPassword(
  db: Db,
  audit: AuditContext,
  user: Pick<User, 'id' | 'email'>,
  password: string,
  settings: AccountSettings,
  eventType: 'user.password_reset' | 'auth.password_changed',
  field = 'password',
): Promise<void> {
  checkNewPassword(password, settings.password, user.email, field)
  const passwordHash = await hashPassword(password, settings.argon2)
  await withTransaction(db, async (tx) => {
    await tx`update auth_users set password_hash = ${passwordHash}, password_changed_at = now(), updated_at = now()
              where id::text = ${user.id}`
    await recordAuditEvent(tx, audit, {
      eventType,
      resourceType: 'user',
      resourceId: user.id,
      action: 'update',
      changes: { changed: 'the password' },
    })
  })
}
