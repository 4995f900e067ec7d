// One JSON call to the API as a test makes it: a bearer token, a JSON body, the status and the
// parsed answer back. The transport is the caller's: the in-process app (app.request) or a real
// port (fetch), so the same helper serves integration and e2e tests.
import { until } from './until.ts'

// biome-ignore lint/suspicious/noExplicitAny: response bodies are probed field by field
export type Json = Record<string, any>
export type ApiReply = { status: number; body: Json }
export type ApiCall = (method: string, path: string, body?: unknown, token?: string) => Promise<ApiReply>
type Transport = (path: string, init: RequestInit) => Response | Promise<Response>

/** Calls through `transport` with `token` unless a call names another one. */
export function apiCaller(transport: Transport, token: string): ApiCall {
  return async (method, path, body, callToken = token) => {
    const res = await transport(path, {
      method,
      headers: { Authorization: `Bearer ${callToken}`, 'Content-Type': 'application/json' },
      ...(body === undefined ? {} : { body: JSON.stringify(body) }),
    })
    const text = await res.text()
    return { status: res.status, body: text ? JSON.parse(text) : {} }
  }
}

/** Polls a backup or restore (`path`: its GET) until it leaves pending/running, and returns it. */
export const settledJob = (call: ApiCall, path: string, timeoutMs = 180_000): Promise<Json> =>
  until(
    `${path} to finish`,
    async () => {
      const { body } = await call('GET', path)
      return body.status === 'pending' || body.status === 'running' ? null : body
    },
    { timeoutMs, intervalMs: 250 },
  )
