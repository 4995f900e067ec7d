// The OpenAPI document without a running service: createApp with the real config and build
// info, and every other dependency inert. Building the app only stores references to them; a
// call would throw, which a route module doing I/O at construction would reveal at once.
import { createApp, openApiDocument } from './app.ts'
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

/** The document as `pganalytics openapi` prints it and openapi/openapi.json stores it. */
export function generateOpenApiDocument() {
  const real: Partial<AppDeps> = { config: loadConfig({}), build: buildInfo }
  const deps = new Proxy(real, {
    get: (target, property: string) =>
      property in target ? target[property as keyof AppDeps] : inert(`deps.${property}`),
  }) as AppDeps
  return openApiDocument(createApp(deps), buildInfo.version)
}

/** Stable serialisation used for the committed file and the drift check. */
export function serializeOpenApiDocument(document: unknown): string {
  return `${JSON.stringify(document, null, 2)}\n`
}
