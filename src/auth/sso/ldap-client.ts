// Talking to a directory (ldapts): connections with TLS verified by default (ldaps:// or
// StartTLS, a CA bundle, the server's name checked), every step bounded by the provider's timeout
// (a directory that does not answer is an error within it, never a hang), RFC 4515 / 4514
// escaping of what users type, and reading users and their groups (memberOf, member searches,
// and nested groups: AD's in-chain rule or a bounded walk).
import { isIP } from 'node:net'
import type * as Ldapts from 'ldapts'
import type { Client, Entry } from 'ldapts'
import { UnavailableError } from '../../http/errors.ts'
import { withDeadline } from '../../platform/deadline.ts'
import type { LdapSettings } from './settings.ts'
import { hasControlCharacters, mapCharacters } from './text.ts'

/** The directory could not be used (down, unreachable, TLS refused, service account refused). */
export class DirectoryUnavailableError extends UnavailableError {
  constructor(cause: string) {
    super('identity_provider_unavailable', `The directory is unavailable: ${cause}`, 5)
  }
}

/** A search returned more entries than the server (or we) allow: the answer is incomplete. */
export class SizeLimitHitError extends DirectoryUnavailableError {
  constructor(step: string) {
    super(`${step} hit the size limit: the answer is incomplete`)
  }
}

const hex = (char: string) => `\\${char.charCodeAt(0).toString(16).padStart(2, '0')}`

/** RFC 4515: a value inside a search filter, so `*`, `(`, `)`, `\` and NUL match themselves. */
export function escapeFilterValue(value: string): string {
  return mapCharacters(value, (c) => ('*()\\'.includes(c) || c.charCodeAt(0) === 0 ? hex(c) : undefined))
}

/** RFC 4514: a value inside a DN. */
export function escapeDnValue(value: string): string {
  return mapCharacters(value, (c) =>
    c.charCodeAt(0) === 0 ? '\\00' : '\\,+"<>;='.includes(c) ? `\\${c}` : undefined,
  )
    .replace(/^([ #])/, '\\$1')
    .replace(/ $/, '\\ ')
}

/** A template with {username} and {dn} filled in, each escaped for a filter. */
export const fillFilter = (template: string, values: { username?: string; dn?: string }) =>
  template
    .replaceAll('{username}', escapeFilterValue(values.username ?? ''))
    .replaceAll('{dn}', escapeFilterValue(values.dn ?? ''))

/** What a user may type as a name: no control characters, at most 256 characters. */
export const acceptableUsername = (username: string) =>
  username.length > 0 && username.length <= 256 && !hasControlCharacters(username)

const first = (value: Entry[string] | undefined): string | undefined => {
  const v = Array.isArray(value) ? value[0] : value
  return v === undefined ? undefined : Buffer.isBuffer(v) ? v.toString('utf8') : String(v)
}
const all = (value: Entry[string] | undefined): string[] =>
  (Array.isArray(value) ? value : value === undefined ? [] : [value]).map((v) =>
    Buffer.isBuffer(v) ? v.toString('utf8') : String(v),
  )

/** objectGUID (16 bytes, the first three fields little-endian) as AD prints it. */
export function formatGuid(bytes: Buffer): string {
  const hex = (b: Buffer) => b.toString('hex')
  const le = (start: number, end: number) => hex(Buffer.from(bytes.subarray(start, end)).reverse())
  return `${le(0, 4)}-${le(4, 6)}-${le(6, 8)}-${hex(bytes.subarray(8, 10))}-${hex(bytes.subarray(10, 16))}`
}

export function uniqueIdOf(entry: Entry, attribute: string): string {
  const raw = entry[attribute]
  const value = Array.isArray(raw) ? raw[0] : raw
  if (Buffer.isBuffer(value) && value.length === 16) return formatGuid(value)
  if (value !== undefined && String(value).length > 0) return String(value)
  return entry.dn.toLowerCase()
}

/** A connected (and, with StartTLS, upgraded) client, bound by the caller. */
export type Directory = {
  client: Client
  /** ldapts, loaded with the first directory connection rather than at start-up. */
  ldap: typeof Ldapts
  timeoutMs: number
  settings: LdapSettings
  close(): Promise<void>
}

function tlsOptions(settings: LdapSettings, host: string) {
  return {
    rejectUnauthorized: settings.tlsVerify,
    ...(settings.caCert ? { ca: settings.caCert } : {}),
    host,
    ...(isIP(host) ? {} : { servername: host }),
  }
}

/** Turns what went wrong talking to the directory into a 503 with the cause (never the secrets). */
export function unavailable(error: unknown, step: string): DirectoryUnavailableError {
  const message = (error instanceof Error ? error.message.split('\n')[0] : String(error)) ?? ''
  const code = (error as { code?: string | number }).code
  return new DirectoryUnavailableError(
    `${step} failed: ${message}${typeof code === 'string' && !message.includes(code) ? ` (${code})` : ''}`,
  )
}

/** Runs `work` against the directory with a connection it opens and always closes. */
export async function withDirectory<T>(
  settings: LdapSettings,
  defaultTimeoutMs: number,
  work: (directory: Directory) => Promise<T>,
): Promise<T> {
  const timeoutMs = settings.timeoutMs ?? defaultTimeoutMs
  const host = new URL(settings.url).hostname.replace(/^\[|\]$/g, '')
  const ldap = await import('ldapts')
  const client = new ldap.Client({
    url: settings.url,
    timeout: timeoutMs,
    connectTimeout: timeoutMs,
    // Only for ldaps://: with tlsOptions ldapts speaks TLS from the first byte, which breaks StartTLS.
    ...(settings.url.startsWith('ldaps://') ? { tlsOptions: tlsOptions(settings, host) } : {}),
  })
  const close = () => client.unbind().catch(() => {})
  const directory: Directory = { client, ldap, timeoutMs, settings, close }
  const run = async () => {
    if (settings.startTls)
      await client.startTLS(tlsOptions(settings, host)).catch((error) => {
        throw unavailable(error, 'StartTLS')
      })
    return work(directory)
  }
  try {
    // A safety net over the per-operation timeouts (a TLS handshake that never completes).
    return await withDeadline(run(), timeoutMs * 3, () => void close()).catch((error) => {
      if (error instanceof ldap.ResultCodeError || error instanceof UnavailableError) throw error
      if ((error as { name?: string }).name === 'DeadlineExceededError')
        throw new DirectoryUnavailableError(`no answer within ${timeoutMs * 3} ms`)
      throw unavailable(error, 'the connection')
    })
  } finally {
    await close()
  }
}

/** Binds as the service account (or stays anonymous without one); a refusal is the provider's fault. */
export async function bindService(directory: Directory, secrets: Record<string, string>): Promise<void> {
  const { bindDn } = directory.settings
  if (!bindDn) return
  await directory.client.bind(bindDn, secrets.bindPassword ?? '').catch((error) => {
    throw unavailable(error, 'the service account bind')
  })
}

export const userAttributes = (settings: LdapSettings) =>
  [
    settings.uniqueIdAttribute,
    settings.usernameAttribute,
    settings.emailAttribute,
    settings.displayNameAttribute,
    'cn',
    ...(settings.memberOfAttribute ? [settings.memberOfAttribute] : []),
  ].filter((a, i, list) => list.indexOf(a) === i)

/** Searches; a failure is the directory's (down, wrong base DN, size limit) and says which step. */
export async function search(
  directory: Directory,
  base: string,
  filter: string,
  options: {
    attributes: string[]
    sizeLimit?: number
    paged?: boolean
    step: string
    scope?: 'base' | 'sub'
  },
): Promise<Entry[]> {
  try {
    const { searchEntries } = await directory.client.search(base, {
      scope: options.scope ?? 'sub',
      filter,
      attributes: options.attributes,
      explicitBufferAttributes: ['objectGUID'],
      ...(options.sizeLimit ? { sizeLimit: options.sizeLimit } : {}),
      ...(options.paged ? { paged: { pageSize: 500 } } : {}),
    })
    return searchEntries
  } catch (error) {
    if (error instanceof directory.ldap.SizeLimitExceededError) throw new SizeLimitHitError(options.step)
    throw unavailable(error, options.step)
  }
}

export type DirectoryUser = {
  dn: string
  externalId: string
  username: string | undefined
  email: string | undefined
  displayName: string | undefined
}

export function directoryUserOf(entry: Entry, settings: LdapSettings): DirectoryUser {
  return {
    dn: entry.dn,
    externalId: uniqueIdOf(entry, settings.uniqueIdAttribute),
    username: first(entry[settings.usernameAttribute]),
    email: first(entry[settings.emailAttribute]),
    displayName: first(entry[settings.displayNameAttribute]) ?? first(entry.cn),
  }
}

const inChainRule = '1.2.840.113556.1.4.1941'
const maxWalkDepth = 10

/** The filter finding a user's groups: AD's in-chain rule (every group, at any depth, in one
 * query), or the configured member filter (direct groups). */
export function groupSearchFilter(
  settings: Pick<LdapSettings, 'nestedGroups' | 'groupFilter'>,
  userDn: string,
  username: string,
): string {
  return settings.nestedGroups === 'in-chain'
    ? `(member:${inChainRule}:=${escapeFilterValue(userDn)})`
    : fillFilter(settings.groupFilter, { username, dn: userDn })
}

/** The group DNs of a user: memberOf, a member search, and nested groups as configured. */
export async function groupsOf(directory: Directory, entry: Entry, username: string): Promise<string[]> {
  const { settings } = directory
  const groups = new Set(settings.memberOfAttribute ? all(entry[settings.memberOfAttribute]) : [])
  if (settings.groupBaseDn) {
    const filter = groupSearchFilter(settings, entry.dn, username)
    for (const group of await search(directory, settings.groupBaseDn, filter, {
      attributes: ['1.1'],
      step: 'the group search',
    }))
      groups.add(group.dn)
    if (settings.nestedGroups === 'walk') await walkParents(directory, groups)
  }
  return [...groups]
}

/** Adds the groups containing the groups found, level by level (loops and depth bounded). */
async function walkParents(directory: Directory, groups: Set<string>): Promise<void> {
  const { settings } = directory
  let frontier = [...groups]
  for (let depth = 0; depth < maxWalkDepth && frontier.length > 0; depth++) {
    const filter = `(|${frontier.map((dn) => fillFilter(settings.groupFilter, { dn })).join('')})`
    const parents = await search(directory, settings.groupBaseDn as string, filter, {
      attributes: ['1.1'],
      step: 'the nested group search',
    })
    frontier = parents.map((p) => p.dn).filter((dn) => !groups.has(dn))
    for (const dn of frontier) groups.add(dn)
  }
}
