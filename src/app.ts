// createApp(deps): the whole HTTP surface, the request pipeline (src/http/pipeline.ts) installed
// first. Construction only stores references to deps (and reads config and build), so the OpenAPI
// document can be produced without opening any store (see openapi-document.ts).
import type { OpenAPIHono } from '@hono/zod-openapi'
import { agentRoutes } from './agent/routes.ts'
import type { CapabilityName, CapabilityRoutes } from './api-capabilities.ts'
import { auditRoutes } from './audit/routes.ts'
import { authRoutes } from './auth/routes.ts'
import { identityProviderRoutes } from './auth/sso/routes.ts'
import { ssoSignInRoutes } from './auth/sso/sign-in-routes.ts'
import { backupRoutes } from './backup/routes.ts'
import type { AppDeps } from './deps.ts'
import { docsUiRoutes } from './http/docs-ui.ts'
import { createRouter, registerPipelineComponents } from './http/openapi.ts'
import { applyRequestRules } from './http/openapi-rules.ts'
import { type InstallPipeline, requestPipeline } from './http/pipeline.ts'
import { instancesRoutes } from './instances/routes.ts'
import { keysRoutes } from './keys/routes.ts'
import { metricsRoutes } from './metrics/routes.ts'
import { systemRoutes } from './system/routes.ts'

export const openApiInfo = {
  title: 'pgAnalytics API',
  description:
    'PostgreSQL fleet monitoring and operations. Errors are RFC 9457 problem+json with a stable `code`.',
  license: { name: 'Proprietary', identifier: 'LicenseRef-pgAnalytics' },
}

/** Every capability's routes, imported together: tests and the OpenAPI document build the whole
 * API at once. `serve` loads them one capability at a time instead (src/api-capabilities.ts). */
export const capabilityRoutes: Record<CapabilityName, CapabilityRoutes> = {
  system: systemRoutes,
  auth: authRoutes,
  keys: keysRoutes,
  instances: instancesRoutes,
  metrics: metricsRoutes,
  audit: auditRoutes,
  backups: backupRoutes,
  ssoSignIn: ssoSignInRoutes,
  identityProviders: identityProviderRoutes,
  agent: agentRoutes,
}

/** The whole API: the probes app's paths (as OpenAPI routes), the config check, every
 * capability's routes, the docs UI and /openapi.json. */
export function createApp(deps: AppDeps, installPipeline: InstallPipeline = requestPipeline(deps)) {
  const app = createRouter()
  installPipeline(app)
  registerPipelineComponents(app)
  for (const routes of Object.values(capabilityRoutes)) app.route('/', routes(deps))
  app.route(
    '/',
    docsUiRoutes({ loadAsset: (name) => deps.assets.docsAsset(name), version: deps.build.version }),
  )

  let document: unknown
  app.get('/openapi.json', (c) => {
    document ??= openApiDocument(app, deps.build.version)
    return c.json(document)
  })
  return app
}

export type App = ReturnType<typeof createApp>

/** The OpenAPI 3.1 document of the app's routes. */
export function openApiDocument(app: OpenAPIHono, version: string) {
  const document = app.getOpenAPI31Document({
    openapi: '3.1.0',
    info: { ...openApiInfo, version },
    servers: [{ url: '/', description: 'The replica serving this document' }],
    tags: [
      { name: 'Probes', description: 'Kubernetes / load-balancer probes.' },
      { name: 'System', description: 'Health, version, metrics and configuration of this replica.' },
      { name: 'Keys', description: 'Encryption at rest: data keys, rotation and re-encryption progress.' },
      {
        name: 'Instances',
        description: 'Monitored PostgreSQL instances: connection settings, tests and capabilities.',
      },
      {
        name: 'Backups',
        description:
          'Backups of monitored instances (physical, incremental, differential, logical), continuous WAL, point-in-time restores, drills, schedules and repositories.',
      },
      {
        name: 'Metrics',
        description:
          'Collected history: series, latest values, snapshots, top statements, reports, Prometheus.',
      },
      { name: 'Agent', description: 'Host metrics pushed by `pganalytics agent` from the database hosts.' },
    ],
  })
  return applyRequestRules(document)
}
