// GitHub sign-in: OAuth 2.0, not OIDC (no ID token), so who the user is comes from the GitHub API
// with the access token: the user, their verified primary email, their organizations and teams
// (as "org/team-slug"), which role mapping rules match as the claims `orgs` and `teams`. The API
// and web base URLs are settings, for GitHub Enterprise Server (and a local stand-in in tests).
import { fetchJson } from './http-fetch.ts'
import type { ExternalIdentity } from './types.ts'

type GitHubUser = { id: number; login: string; name: string | null; email: string | null }
type GitHubEmail = { email: string; primary: boolean; verified: boolean }
type GitHubOrg = { login: string }
type GitHubTeam = { slug: string; organization: { login: string } }

/** The user is not in any organization the provider allows. */
export class GitHubOrganizationError extends Error {
  readonly reason = 'not_in_organization'
}

export async function githubIdentity(
  apiBaseUrl: string,
  accessToken: string,
  options: { timeoutMs: number; allowedOrganizations?: string[] | undefined },
): Promise<ExternalIdentity> {
  const get = <T>(path: string) =>
    fetchJson<T>(
      `${apiBaseUrl}${path}`,
      {
        headers: {
          Authorization: `Bearer ${accessToken}`,
          Accept: 'application/vnd.github+json',
          'X-GitHub-Api-Version': '2022-11-28',
          'User-Agent': 'pganalytics',
        },
      },
      options.timeoutMs,
      `GitHub ${path}`,
    )
  const [user, emails, orgs, teams] = await Promise.all([
    get<GitHubUser>('/user'),
    get<GitHubEmail[]>('/user/emails'),
    get<GitHubOrg[]>('/user/orgs?per_page=100'),
    get<GitHubTeam[]>('/user/teams?per_page=100'),
  ])
  const organizations = orgs.map((o) => o.login.toLowerCase())
  const allowed = options.allowedOrganizations?.map((o) => o.toLowerCase())
  if (allowed && allowed.length > 0 && !organizations.some((o) => allowed.includes(o)))
    throw new GitHubOrganizationError(`Only members of ${allowed.join(', ')} may sign in.`)
  const primary = emails.find((e) => e.primary && e.verified) ?? emails.find((e) => e.verified)
  return {
    externalId: String(user.id),
    username: user.login,
    email: primary?.email ?? user.email ?? undefined,
    emailVerified: !!primary,
    displayName: user.name ?? user.login,
    groups: [],
    claims: {
      login: [user.login],
      orgs: organizations,
      teams: teams.map((t) => `${t.organization.login}/${t.slug}`.toLowerCase()),
      ...(primary ? { email: [primary.email] } : {}),
    },
    mfaAsserted: false,
  }
}
