// The part of the HTTP surface a replica serves from the moment it listens: probes, health,
// version, metrics, configuration check and the docs UI, behind the same request pipeline as the
// rest. It imports none of the capabilities' routes and schemas (most of the start-up CPU and
// about 9 MiB), which load with the whole API on first use (src/serving-app.ts).
import type { AppDeps } from './deps.ts'
import { docsUiRoutes } from './http/docs-ui.ts'
import { createRouter } from './http/openapi.ts'
import type { InstallPipeline } from './http/pipeline.ts'
import { systemRoutes } from './system/routes.ts'

export function createProbesApp(deps: AppDeps, installPipeline: InstallPipeline) {
  const app = createRouter()
  installPipeline(app)
  app.route('/', systemRoutes(deps))
  app.route(
    '/',
    docsUiRoutes({ loadAsset: (name) => deps.assets.docsAsset(name), version: deps.build.version }),
  )
  return app
}
