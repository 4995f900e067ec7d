// Renders the HAProxy or nginx configuration (haproxy/, nginx/) for a set of replicas:
//   bun scripts/render-balancer.ts haproxy|nginx --values values.json --out DIR
// Values are checked (unknown keys, missing certificate paths, bad addresses are refused with the
// field named); every {{placeholder}} of the templates must be filled, or rendering fails. Then
// validate the result with `haproxy -c -f DIR/haproxy.cfg` or `nginx -t -c DIR/nginx.conf`.
// Templates: `{{name}}` is a value; lines between `{{#replicas}}` and `{{/replicas}}` repeat per
// replica, with `{{name}}` and `{{address}}` of that replica.
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs'
import { isAbsolute, join, resolve } from 'node:path'
import { parseArgs } from 'node:util'
import { z } from 'zod'

const root = join(import.meta.dirname, '..')
const templates = {
  haproxy: ['haproxy.cfg'],
  nginx: ['nginx.conf', 'pganalytics-upstream.conf', 'pganalytics-server.conf', 'pganalytics-proxy.conf'],
} as const
export type BalancerKind = keyof typeof templates

const absolutePath = z.string().refine(isAbsolute, 'an absolute path')
const hostPort = z
  .string()
  .regex(/^(\[[0-9a-fA-F:.]+\]|[A-Za-z0-9.-]+):\d{1,5}$/, 'host:port (IPv6 in brackets)')
const duration = z.string().regex(/^\d+(ms|s|m)$/, 'a duration such as 500ms, 5s or 1m')

/** What a deployment decides; everything else is in the templates. */
export const BalancerValuesSchema = z
  .object({
    replicas: z
      .array(
        z
          .object({
            name: z.string().regex(/^[a-z0-9][a-z0-9-]{0,62}$/, 'a lower-case name'),
            address: hostPort,
          })
          .strict(),
      )
      .min(1, 'at least one replica'),
    bindAddress: z.string().min(1).default('0.0.0.0'),
    httpsPort: z.number().int().min(1).max(65535).default(443),
    httpPort: z.number().int().min(1).max(65535).default(80),
    /** PEM certificate (chain); its key in tlsKey (HAProxy finds it by name: server.crt → server.key). */
    tlsCertificate: absolutePath,
    tlsKey: absolutePath,
    /** Where pid files, sockets and nginx's temporary files go. */
    runDir: absolutePath.default('/run/pganalytics-lb'),
    /** HAProxy: a syslog target (default `stdout format raw`); nginx: a file (default
     * /var/log/nginx/pganalytics.access.log). */
    accessLog: z.string().min(1).optional(),
    /** nginx: a file, or `stderr` (the default). */
    errorLog: z.string().min(1).default('stderr'),
    /** HAProxy needs about twice this many file descriptors (ulimit -n). */
    maxConnections: z.number().int().min(64).default(8000),
    /** Per client address: sustained requests per second, and the burst above it (nginx). */
    rateLimitPerSecond: z.number().int().min(1).default(100),
    rateLimitBurst: z.number().int().min(0).default(200),
    healthCheckInterval: duration.default('500ms'),
    healthCheckFall: z.number().int().min(1).default(2),
    healthCheckRise: z.number().int().min(1).default(2),
    /** nginx: how long a failed replica is skipped. */
    failTimeout: duration.default('2s'),
    timeoutConnect: duration.default('2s'),
    timeoutClient: duration.default('60s'),
    /** Longer than the slowest request plus PGA_IDEMPOTENCY_WAIT (a retry may wait that long). */
    timeoutServer: duration.default('60s'),
    bodyLimit: z
      .string()
      .regex(/^\d+[km]?$/, 'a size such as 1m')
      .default('1m'),
    /** HAProxy's Prometheus exporter and stats page. */
    statsAddress: hostPort.default('127.0.0.1:8404'),
    nginxUser: z
      .string()
      .regex(/^[a-z_][a-z0-9_-]*$/)
      .default('www-data'),
  })
  .strict()
export type BalancerValues = z.input<typeof BalancerValuesSchema>

/** Fills a template; throws on a placeholder without a value. */
export function renderTemplate(
  text: string,
  values: Record<string, string>,
  lists: Record<string, Record<string, string>[]>,
): string {
  const expanded = text.replace(
    /^\{\{#(\w+)\}\}\n([\s\S]*?)^\{\{\/\1\}\}\n/gm,
    (_, name: string, body: string) => {
      const items = lists[name]
      if (!items) throw new Error(`no list named ${name}`)
      return items.map((item) => fill(body, { ...values, ...item })).join('')
    },
  )
  return fill(expanded, values)
}

function fill(text: string, values: Record<string, string>): string {
  return text.replace(/\{\{([#/]?\w+)\}\}/g, (_, name: string) => {
    const value = values[name]
    if (value === undefined) throw new Error(`template placeholder {{${name}}} has no value`)
    return value
  })
}

/** The rendered files of one balancer: file name → text. `confDir` is where they will live. */
export function renderBalancer(kind: BalancerKind, input: unknown, confDir: string): Record<string, string> {
  const v = BalancerValuesSchema.parse(input)
  const values: Record<string, string> = {
    bind_address: v.bindAddress,
    https_port: String(v.httpsPort),
    http_port: String(v.httpPort),
    tls_certificate: v.tlsCertificate,
    tls_key: v.tlsKey,
    run_dir: v.runDir,
    conf_dir: resolve(confDir),
    log_target: v.accessLog ?? 'stdout format raw',
    access_log: v.accessLog ?? '/var/log/nginx/pganalytics.access.log',
    error_log: v.errorLog,
    max_connections: String(v.maxConnections),
    rate_limit_per_second: String(v.rateLimitPerSecond),
    rate_limit_per_10s: String(v.rateLimitPerSecond * 10 + v.rateLimitBurst),
    rate_limit_burst: String(v.rateLimitBurst),
    check_interval: v.healthCheckInterval,
    check_fall: String(v.healthCheckFall),
    check_rise: String(v.healthCheckRise),
    fail_timeout: v.failTimeout,
    timeout_connect: v.timeoutConnect,
    timeout_client: v.timeoutClient,
    timeout_server: v.timeoutServer,
    body_limit: v.bodyLimit,
    stats_address: v.statsAddress,
    nginx_user: v.nginxUser,
  }
  const replicas = v.replicas.map((r) => ({ name: r.name, address: r.address }))
  return Object.fromEntries(
    templates[kind].map((file) => [
      file,
      renderTemplate(readFileSync(join(root, kind, file), 'utf8'), values, { replicas }),
    ]),
  )
}

/** Renders into outDir (created if needed) and returns the main file's path. */
export function writeBalancerConfig(kind: BalancerKind, input: unknown, outDir: string): string {
  mkdirSync(outDir, { recursive: true })
  for (const [file, text] of Object.entries(renderBalancer(kind, input, outDir)))
    writeFileSync(join(outDir, file), text)
  return join(resolve(outDir), templates[kind][0])
}

if (import.meta.main) {
  const { positionals, values } = parseArgs({
    allowPositionals: true,
    options: { values: { type: 'string' }, out: { type: 'string' } },
  })
  const kind = positionals[0]
  if ((kind !== 'haproxy' && kind !== 'nginx') || !values.values || !values.out) {
    process.stderr.write('usage: render-balancer.ts haproxy|nginx --values values.json --out DIR\n')
    process.exit(2)
  }
  try {
    const file = writeBalancerConfig(kind, JSON.parse(readFileSync(values.values, 'utf8')), values.out)
    process.stdout.write(`${file}\n`)
  } catch (error) {
    const message =
      error instanceof z.ZodError
        ? error.issues.map((i) => `${i.path.join('.') || 'values'}: ${i.message}`).join('\n')
        : String((error as Error).message)
    process.stderr.write(`render-balancer: ${message}\n`)
    process.exit(2)
  }
}
