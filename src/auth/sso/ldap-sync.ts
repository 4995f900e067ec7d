// Directory sync for LDAP providers: reads every user the provider's filter finds, then updates
// the roles, emails and names of the users it vouches for and disables those no longer found (or,
// with strict mapping, no longer mapped), ending their sessions. One replica at a time per
// provider (a lease), on a schedule or on request. A sync that could not read everything (server
// down, size limit, timeout) or found fewer of the known users than the provider's safe fraction
// changes nothing and says so: a wrong filter or a half answer must never disable everyone.
import { type AuditContext, recordAuditEvent } from '../../audit/events.ts'
import { BadRequestError, ConflictError, NotFoundError } from '../../http/errors.ts'
import { withTransaction } from '../../platform/db/database.ts'
import {
  bindService,
  DirectoryUnavailableError,
  directoryUserOf,
  groupsOf,
  search,
  userAttributes,
  withDirectory,
} from './ldap-client.ts'
import * as repo from './repo.ts'
import { mapRole } from './role-mapping.ts'
import { secretsOf } from './service.ts'
import type { ExternalIdentity, IdentityProvider, SsoContext, SyncReport, SyncSettings } from './types.ts'

const leaseTtlMs = 10 * 60_000

/** Every user the directory lists for the provider, with their groups, by external id. */
async function readDirectory(ctx: SsoContext, provider: IdentityProvider<'ldap'>) {
  const settings = provider.settings
  const secrets = await secretsOf(ctx, provider)
  return withDirectory(settings, ctx.config.ldapTimeoutMs, async (directory) => {
    await bindService(directory, secrets)
    const entries = await search(
      directory,
      settings.userBaseDn,
      settings.userFilter.replaceAll('{username}', '*'),
      {
        attributes: userAttributes(settings),
        paged: true,
        step: 'the user listing',
      },
    )
    const found = new Map<string, ExternalIdentity>()
    for (const entry of entries) {
      const user = directoryUserOf(entry, settings)
      found.set(user.externalId, {
        externalId: user.externalId,
        username: user.username,
        email: user.email,
        emailVerified: settings.emailsVerified,
        displayName: user.displayName,
        groups: await groupsOf(directory, entry, user.username ?? ''),
        claims: {},
        mfaAsserted: false,
      })
    }
    return found
  })
}

/** Applies what the directory says to the provider's users, in one transaction. */
async function applyDirectory(
  ctx: SsoContext,
  audit: AuditContext,
  provider: IdentityProvider<'ldap'>,
  known: repo.LinkedUser[],
  found: Map<string, ExternalIdentity>,
) {
  const disabled: string[] = []
  let updated = 0
  await withTransaction(ctx.db, async (tx) => {
    for (const user of known.filter((u) => !u.disabled)) {
      const identity = found.get(user.externalId)
      const role = identity ? mapRole(provider, identity).role : null
      if (!identity || !role) {
        await repo.setUserDisabled(tx, user.id)
        await recordAuditEvent(tx, audit, {
          eventType: 'user.disabled',
          resourceType: 'user',
          resourceId: user.id,
          action: 'update',
          changes: { reason: identity ? 'no role mapping rule matches' : 'removed from the directory' },
        })
        disabled.push(user.id)
        continue
      }
      const email = identity.email?.toLowerCase()
      const next = {
        email: email && !(await repo.emailTaken(tx, email, user.id)) ? email : user.email,
        displayName: identity.displayName ?? user.displayName,
        role,
      }
      const changed = (['email', 'displayName', 'role'] as const).filter((k) => next[k] !== user[k])
      if (changed.length === 0) continue
      await repo.updateUserProfile(tx, user.id, next)
      await recordAuditEvent(tx, audit, {
        eventType: 'user.updated',
        resourceType: 'user',
        resourceId: user.id,
        action: 'update',
        changes: Object.fromEntries(changed.map((k) => [k, { old: user[k], new: next[k] }])),
      })
      updated++
    }
  })
  for (const userId of disabled) await ctx.sessions.revokeAllOf(userId, 'directory_sync')
  return { updated, disabled: disabled.length }
}

/** Runs one sync of a provider now (under its lease) and records the report. */
export async function syncDirectory(ctx: SsoContext, name: string, holder: string): Promise<SyncReport> {
  const provider = await repo.findProvider(ctx.db, name)
  if (!provider) throw new NotFoundError(`No identity provider named ${name}.`, 'identity_provider_not_found')
  if (provider.type !== 'ldap')
    throw new BadRequestError('sync_not_supported', 'Only LDAP providers sync a directory.')
  const ldap = provider as IdentityProvider<'ldap'>
  const lease = await ctx.state.acquireLease(`sso-sync:${name}`, holder, leaseTtlMs)
  if (!lease) throw new ConflictError('sync_in_progress', `A sync of ${name} is running on another replica.`)
  const startedAt = new Date().toISOString()
  const known = await repo.usersOfProvider(ctx.db, name)
  const knownActive = known.filter((u) => !u.disabled).length
  const base = { startedAt, known: knownActive, updated: 0, disabled: 0, returned: 0 }
  let report: SyncReport
  try {
    const found = await readDirectory(ctx, ldap)
    const present = known.filter((u) => !u.disabled && found.has(u.externalId)).length
    const minimum = (ldap.sync as SyncSettings).minReturnedPercent ?? 90
    if (knownActive > 0 && (present * 100) / knownActive < minimum)
      report = {
        ...base,
        status: 'unsafe',
        returned: found.size,
        finishedAt: new Date().toISOString(),
        detail: `found ${present} of ${knownActive} known users (under ${minimum} %): nothing was changed`,
      }
    else
      report = {
        ...base,
        status: 'ok',
        returned: found.size,
        ...(await applyDirectory(ctx, ctx.audit, ldap, known, found)),
        finishedAt: new Date().toISOString(),
      }
  } catch (error) {
    if (!(error instanceof DirectoryUnavailableError)) throw error
    report = {
      ...base,
      status: 'failed',
      finishedAt: new Date().toISOString(),
      detail: `${error.message}: nothing was changed`,
    }
  } finally {
    await ctx.state.releaseLease(lease).catch(() => false)
  }
  await withTransaction(ctx.db, async (tx) => {
    await repo.recordSyncReport(tx, provider.id, report)
    await recordAuditEvent(tx, ctx.audit, {
      eventType: 'identity_provider.synced',
      resourceType: 'identity_provider',
      resourceId: name,
      action: 'execute',
      outcome: report.status === 'ok' ? 'success' : 'failure',
      changes: { ...report },
    })
  })
  return report
}
