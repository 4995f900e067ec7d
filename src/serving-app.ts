// What `serve` hands the HTTP server. A replica listens with the probes app (src/probes-app.ts)
// and loads the whole API (src/app.ts: every capability's routes and zod schemas) on the first
// request the probes app does not own, so start-to-ready and the memory of a replica that only
// answers probes do not pay for the API. That first request waits for the load (tens of
// milliseconds); requests arriving meanwhile wait for the same load. The probes app keeps its
// paths afterwards: the same answers and pipeline, with a router of a dozen routes (Hono's
// RegExpRouter) instead of the API's few hundred. The configuration check is an API route (it
// validates its body with zod), so its first request loads the API. Both apps share one request
// pipeline: one set of middleware, counters and caches. GET /livez, whose answer never changes,
// is answered before either app with the same envelope (src/http/constant-answers.ts).
import type { App } from './app.ts'
import type { AppDeps } from './deps.ts'
import type { ConnectionEnv } from './http/client-address.ts'
import { constantAnswers } from './http/constant-answers.ts'
import { methodsOfFixedPaths, requestPipeline } from './http/pipeline.ts'
import { createProbesApp } from './probes-app.ts'
import { livenessAnswer } from './system/probe-answers.ts'

export type ServingApp = {
  fetch: (request: Request, env: ConnectionEnv) => Response | Promise<Response>
  /** Whether the whole API has been loaded (a request outside the probes app's paths came). */
  readonly apiLoaded: boolean
}

export function createServingApp(deps: AppDeps): ServingApp {
  const installPipeline = requestPipeline(deps)
  const probes = createProbesApp(deps, installPipeline)
  const probePaths = new Set(methodsOfFixedPaths(probes.routes).keys())
  const constant = constantAnswers({
    answers: { '/livez': livenessAnswer },
    lifecycle: deps.lifecycle,
    durations: deps.metrics.httpDurations,
    log: deps.log,
    trustedProxies: deps.config.http.trustedProxies,
    corsOrigins: deps.config.http.corsOrigins,
  })
  let api: App | undefined
  let loading: Promise<App> | undefined
  const loadApi = () => {
    loading ??= import('./app.ts').then(({ createApp }) => {
      api = createApp(deps, installPipeline)
      return api
    })
    return loading
  }
  return {
    get apiLoaded() {
      return api !== undefined
    },
    fetch(request, env) {
      const path = pathOf(request.url)
      const answer = constant(request, env, path)
      if (answer) return answer
      if (ownedByProbes(path, probePaths)) return probes.fetch(request, env)
      if (api) return api.fetch(request, env)
      return loadApi().then((app) => app.fetch(request, env))
    },
  }
}

/** The path of a request URL, without parsing the whole URL. */
function pathOf(url: string): string {
  const start = url.indexOf('/', url.indexOf('//') + 2)
  if (start < 0) return '/'
  const query = url.indexOf('?', start)
  return query < 0 ? url.slice(start) : url.slice(start, query)
}

function ownedByProbes(path: string, probePaths: Set<string>): boolean {
  return probePaths.has(path) || path === '/docs' || path.startsWith('/docs/')
}
