// The part of the HTTP surface a replica serves from the moment it listens: probes, health,
// version, metrics, the docs UI and the OpenAPI document, behind the same request pipeline as
// the rest. Plain Hono over
// the answers of src/system/probe-answers.ts: it imports none of the capabilities' routes and
// schemas, nor zod (most of the start-up CPU and about 9 MiB); those load with each capability on
// first use (src/serving-app.ts). The API has the same paths as OpenAPI routes
// (src/system/routes.ts, and /openapi.json in src/app.ts).
import { Hono } from 'hono'
import type { AppDeps } from './deps.ts'
import { docsUiRoutes } from './http/docs-ui.ts'
import type { InstallPipeline } from './http/pipeline.ts'
import { prometheusContentType } from './platform/metrics/registry.ts'
import {
  healthReport,
  livenessAnswer,
  metricsText,
  readiness,
  versionAnswer,
} from './system/probe-answers.ts'

export function createProbesApp(deps: AppDeps, installPipeline: InstallPipeline) {
  const app = new Hono()
  installPipeline(app)
  app.get('/livez', (c) => c.json(livenessAnswer, 200))
  app.get('/readyz', async (c) => {
    const { ready, body } = await readiness(deps)
    return c.json(body, ready ? 200 : 503)
  })
  app.get('/api/v1/health', async (c) => {
    const { ok, body } = await healthReport(deps)
    return c.json(body, ok ? 200 : 503)
  })
  app.get('/api/v1/version', (c) => c.json(versionAnswer(deps), 200))
  app.get('/metrics', async (c) =>
    c.text(await metricsText(deps), 200, { 'Content-Type': prometheusContentType }),
  )
  // The committed document, equal to the one the routes produce (CI's drift check), so reading
  // the docs does not load every capability's schemas.
  app.get('/openapi.json', async (c) =>
    c.body(await deps.assets.openApiDocument(), 200, { 'Content-Type': 'application/json' }),
  )
  app.route(
    '/',
    docsUiRoutes({ loadAsset: (name) => deps.assets.docsAsset(name), version: deps.build.version }),
  )
  return app
}
