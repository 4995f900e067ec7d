// Helpers of the SSO tests: requests to the in-process app as the admin (break-glass token) or as
// a browser with a cookie jar and its own client address, and readers of the audit outbox.
import type { TestApp } from './app.ts'

export const adminToken = 'sso-test-admin-token-0123456789abcdef'

// biome-ignore lint/suspicious/noExplicitAny: JSON bodies of many shapes, read field by field in tests
export type Res = { status: number; body: any; headers: Headers; text: string }

export function client(t: () => TestApp, peer = '10.9.0.1') {
  const send = async (method: string, path: string, body?: unknown, headers: Record<string, string> = {}) => {
    const res = await t().app.request(
      path,
      {
        method,
        headers: {
          ...(body === undefined || typeof body === 'string' ? {} : { 'Content-Type': 'application/json' }),
          'User-Agent': 'vitest-sso',
          ...headers,
        },
        ...(body === undefined ? {} : { body: typeof body === 'string' ? body : JSON.stringify(body) }),
      },
      { peerAddress: peer },
    )
    const text = await res.text()
    let parsed: unknown = null
    try {
      parsed = text ? JSON.parse(text) : null
    } catch {
      parsed = text
    }
    return { status: res.status, body: parsed, headers: res.headers, text } as Res
  }
  return {
    send,
    admin: (method: string, path: string, body?: unknown) =>
      send(method, path, body, { Authorization: `Bearer ${adminToken}` }),
    as: (token: string) => (method: string, path: string, body?: unknown) =>
      send(method, path, body, { Authorization: `Bearer ${token}` }),
  }
}

/** A browser: keeps cookies between requests (name=value only), follows nothing by itself. */
export function browser(t: () => TestApp, peer = '10.8.0.1') {
  const jar = new Map<string, string>()
  const send = async (
    method: string,
    path: string,
    init: { body?: string; form?: Record<string, string> } = {},
  ) => {
    const body = init.form ? new URLSearchParams(init.form).toString() : init.body
    const res = await t().app.request(
      path,
      {
        method,
        headers: {
          ...(init.form ? { 'Content-Type': 'application/x-www-form-urlencoded' } : {}),
          ...(init.body ? { 'Content-Type': 'application/json' } : {}),
          ...(jar.size > 0 ? { Cookie: [...jar].map(([k, v]) => `${k}=${v}`).join('; ') } : {}),
        },
        ...(body === undefined ? {} : { body }),
      },
      { peerAddress: peer },
    )
    for (const cookie of res.headers.getSetCookie()) {
      const [pair] = cookie.split(';')
      const [name, ...value] = (pair as string).split('=')
      if (/max-age=0/i.test(cookie)) jar.delete(name as string)
      else jar.set(name as string, value.join('='))
    }
    const text = await res.text()
    let parsed: unknown = null
    try {
      parsed = text ? JSON.parse(text) : null
    } catch {
      parsed = text
    }
    return { status: res.status, body: parsed, headers: res.headers, text } as Res
  }
  return {
    jar,
    send,
    get: (path: string) => send('GET', path),
    /** The code in the fragment of a sign-in redirect. */
    codeOf: (res: Res) => /#sso_code=([A-Za-z0-9_-]+)$/.exec(res.headers.get('location') ?? '')?.[1] ?? '',
    exchange: (code: string, session: 'token' | 'cookie' = 'token') =>
      send('POST', '/api/v1/auth/exchange', { body: JSON.stringify({ code, session }) }),
  }
}

export type OutboxEvent = {
  eventType: string
  outcome: string
  resourceId: string | null
  actorType: string
  actorId: string | null
  // biome-ignore lint/suspicious/noExplicitAny: each event type records its own changes
  changes: Record<string, any>
}

/** Events written since the outbox held `after` events (or all). */
export async function events(
  t: TestApp,
  filter: { type?: string; since?: number } = {},
): Promise<OutboxEvent[]> {
  const rows = await t.deps.db.sql<{ id: number; event: OutboxEvent }[]>`
    select id, event from audit_outbox where id > ${filter.since ?? 0} order by id`
  return rows.map((r) => r.event).filter((e) => !filter.type || e.eventType === filter.type)
}

export async function lastEventId(t: TestApp): Promise<number> {
  const [row] = await t.deps.db.sql<
    { id: number }[]
  >`select coalesce(max(id), 0)::int as id from audit_outbox`
  return row?.id ?? 0
}
