// What `serve` hands the HTTP server. A replica listens with the probes app (src/probes-app.ts)
// and loads the API one capability at a time (src/api-capabilities.ts): a capability's routes,
// zod schemas and services are imported on the first request for one of its paths, so
// start-to-ready and the memory of a replica do not pay for the parts of the API it is never
// asked for. That first request waits for the load (milliseconds to tens of milliseconds);
// requests for the same capability arriving meanwhile wait for the same load. Which capability
// serves a method and path comes from src/api-routes.json; a request no capability serves gets
// its 404, or 405 with Allow, from the probes app, without loading anything. The configuration
// check is an API route (it validates its body with zod): its first request loads the system
// routes. All apps share one request pipeline: one set of middleware, counters and caches, and
// 404/405 from the whole API's routes. GET /livez, whose answer never changes, is answered
// before any app with the same envelope (src/http/constant-answers.ts).
import { Hono } from 'hono'
import { RegExpRouter } from 'hono/router/reg-exp-router'
import { SmartRouter } from 'hono/router/smart-router'
import { TrieRouter } from 'hono/router/trie-router'
import {
  type ApiRouteTable,
  apiRoutesOf,
  type CapabilityName,
  capabilityLoaders,
} from './api-capabilities.ts'
import apiRoutes from './api-routes.json' with { type: 'json' }
import type { AppDeps } from './deps.ts'
import type { ConnectionEnv } from './http/client-address.ts'
import { constantAnswers } from './http/constant-answers.ts'
import { methodsOfFixedPaths, requestPipeline } from './http/pipeline.ts'
import { createProbesApp } from './probes-app.ts'
import { livenessAnswer } from './system/probe-answers.ts'

export type ServingApp = {
  fetch: (request: Request, env: ConnectionEnv) => Response | Promise<Response>
  /** The capabilities whose routes have loaded, in the order they did. */
  readonly loadedCapabilities: readonly CapabilityName[]
}

export function createServingApp(deps: AppDeps, routeTable: ApiRouteTable = apiRoutes): ServingApp {
  const apiRouteList = apiRoutesOf(routeTable)
  const installPipeline = requestPipeline(deps, { knownRoutes: () => [...probes.routes, ...apiRouteList] })
  const probes = createProbesApp(deps, installPipeline)
  const probePaths = new Set(methodsOfFixedPaths(probes.routes).keys())
  const ownerOf = capabilityOwner(apiRouteList)
  const constant = constantAnswers({
    answers: { '/livez': livenessAnswer },
    lifecycle: deps.lifecycle,
    durations: deps.metrics.httpDurations,
    log: deps.log,
    trustedProxies: deps.config.http.trustedProxies,
    corsOrigins: deps.config.http.corsOrigins,
  })

  const loaded = new Map<CapabilityName, Hono>()
  const loading = new Map<CapabilityName, Promise<Hono>>()
  const load = (name: CapabilityName) => {
    let pending = loading.get(name)
    if (!pending) {
      const started = performance.now()
      pending = capabilityLoaders[name]().then((routes) => {
        const app = new Hono()
        installPipeline(app)
        app.route('/', routes(deps))
        loaded.set(name, app)
        deps.log.info('API capability loaded', {
          capability: name,
          ms: Math.round(performance.now() - started),
        })
        return app
      })
      // A failed import is retried by the next request rather than remembered.
      pending.catch((error) => {
        loading.delete(name)
        deps.log.error('API capability failed to load', { capability: name, error: String(error) })
      })
      loading.set(name, pending)
    }
    return pending
  }

  return {
    get loadedCapabilities() {
      return [...loaded.keys()]
    },
    fetch(request, env) {
      const path = pathOf(request.url)
      const answer = constant(request, env, path)
      if (answer) return answer
      if (ownedByProbes(path, probePaths)) return probes.fetch(request, env)
      const owner = ownerOf(request.method, path)
      if (owner === undefined) return probes.fetch(request, env)
      const app = loaded.get(owner)
      if (app) return app.fetch(request, env)
      return load(owner).then((app) => app.fetch(request, env))
    },
  }
}

/** For a method and path, the capability whose route Hono would match, or undefined when none
 * would (a 404 or 405 for the pipeline to answer). */
export function capabilityOwner(
  routes: ReturnType<typeof apiRoutesOf>,
): (method: string, path: string) => CapabilityName | undefined {
  const router = new SmartRouter<CapabilityName>({ routers: [new RegExpRouter(), new TrieRouter()] })
  for (const { capability, method, path } of routes) router.add(method, path, capability)
  // A fixed path asked with a method it does not serve is 405 (src/http/pipeline.ts), even where
  // a parameter route would match: GET /api/v1/backups/trigger is not a backup id.
  const fixedPaths = methodsOfFixedPaths(routes)
  return (method, rawPath) => {
    const path = routingPath(rawPath)
    const allow = fixedPaths.get(path)
    if (allow && !allow.includes(method)) return undefined
    // Hono answers HEAD from the GET route.
    const [matches] = router.match(method === 'HEAD' ? 'GET' : method, path)
    return matches[0]?.[0]
  }
}

/** The path of a request URL, without parsing the whole URL. */
function pathOf(url: string): string {
  const start = url.indexOf('/', url.indexOf('//') + 2)
  if (start < 0) return '/'
  const query = url.indexOf('?', start)
  return query < 0 ? url.slice(start) : url.slice(start, query)
}

/** The path as Hono routes it: percent-escapes decoded where they are valid. */
function routingPath(path: string): string {
  if (!path.includes('%')) return path
  try {
    return decodeURI(path)
  } catch {
    return path.replace(/(?:%[0-9A-Fa-f]{2})+/g, (escapes) => {
      try {
        return decodeURI(escapes)
      } catch {
        return escapes
      }
    })
  }
}

function ownedByProbes(path: string, probePaths: Set<string>): boolean {
  return probePaths.has(path) || path === '/docs' || path.startsWith('/docs/')
}
