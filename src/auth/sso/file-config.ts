// Identity providers declared in PGA_IDENTITY_PROVIDERS_FILE (JSON or YAML), for GitOps and Helm:
// at start-up each declared provider is created or brought in line, and file-managed providers no
// longer declared are removed; unchanged ones are left alone (no audit noise when N replicas
// start). Secrets are never written in the file: {"file": "/run/secrets/x"} or {"env": "VAR"}.
// One replica applies it at a time (a lease); a bad file stops start-up naming the problem.
import { readFileSync } from 'node:fs'
import { z } from '@hono/zod-openapi'
import { parse as parseYaml } from 'yaml'
import { canonicalJson } from '../../platform/canonical-json.ts'
import type { Logger } from '../../platform/log.ts'
import * as repo from './repo.ts'
import { CreateIdentityProviderSchema } from './schemas.ts'
import { createProvider, deleteProvider, secretsOf, updateProvider } from './service.ts'
import { secretFields } from './settings.ts'
import type { IdentityProvider, SsoContext } from './types.ts'

/** The file could not be used: start-up stops with this message. */
export class ProvidersFileError extends Error {
  override name = 'ProvidersFileError'
}

const SecretReference = z.union([
  z.object({ file: z.string().min(1) }).strict(),
  z.object({ env: z.string().regex(/^[A-Za-z_][A-Za-z0-9_]*$/) }).strict(),
])
const FileSchema = z.object({ providers: z.array(z.record(z.string(), z.unknown())).max(100) }).strict()

function readSecret(reference: unknown, where: string, env: Record<string, string | undefined>): string {
  const parsed = SecretReference.safeParse(reference)
  if (!parsed.success)
    throw new ProvidersFileError(
      `${where}: a secret is given as {"file": path} or {"env": NAME}, never inline`,
    )
  if ('file' in parsed.data) {
    try {
      return readFileSync(parsed.data.file, 'utf8').trim()
    } catch (error) {
      throw new ProvidersFileError(`${where}: cannot read ${parsed.data.file}: ${(error as Error).message}`)
    }
  }
  const value = env[parsed.data.env]
  if (!value) throw new ProvidersFileError(`${where}: the environment variable ${parsed.data.env} is not set`)
  return value
}

/** Parses the file and resolves secret references; each entry is a create request. */
export function loadProvidersFile(path: string, env: Record<string, string | undefined>) {
  let document: unknown
  try {
    const text = readFileSync(path, 'utf8')
    document = /\.json$/i.test(path) ? JSON.parse(text) : parseYaml(text)
  } catch (error) {
    throw new ProvidersFileError(
      `PGA_IDENTITY_PROVIDERS_FILE: cannot read ${path}: ${(error as Error).message}`,
    )
  }
  const file = FileSchema.safeParse(document)
  if (!file.success)
    throw new ProvidersFileError(`PGA_IDENTITY_PROVIDERS_FILE: expected {"providers": [...]}`)
  return file.data.providers.map((entry, index) => {
    const where = `PGA_IDENTITY_PROVIDERS_FILE: providers[${index}]`
    const settings = { ...(entry.settings as Record<string, unknown>) }
    const type = entry.type as keyof typeof secretFields
    for (const field of secretFields[type] ?? [])
      if (settings[field] !== undefined)
        settings[field] = readSecret(settings[field], `${where}.settings.${field}`, env)
    const parsed = CreateIdentityProviderSchema.safeParse({ ...entry, settings })
    if (!parsed.success) {
      const issue = parsed.error.issues[0]
      throw new ProvidersFileError(`${where}.${issue?.path.join('.')}: ${issue?.message}`)
    }
    return parsed.data
  })
}

type Declared = ReturnType<typeof loadProvidersFile>[number]

/** The settings a declaration changes (compared with what is stored), with its secrets. */
async function changedSettings(ctx: SsoContext, current: IdentityProvider, declared: Declared) {
  const stored = { ...(current.settings as Record<string, unknown>), ...(await secretsOf(ctx, current)) }
  const wanted = declared.settings as Record<string, unknown>
  const changed: Record<string, unknown> = {}
  for (const key of new Set([...Object.keys(stored), ...Object.keys(wanted)]))
    if (key !== 'idpMetadataXml' || wanted[key] !== undefined)
      if (canonicalJson(stored[key] ?? null) !== canonicalJson(wanted[key] ?? null))
        changed[key] = wanted[key] ?? null
  // Derived from metadata: not compared when the metadata itself did not change.
  if (!('idpMetadataXml' in changed) && !('idpMetadataUrl' in changed) && wanted.idpMetadataUrl)
    for (const key of ['idpMetadataXml', 'idpEntityId', 'idpSsoUrl', 'idpCertificates']) delete changed[key]
  return changed
}

function sameFields(current: IdentityProvider, declared: Declared): boolean {
  const pick = (p: Record<string, unknown>) =>
    canonicalJson([
      p.displayName,
      p.enabled,
      p.roleMapping,
      p.strict,
      p.defaultRole,
      p.autoProvision,
      p.linking,
      p.trustProviderMfa,
      p.sync,
    ])
  return (
    pick(current as unknown as Record<string, unknown>) ===
    pick({
      ...declared,
      displayName: declared.displayName ?? declared.name,
      sync: declared.type === 'ldap' ? declared.sync : {},
    })
  )
}

/** Brings the stored providers in line with the file. */
export async function applyProvidersFile(
  ctx: SsoContext,
  path: string,
  env: Record<string, string | undefined>,
  log: Logger,
): Promise<{ created: string[]; updated: string[]; removed: string[] }> {
  const declared = loadProvidersFile(path, env)
  const outcome = { created: [] as string[], updated: [] as string[], removed: [] as string[] }
  for (const provider of declared) {
    const current = await repo.findProvider(ctx.db, provider.name)
    if (!current) {
      await createProvider(ctx, provider, { fromFile: true })
      outcome.created.push(provider.name)
      continue
    }
    if (current.type !== provider.type)
      throw new ProvidersFileError(
        `PGA_IDENTITY_PROVIDERS_FILE: ${provider.name} exists with type ${current.type}`,
      )
    const settings = await changedSettings(ctx, current, provider)
    if (Object.keys(settings).length === 0 && sameFields(current, provider) && current.managedBy === 'file')
      continue
    if (current.managedBy === 'api')
      log.warn('identity provider now managed by the file', { provider: provider.name })
    const { name: _, type: __, settings: ___, ...fields } = provider
    await updateProvider(ctx, provider.name, { ...fields, settings }, { fromFile: true })
    outcome.updated.push(provider.name)
  }
  const names = new Set(declared.map((p) => p.name))
  for (const stale of (await repo.listProviders(ctx.db)).filter(
    (p) => p.managedBy === 'file' && !names.has(p.name),
  )) {
    await deleteProvider(ctx, stale.name, { fromFile: true })
    outcome.removed.push(stale.name)
  }
  return outcome
}

/** Applies the file once this replica holds the lease (replicas starting together take turns). */
export async function applyProvidersFileWithLease(
  ctx: SsoContext,
  options: { path: string; env: Record<string, string | undefined>; log: Logger; holder: string },
) {
  const deadline = Date.now() + 60_000
  for (;;) {
    const lease = await ctx.state.acquireLease('sso:providers-file', options.holder, 60_000)
    if (lease) {
      try {
        return await applyProvidersFile(ctx, options.path, options.env, options.log)
      } finally {
        await ctx.state.releaseLease(lease).catch(() => false)
      }
    }
    if (Date.now() > deadline)
      throw new ProvidersFileError('PGA_IDENTITY_PROVIDERS_FILE: another replica kept the lease')
    await new Promise((resolve) => setTimeout(resolve, 250))
  }
}
