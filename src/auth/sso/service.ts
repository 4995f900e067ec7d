// Service verbs of identity providers for administrators: create, read, update, delete and test,
// each change with its audit event in the same transaction. Settings are validated by the type's
// schema and adapter; secrets inside them are split off, encrypted by the keyring (bound to the
// provider's row) and never returned. Providers declared in PGA_IDENTITY_PROVIDERS_FILE are
// read-only here. Deleting a provider disables the users it vouched for and ends their sessions.
import { z } from '@hono/zod-openapi'
import { recordAuditEvent } from '../../audit/events.ts'
import { ConflictError, type FieldProblem, NotFoundError, ValidationError } from '../../http/errors.ts'
import { fieldProblems } from '../../http/openapi.ts'
import { withTransaction } from '../../platform/db/database.ts'
import { kindOf, providerKinds } from './providers.ts'
import * as repo from './repo.ts'
import type { CreateIdentityProvider, UpdateIdentityProvider } from './schemas.ts'
import type { IdentityProvider, ProviderType, RoleRule, SettingsOf, SsoContext, TestReport } from './types.ts'
import { endpointsOf } from './urls.ts'

const secretsField = (id: string) => ({ table: 'auth_identity_providers', column: 'secrets_enc', rowKey: id })

/** The provider's secrets, decrypted (bindPassword, clientSecret, spPrivateKey). */
export async function secretsOf(ctx: Pick<SsoContext, 'keyring'>, provider: IdentityProvider) {
  if (!provider.secretsEnc) return {} as Record<string, string>
  return JSON.parse(await ctx.keyring().decrypt(provider.secretsEnc, secretsField(provider.id))) as Record<
    string,
    string
  >
}

function parseOrThrow<T>(schema: z.ZodType<T>, value: unknown, path: string): T {
  const result = schema.safeParse(value)
  if (!result.success)
    throw new ValidationError(
      fieldProblems('json', result.error.issues).map((p) => ({
        ...p,
        path: p.path.replace(/^body/, `body.${path}`),
      })),
    )
  return result.data
}

/** Validates settings as a whole, splits the secrets off, completes and checks them. */
async function settle<T extends ProviderType>(
  ctx: SsoContext,
  type: T,
  raw: Record<string, unknown>,
  changed: Record<string, unknown>,
): Promise<{ settings: SettingsOf[T]; secrets: Record<string, string> }> {
  const kind = kindOf(type)
  const parsed = parseOrThrow(kind.settings, raw, 'settings') as Record<string, unknown>
  const secrets: Record<string, string> = {}
  for (const field of kind.secretFields) {
    if (typeof parsed[field] === 'string') secrets[field] = parsed[field] as string
    delete parsed[field]
  }
  let settings = parsed as SettingsOf[T]
  if (kind.adapter.prepare) settings = await kind.adapter.prepare(settings, ctx.config, changed)
  const problems: FieldProblem[] = kind.adapter.check(settings, secrets, ctx.config)
  if (problems.length > 0) throw new ValidationError(problems, 'The provider settings are not usable.')
  return { settings, secrets }
}

const parseRules = (type: ProviderType, rules: unknown[]) =>
  parseOrThrow(z.array(kindOf(type).rule), rules, 'roleMapping') as RoleRule[]

/** What the API shows: settings without secrets, which secrets are set, the URLs to use. */
export function presentProvider(provider: IdentityProvider, ctx: Pick<SsoContext, 'config'>) {
  const { secretsEnc, settings, ...rest } = provider
  const { idpMetadataXml: _, ...shown } = settings as Record<string, unknown>
  return {
    ...rest,
    settings: shown,
    writeOnlySet: secretsEnc ? [...kindOf(provider.type).secretFields] : [],
    endpoints: endpointsOf(provider, ctx.config),
  }
}

async function load(ctx: Pick<SsoContext, 'db'>, name: string): Promise<IdentityProvider> {
  const provider = await repo.findProvider(ctx.db, name)
  if (!provider) throw new NotFoundError(`No identity provider named ${name}.`, 'identity_provider_not_found')
  return provider
}

function refuseFileManaged(provider: IdentityProvider, options: { fromFile?: boolean }) {
  if (provider.managedBy === 'file' && !options.fromFile)
    throw new ConflictError(
      'identity_provider_managed_by_file',
      `${provider.name} is declared in PGA_IDENTITY_PROVIDERS_FILE: change it there.`,
    )
}

export async function listProviders(ctx: SsoContext) {
  return (await repo.listProviders(ctx.db)).map((p) => presentProvider(p, ctx))
}

export async function getProvider(ctx: SsoContext, name: string) {
  return presentProvider(await load(ctx, name), ctx)
}

export async function createProvider(
  ctx: SsoContext,
  input: CreateIdentityProvider,
  options: { fromFile?: boolean } = {},
) {
  const raw = input.settings as Record<string, unknown>
  const { settings, secrets } = await settle(ctx, input.type, raw, raw)
  const id = crypto.randomUUID()
  const secretsEnc =
    Object.keys(secrets).length > 0
      ? await ctx.keyring().encrypt(JSON.stringify(secrets), secretsField(id))
      : null
  const created = await withTransaction(ctx.db, async (tx) => {
    const row = await repo.insertProvider(tx, {
      id,
      name: input.name,
      type: input.type,
      displayName: input.displayName ?? input.name,
      enabled: input.enabled,
      settings,
      secretsEnc,
      roleMapping: input.roleMapping as RoleRule[],
      strict: input.strict,
      defaultRole: input.defaultRole,
      autoProvision: input.autoProvision,
      linking: input.linking,
      trustProviderMfa: input.trustProviderMfa,
      sync: input.type === 'ldap' ? input.sync : {},
      managedBy: options.fromFile ? 'file' : 'api',
    })
    if (!row)
      throw new ConflictError('identity_provider_exists', `An identity provider named ${input.name} exists.`)
    await recordAuditEvent(tx, ctx.audit, {
      eventType: 'identity_provider.created',
      resourceType: 'identity_provider',
      resourceId: input.name,
      action: 'create',
      newValues: presentProvider(row, ctx),
    })
    return row
  })
  return presentProvider(created, ctx)
}

/** Applies a change (settings merged, secrets set or removed) after validating the whole. */
export async function updateProvider(
  ctx: SsoContext,
  name: string,
  change: UpdateIdentityProvider,
  options: { fromFile?: boolean } = {},
) {
  const current = await load(ctx, name)
  refuseFileManaged(current, options)
  const secretsBefore = await secretsOf(ctx, current)
  const raw = { ...secretsBefore, ...(current.settings as Record<string, unknown>), ...change.settings }
  for (const [key, value] of Object.entries(raw)) if (value === null) delete raw[key]
  const { settings, secrets } = await settle(ctx, current.type, raw, change.settings ?? {})
  const secretsChanged = JSON.stringify(secrets) !== JSON.stringify(secretsBefore)
  const secretsEnc = !secretsChanged
    ? current.secretsEnc
    : Object.keys(secrets).length > 0
      ? await ctx.keyring().encrypt(JSON.stringify(secrets), secretsField(current.id))
      : null
  const updated = await withTransaction(ctx.db, async (tx) => {
    const locked = await repo.findProvider(tx, name, { forUpdate: true })
    if (!locked) throw new NotFoundError(`No identity provider named ${name}.`, 'identity_provider_not_found')
    const row = await repo.updateProvider(tx, current.id, {
      ...locked,
      displayName: change.displayName ?? locked.displayName,
      enabled: change.enabled ?? locked.enabled,
      settings,
      secretsEnc,
      roleMapping: change.roleMapping ? parseRules(locked.type, change.roleMapping) : locked.roleMapping,
      strict: change.strict ?? locked.strict,
      defaultRole: change.defaultRole ?? locked.defaultRole,
      autoProvision: change.autoProvision ?? locked.autoProvision,
      linking: change.linking ?? locked.linking,
      trustProviderMfa: change.trustProviderMfa ?? locked.trustProviderMfa,
      sync: locked.type === 'ldap' && change.sync ? change.sync : locked.sync,
      managedBy: options.fromFile ? 'file' : locked.managedBy,
    })
    await recordAuditEvent(tx, ctx.audit, {
      eventType: 'identity_provider.updated',
      resourceType: 'identity_provider',
      resourceId: name,
      action: 'update',
      changes: {
        fields: Object.keys(change).sort(),
        ...(secretsChanged ? { writeOnlyChanged: Object.keys({ ...secrets, ...secretsBefore }).sort() } : {}),
      },
      oldValues: presentProvider(locked, ctx),
      newValues: presentProvider(row, ctx),
    })
    return row
  })
  return presentProvider(updated, ctx)
}

/** Removes a provider; the users it vouched for are disabled and signed out. */
export async function deleteProvider(ctx: SsoContext, name: string, options: { fromFile?: boolean } = {}) {
  const disabled = await withTransaction(ctx.db, async (tx) => {
    const provider = await repo.findProvider(tx, name, { forUpdate: true })
    if (!provider)
      throw new NotFoundError(`No identity provider named ${name}.`, 'identity_provider_not_found')
    refuseFileManaged(provider, options)
    const users = await repo.disableUsersOfProvider(tx, name)
    for (const userId of users)
      await recordAuditEvent(tx, ctx.audit, {
        eventType: 'user.disabled',
        resourceType: 'user',
        resourceId: userId,
        action: 'update',
        changes: { reason: `identity provider ${name} deleted` },
      })
    await repo.deleteProvider(tx, provider.id)
    await recordAuditEvent(tx, ctx.audit, {
      eventType: 'identity_provider.deleted',
      resourceType: 'identity_provider',
      resourceId: name,
      action: 'delete',
      changes: { usersDisabled: users.length },
      oldValues: presentProvider(provider, ctx),
    })
    return users
  })
  for (const userId of disabled) await ctx.sessions.revokeAllOf(userId, 'identity_provider_deleted')
  return { usersDisabled: disabled.length }
}

/** Tests connectivity and settings (LDAP: optionally a sign-in); records that it was run. */
export async function testProvider(
  ctx: SsoContext,
  name: string,
  input: { username?: string | undefined; password?: string | undefined },
): Promise<TestReport> {
  const provider = await load(ctx, name)
  const adapter = providerKinds[provider.type].adapter as {
    test: (...args: unknown[]) => Promise<TestReport>
  }
  const report = await adapter.test(ctx, provider, await secretsOf(ctx, provider), input)
  await recordAuditEvent(ctx.db, ctx.audit, {
    eventType: 'identity_provider.tested',
    resourceType: 'identity_provider',
    resourceId: name,
    action: 'execute',
    outcome: report.ok ? 'success' : 'failure',
    changes: {
      steps: report.steps.map((s) => `${s.step}: ${s.ok ? 'ok' : 'failed'}`),
      username: input.username,
    },
  })
  return report
}

/** Enabled providers for a login page: name, type, display name and where to start. */
export async function publicProviders(ctx: Pick<SsoContext, 'db'>) {
  return (await repo.listProviders(ctx.db))
    .filter((p) => p.enabled)
    .map((p) => ({
      name: p.name,
      type: p.type,
      displayName: p.displayName,
      loginUrl: kindOf(p.type).adapter.loginPath(p.name),
    }))
}
