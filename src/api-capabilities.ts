// The API by capability, each loaded on its own. `serve` imports a capability's routes (and with
// them its zod schemas and services) on the first request for one of its paths
// (src/serving-app.ts), so a replica that serves dashboards never holds the schemas of backups,
// SSO or the agent: together about 12 MiB of objects and closures once loaded. Which capability
// answers a method and path comes from src/api-routes.json, generated from the routes by
// `npm run openapi` (scripts/render-api-routes.ts) and checked against them by the tests.
import type { Hono } from 'hono'
import type { AppDeps } from './deps.ts'

/** A capability's routes over the service's dependencies. */
// biome-ignore lint/suspicious/noExplicitAny: any router, whatever its routes' types
export type CapabilityRoutes = (deps: AppDeps) => Hono<any, any, any>

/** In the order createApp mounts them, which is the order of the OpenAPI document's paths. */
export const capabilityLoaders = {
  system: async () => (await import('./system/routes.ts')).systemRoutes,
  auth: async () => (await import('./auth/routes.ts')).authRoutes,
  keys: async () => (await import('./keys/routes.ts')).keysRoutes,
  instances: async () => (await import('./instances/routes.ts')).instancesRoutes,
  metrics: async () => (await import('./metrics/routes.ts')).metricsRoutes,
  audit: async () => (await import('./audit/routes.ts')).auditRoutes,
  backups: async () => (await import('./backup/routes.ts')).backupRoutes,
  ssoSignIn: async () => (await import('./auth/sso/sign-in-routes.ts')).ssoSignInRoutes,
  identityProviders: async () => (await import('./auth/sso/routes.ts')).identityProviderRoutes,
  agent: async () => (await import('./agent/routes.ts')).agentRoutes,
} satisfies Record<string, () => Promise<CapabilityRoutes>>

export type CapabilityName = keyof typeof capabilityLoaders

/** Each capability's routes as "METHOD /path/:param", from src/api-routes.json. */
export type ApiRouteTable = Record<CapabilityName, string[]>

/** The table's routes, each with its capability, method and pattern. */
export function apiRoutesOf(
  table: ApiRouteTable,
): { capability: CapabilityName; method: string; path: string }[] {
  return (Object.entries(table) as [CapabilityName, string[]][]).flatMap(([capability, routes]) =>
    routes.map((route) => {
      const [method = '', path = ''] = route.split(' ')
      return { capability, method, path }
    }),
  )
}

/** The routes of a router as "METHOD /path" once each, without middleware (every method, or a
 * wildcard path): what src/api-routes.json lists per capability. */
export function routesOf(router: { routes: { method: string; path: string }[] }): string[] {
  const seen = new Set<string>()
  for (const { method, path } of router.routes)
    if (method !== 'ALL' && !path.includes('*')) seen.add(`${method} ${path}`)
  return [...seen]
}
