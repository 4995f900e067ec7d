// The OpenAPI document and the route table of src/api-routes.json without a running service:
// the routes built with the real config and build info, and every other dependency inert.
// Building them only stores references to those; a call would throw, which a route module doing
// I/O at construction would reveal at once.
import { type ApiRouteTable, routesOf } from './api-capabilities.ts'
import { capabilityRoutes, createApp, openApiDocument } from './app.ts'
import { loadConfig } from './config.ts'
import type { AppDeps } from './deps.ts'
import { buildInfo } from './system/build-info.ts'

function inert(path: string): unknown {
  return new Proxy(() => {}, {
    get: (_target, property) => (property === 'then' ? undefined : inert(`${path}.${String(property)}`)),
    apply: () => {
      throw new Error(`${path}() is not available while generating the OpenAPI document`)
    },
  })
}

function inertDeps(): AppDeps {
  const real: Partial<AppDeps> = { config: loadConfig({}), build: buildInfo }
  return new Proxy(real, {
    get: (target, property: string) =>
      property in target ? target[property as keyof AppDeps] : inert(`deps.${property}`),
  }) as AppDeps
}

/** The document as `pganalytics openapi` prints it and openapi/openapi.json stores it. */
export function generateOpenApiDocument() {
  return openApiDocument(createApp(inertDeps()), buildInfo.version)
}

/** Which capability serves which method and path, as src/api-routes.json stores it. */
export function generateApiRouteTable(): ApiRouteTable {
  const deps = inertDeps()
  return Object.fromEntries(
    Object.entries(capabilityRoutes).map(([name, routes]) => [name, routesOf(routes(deps))]),
  ) as ApiRouteTable
}

/** Stable serialisation used for the committed file and the drift check. */
export function serializeOpenApiDocument(document: unknown): string {
  return `${JSON.stringify(document, null, 2)}\n`
}
