// Ablation server for bench/http.ts (BENCH_DIAGNOSE=1): the service's request path rebuilt one
// piece at a time (ablationVariants in bench/service-pieces.ts), each variant on its own path, so
// wrk can tell over real sockets what each piece costs. GET variants answer {"status":"ok"} like
// /livez; POST variants take the config-check body. Runs on Bun (Bun.serve) and, bundled with
// `bun build --target=node`, on Node (@hono/node-server, as src/runtime/node.ts).
// Run: PORT=3001 node_modules/.bin/bun bench/http-ablation.ts
import { ablationVariants } from './service-pieces.ts'

const apps = new Map(Object.entries(ablationVariants).map(([name, v]) => [`/${name}`, v.app(`/${name}`)]))
const port = Number(process.env.PORT ?? 0)

// Each variant app routes its own path; this lookup is the same small cost for all of them.
function fetch(request: Request): Response | Promise<Response> {
  const app = apps.get(request.url.slice(request.url.indexOf('/', 8)))
  return app ? app.fetch(request) : new Response('no such variant', { status: 404 })
}

if (typeof Bun !== 'undefined') {
  const server = Bun.serve({ hostname: '127.0.0.1', port, fetch })
  console.log(`listening ${server.port} (bun)`)
} else {
  const { serve } = await import('@hono/node-server')
  serve({ fetch, hostname: '127.0.0.1', port }, (info) => console.log(`listening ${info.port} (node)`))
}
