// SQL of identity providers and of the users they vouch for. Nothing else in src/auth/sso
// touches the tables.
import type { Db } from '../../platform/db/database.ts'
import { isoTimestamp } from '../../platform/db/database.ts'
import type { Role } from '../permissions.ts'
import { type UserWithSecret, userColumns } from '../users.ts'
import type { IdentityProvider, ProviderType, SyncReport } from './types.ts'

const columns = `id::text, name, type, display_name as "displayName", enabled, settings,
  secrets_enc as "secretsEnc", role_mapping as "roleMapping", strict_mapping as strict,
  default_role as "defaultRole", auto_provision as "autoProvision", linking,
  trust_provider_mfa as "trustProviderMfa", sync, last_sync as "lastSync", managed_by as "managedBy",
  ${isoTimestamp('created_at')} as "createdAt", ${isoTimestamp('updated_at')} as "updatedAt"`

export type ProviderRow = Omit<IdentityProvider, 'id' | 'createdAt' | 'updatedAt' | 'lastSync'>

export async function listProviders(db: Db): Promise<IdentityProvider[]> {
  return db.unsafe<IdentityProvider[]>(`select ${columns} from auth_identity_providers order by name`)
}

export async function findProvider(db: Db, name: string, options: { forUpdate?: boolean } = {}) {
  const [row] = await db.unsafe<IdentityProvider[]>(
    `select ${columns} from auth_identity_providers where name = $1 ${options.forUpdate ? 'for update' : ''}`,
    [name],
  )
  return row ?? null
}

/** Enabled providers of a type, by name (sign-in). */
export async function findEnabledProvider<T extends ProviderType>(
  db: Db,
  name: string,
  type: T,
): Promise<IdentityProvider<T> | null> {
  const [row] = await db.unsafe<IdentityProvider<T>[]>(
    `select ${columns} from auth_identity_providers where name = $1 and type = $2 and enabled`,
    [name, type],
  )
  return row ?? null
}

export async function insertProvider(db: Db, row: ProviderRow & { id: string }): Promise<IdentityProvider> {
  const [created] = await db.unsafe<IdentityProvider[]>(
    `insert into auth_identity_providers (id, name, type, display_name, enabled, settings, secrets_enc,
       role_mapping, strict_mapping, default_role, auto_provision, linking, trust_provider_mfa, sync, managed_by)
     values ($1, $2, $3, $4, $5, $6::jsonb, $7, $8::jsonb, $9, $10, $11, $12::jsonb, $13, $14::jsonb, $15)
     on conflict (name) do nothing
     returning ${columns}`,
    [
      row.id,
      row.name,
      row.type,
      row.displayName,
      row.enabled,
      row.settings as never,
      row.secretsEnc,
      row.roleMapping as never,
      row.strict,
      row.defaultRole,
      row.autoProvision,
      row.linking as never,
      row.trustProviderMfa,
      row.sync as never,
      row.managedBy,
    ],
  )
  return created as IdentityProvider
}

export async function updateProvider(db: Db, id: string, row: ProviderRow): Promise<IdentityProvider> {
  const [updated] = await db.unsafe<IdentityProvider[]>(
    `update auth_identity_providers set display_name = $2, enabled = $3, settings = $4::jsonb, secrets_enc = $5,
       role_mapping = $6::jsonb, strict_mapping = $7, default_role = $8, auto_provision = $9, linking = $10::jsonb,
       trust_provider_mfa = $11, sync = $12::jsonb, managed_by = $13, updated_at = now()
     where id::text = $1
     returning ${columns}`,
    [
      id,
      row.displayName,
      row.enabled,
      row.settings as never,
      row.secretsEnc,
      row.roleMapping as never,
      row.strict,
      row.defaultRole,
      row.autoProvision,
      row.linking as never,
      row.trustProviderMfa,
      row.sync as never,
      row.managedBy,
    ],
  )
  return updated as IdentityProvider
}

export async function deleteProvider(db: Db, id: string): Promise<void> {
  await db`delete from auth_identity_providers where id::text = ${id}`
}

export async function recordSyncReport(db: Db, id: string, report: SyncReport): Promise<void> {
  await db`update auth_identity_providers set last_sync = ${db.json(report as never)} where id::text = ${id}`
}

/** LDAP providers with sync on whose last sync is older than their interval. */
export async function providersDueForSync(db: Db): Promise<IdentityProvider<'ldap'>[]> {
  return db.unsafe<IdentityProvider<'ldap'>[]>(
    `select ${columns} from auth_identity_providers
      where type = 'ldap' and enabled and (sync->>'enabled')::boolean
        and (last_sync is null
             or (last_sync->>'finishedAt')::timestamptz
                < now() - make_interval(mins => (sync->>'intervalMinutes')::int))
      order by name`,
  )
}

// Users vouched for by a provider ---------------------------------------------------------------

export type ProviderUser = UserWithSecret & { externalId: string | null; identityProvider: string | null }
const userWithLink = `${userColumns}, password_hash as "passwordHash", token_version as "tokenVersion",
  external_id as "externalId"`

export async function findUserByExternalId(db: Db, provider: string, externalId: string) {
  const [row] = await db.unsafe<ProviderUser[]>(
    `select ${userWithLink} from auth_users where identity_provider = $1 and external_id = $2 for update`,
    [provider, externalId],
  )
  return row ?? null
}

export async function findUserByEmailForUpdate(db: Db, email: string) {
  const [row] = await db.unsafe<ProviderUser[]>(
    `select ${userWithLink} from auth_users where email = $1 for update`,
    [email],
  )
  return row ?? null
}

export async function emailTaken(db: Db, email: string, exceptUserId: string): Promise<boolean> {
  const [row] = await db`select 1 from auth_users where email = ${email} and id::text <> ${exceptUserId}`
  return !!row
}

export async function insertProviderUser(
  db: Db,
  user: {
    email: string
    displayName: string | null
    role: Role
    source: ProviderType
    provider: string
    externalId: string
  },
): Promise<ProviderUser | null> {
  const [row] = await db.unsafe<ProviderUser[]>(
    `insert into auth_users (email, display_name, role, source, identity_provider, external_id)
     values ($1, $2, $3, $4, $5, $6)
     on conflict do nothing
     returning ${userWithLink}`,
    [user.email, user.displayName, user.role, user.source, user.provider, user.externalId],
  )
  return row ?? null
}

export async function linkUser(db: Db, userId: string, provider: string, externalId: string) {
  await db`update auth_users set identity_provider = ${provider}, external_id = ${externalId}, updated_at = now()
            where id::text = ${userId}`
}

export async function updateUserProfile(
  db: Db,
  userId: string,
  change: { email: string; displayName: string | null; role: Role },
) {
  await db`update auth_users set email = ${change.email}, display_name = ${change.displayName},
                                role = ${change.role}, updated_at = now()
            where id::text = ${userId}`
}

export async function recordLogin(db: Db, userId: string) {
  await db`update auth_users set last_login_at = now() where id::text = ${userId}`
}

export type LinkedUser = {
  id: string
  email: string
  displayName: string | null
  role: Role
  disabled: boolean
  externalId: string
}

/** Every user a provider vouches for (the sync compares them with the directory). */
export async function usersOfProvider(db: Db, provider: string): Promise<LinkedUser[]> {
  return db<LinkedUser[]>`
    select id::text, email, display_name as "displayName", role, disabled_at is not null as disabled,
           external_id as "externalId"
      from auth_users where identity_provider = ${provider} order by email`
}

export async function setUserDisabled(db: Db, userId: string): Promise<void> {
  await db`update auth_users set disabled_at = coalesce(disabled_at, now()), updated_at = now()
            where id::text = ${userId}`
}

/** Disables every user of a provider (the provider was deleted); returns their ids. */
export async function disableUsersOfProvider(db: Db, provider: string): Promise<string[]> {
  return (
    await db<{ id: string }[]>`
      update auth_users set disabled_at = now(), updated_at = now()
       where identity_provider = ${provider} and disabled_at is null
       returning id::text`
  ).map((r) => r.id)
}
