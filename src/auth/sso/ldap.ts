// The LDAP / Active Directory adapter: proves a username and password against the directory
// (service-account search then a bind as the user, or a direct bind by DN template), reads the
// user's stable id, email, name and groups, and says what is wrong with a configuration or a
// directory (check, test). An empty password is refused before any bind: many directories
// (Active Directory among them) answer a DN with an empty password as a successful anonymous bind.
import type { Entry } from 'ldapts'
import type { FieldProblem } from '../../http/errors.ts'
import {
  acceptableUsername,
  bindService,
  type Directory,
  directoryUserOf,
  escapeDnValue,
  fillFilter,
  groupsOf,
  SizeLimitHitError,
  search,
  unavailable,
  userAttributes,
  withDirectory,
} from './ldap-client.ts'
import { mapRole } from './role-mapping.ts'
import type { LdapSettings } from './settings.ts'
import type { ExternalIdentity, ProviderAdapter, TestStep } from './types.ts'

export type LdapOutcome =
  | { ok: true; identity: ExternalIdentity }
  | {
      ok: false
      reason: 'empty_password' | 'invalid_username' | 'unknown_user' | 'ambiguous_user' | 'wrong_password'
    }

/** The bind name of a direct bind: {username} escaped for a DN (or as typed in a UPN). */
function directBindName(template: string, username: string): string {
  const isDn = /=[^,]*\{username\}/.test(template)
  return template.replaceAll('{username}', isDn ? escapeDnValue(username) : username)
}

/** Finds the user's entry: by search (service account or anonymous) or by the direct bind name. */
async function findUserEntry(
  directory: Directory,
  username: string,
): Promise<{ entry: Entry } | { reason: 'unknown_user' | 'ambiguous_user' }> {
  const { settings } = directory
  const entries = await search(
    directory,
    settings.userBaseDn,
    fillFilter(settings.userFilter, { username }),
    {
      attributes: userAttributes(settings),
      sizeLimit: 2,
      step: 'the user search',
    },
  ).catch((error) => {
    // More than the two entries asked for: the name is not unique.
    if (error instanceof SizeLimitHitError) return [{}, {}] as Entry[]
    throw error
  })
  if (entries.length === 0) return { reason: 'unknown_user' }
  if (entries.length > 1) return { reason: 'ambiguous_user' }
  return { entry: entries[0] as Entry }
}

async function bindAsUser(directory: Directory, name: string, password: string): Promise<boolean> {
  try {
    await directory.client.bind(name, password)
    return true
  } catch (error) {
    if (error instanceof directory.ldap.InvalidCredentialsError) return false
    throw unavailable(error, 'the user bind')
  }
}

/** Proves a username and password against the directory. */
export async function authenticateLdap(
  settings: LdapSettings,
  secrets: Record<string, string>,
  defaultTimeoutMs: number,
  username: string,
  password: string,
): Promise<LdapOutcome> {
  if (password.length === 0) return { ok: false, reason: 'empty_password' }
  if (!acceptableUsername(username)) return { ok: false, reason: 'invalid_username' }
  return withDirectory(settings, defaultTimeoutMs, async (directory) => {
    let entry: Entry
    if (settings.userDnTemplate) {
      if (!(await bindAsUser(directory, directBindName(settings.userDnTemplate, username), password)))
        return { ok: false, reason: 'wrong_password' }
      // Bound as the user: read their own entry.
      const found = await findUserEntry(directory, username)
      if (!('entry' in found)) return { ok: false, reason: found.reason }
      entry = found.entry
    } else {
      await bindService(directory, secrets)
      const found = await findUserEntry(directory, username)
      if (!('entry' in found)) return { ok: false, reason: found.reason }
      entry = found.entry
      if (!(await bindAsUser(directory, entry.dn, password))) return { ok: false, reason: 'wrong_password' }
      // Back to the service account for the group lookups the user may not be allowed to make.
      await bindService(directory, secrets)
    }
    const user = directoryUserOf(entry, settings)
    return {
      ok: true,
      identity: {
        externalId: user.externalId,
        username: user.username ?? username,
        email: user.email,
        emailVerified: settings.emailsVerified,
        displayName: user.displayName,
        groups: await groupsOf(directory, entry, username),
        claims: {},
        mfaAsserted: false,
      },
    }
  })
}

function checkLdap(settings: LdapSettings, secrets: Record<string, string>): FieldProblem[] {
  const problems: FieldProblem[] = []
  const problem = (path: string, message: string) => problems.push({ path: `body.settings.${path}`, message })
  const plain = settings.url.startsWith('ldap://')
  if (plain && !settings.startTls && !settings.allowPlaintext)
    problem(
      'startTls',
      'ldap:// without StartTLS sends passwords in clear: set startTls, use ldaps://, or allowPlaintext: true',
    )
  if (!plain && settings.startTls)
    problem('startTls', 'ldaps:// is already TLS: StartTLS applies to ldap:// only')
  if (settings.bindDn && !secrets.bindPassword) problem('bindPassword', 'required with bindDn')
  if (settings.nestedGroups && !settings.groupBaseDn) problem('groupBaseDn', 'required for nested groups')
  if (settings.userDnTemplate && settings.bindDn)
    problem('userDnTemplate', 'choose a service account (bindDn) or a direct bind (userDnTemplate), not both')
  return problems
}

/** Root DSE: does the server say it is Active Directory (the in-chain rule needs it)? */
async function isActiveDirectory(directory: Directory): Promise<boolean> {
  const [root] = await search(directory, '', '(objectClass=*)', {
    attributes: ['supportedCapabilities'],
    scope: 'base',
    step: 'the root DSE read',
  }).catch(() => [] as Entry[])
  return root ? JSON.stringify(root.supportedCapabilities ?? '').includes('1.2.840.113556.1.4.800') : false
}

const timed = async (steps: TestStep[], step: string, work: () => Promise<string>) => {
  const started = performance.now()
  try {
    steps.push({ step, ok: true, detail: await work(), ms: Math.round(performance.now() - started) })
  } catch (error) {
    steps.push({
      step,
      ok: false,
      detail: (error as Error).message,
      ms: Math.round(performance.now() - started),
    })
    throw error
  }
}

export const ldapAdapter: ProviderAdapter<'ldap'> = {
  type: 'ldap',
  check: (settings, secrets) => checkLdap(settings, secrets),
  loginPath: (name) => `/api/v1/auth/ldap/${name}/login`,
  async test(ctx, provider, secrets, input) {
    const steps: TestStep[] = []
    const settings = provider.settings
    let identity: Awaited<ReturnType<ProviderAdapter['test']>>['identity']
    await withDirectory(settings, ctx.config.ldapTimeoutMs, async (directory) => {
      await timed(
        steps,
        'connect',
        async () => `connected to ${settings.url}${settings.startTls ? ' (StartTLS)' : ''}`,
      )
      await timed(steps, 'bind', async () => {
        await bindService(directory, secrets)
        return settings.bindDn ? `bound as ${settings.bindDn}` : 'anonymous (no service account)'
      })
      await timed(steps, 'user base', async () => {
        await search(directory, settings.userBaseDn, '(objectClass=*)', {
          attributes: ['1.1'],
          scope: 'base',
          step: 'reading userBaseDn',
        })
        return `${settings.userBaseDn} exists`
      })
      if (settings.nestedGroups === 'in-chain')
        await timed(steps, 'in-chain rule', async () => {
          if (await isActiveDirectory(directory)) return 'the server is Active Directory'
          throw new Error(
            'the server does not say it is Active Directory: in-chain finds no groups; use walk',
          )
        })
    }).catch((error) => {
      if (steps.every((s) => s.ok)) steps.push({ step: 'directory', ok: false, detail: error.message, ms: 0 })
    })
    if (input.username && input.password && steps.every((s) => s.ok)) {
      const started = performance.now()
      const outcome = await authenticateLdap(
        settings,
        secrets,
        ctx.config.ldapTimeoutMs,
        input.username,
        input.password,
      )
      const ms = Math.round(performance.now() - started)
      if (outcome.ok) {
        const { role } = mapRole(provider, outcome.identity)
        const { externalId, email, displayName, groups } = outcome.identity
        identity = {
          externalId,
          groups,
          role,
          ...(email ? { email } : {}),
          ...(displayName ? { displayName } : {}),
        }
        steps.push({
          step: 'sign-in',
          ok: true,
          detail: `${input.username}: ${groups.length} groups, role ${role ?? 'none (strict)'}`,
          ms,
        })
      } else steps.push({ step: 'sign-in', ok: false, detail: outcome.reason, ms })
    }
    return { ok: steps.every((s) => s.ok), steps, ...(identity ? { identity } : {}) }
  },
}
