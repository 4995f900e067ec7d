// Bare Hono hello-world on Bun: the baseline bench/http.ts compares the service against.
// GET / answers "ok"; POST /json parses the JSON body and echoes it. Port from PORT (default 0).
// Run: PORT=3000 node_modules/.bin/bun bench/bare-hono.ts
import { Hono } from 'hono'

const app = new Hono().get('/', (c) => c.text('ok')).post('/json', async (c) => c.json(await c.req.json()))

const server = Bun.serve({ fetch: app.fetch, hostname: '127.0.0.1', port: Number(process.env.PORT ?? 0) })
console.log(`listening ${server.port}`)
