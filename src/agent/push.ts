// Sends one batch to POST /api/v1/agent/metrics and says what the agent should do with it:
// acknowledged (stored or duplicate: delete it), rejected (the server will never take it: set it
// aside), refused (the key is wrong, revoked or for another instance: keep it, an operator must
// act) or unavailable (network, timeout, 429, 5xx: keep it and try again later).
export type PushOutcome =
  | { kind: 'acknowledged'; status: 'stored' | 'duplicate'; rows: number }
  | { kind: 'rejected' | 'refused'; httpStatus: number; code: string; detail: string }
  | { kind: 'unavailable'; reason: string }

export type PushTarget = {
  url: string
  key: string
  timeoutMs: number
  userAgent: string
  fetch: typeof fetch
}

async function problemOf(response: Response): Promise<{ code: string; detail: string }> {
  const body = (await response.json().catch(() => ({}))) as { code?: string; detail?: string }
  return { code: body.code ?? `http_${response.status}`, detail: body.detail ?? response.statusText }
}

export async function pushBatch(target: PushTarget, body: string): Promise<PushOutcome> {
  let response: Response
  try {
    response = await target.fetch(new URL('/api/v1/agent/metrics', target.url), {
      method: 'POST',
      headers: {
        Authorization: `Bearer ${target.key}`,
        'Content-Type': 'application/json',
        'User-Agent': target.userAgent,
      },
      body,
      signal: AbortSignal.timeout(target.timeoutMs),
    })
  } catch (error) {
    // Node puts the system error in `cause` (ECONNREFUSED), Bun on the error (ConnectionRefused).
    const e = error as Error & { code?: string; cause?: { code?: string } }
    return { kind: 'unavailable', reason: e.cause?.code ?? e.code ?? e.name ?? 'network error' }
  }
  if (response.status === 200) {
    const result = (await response.json()) as { status: 'stored' | 'duplicate'; rows: number }
    return { kind: 'acknowledged', status: result.status, rows: result.rows }
  }
  if (response.status === 429 || response.status >= 500) {
    await response.body?.cancel()
    return { kind: 'unavailable', reason: `HTTP ${response.status}` }
  }
  const problem = await problemOf(response)
  const kind = response.status === 401 || response.status === 403 ? 'refused' : 'rejected'
  return { kind, httpStatus: response.status, ...problem }
}
