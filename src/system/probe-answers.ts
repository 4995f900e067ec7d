// What the probe, health, version and metrics endpoints answer, without their OpenAPI
// definitions: the probes app (src/probes-app.ts) serves these from the moment a replica listens
// without loading zod, and the whole API's routes (src/system/routes.ts) call the same functions.
import type { AppDeps } from '../deps.ts'
import { NotFoundError } from '../http/errors.ts'
import { checkHealth } from './health.ts'

type ProbeDeps = Pick<AppDeps, 'lifecycle' | 'db' | 'state' | 'clock' | 'build' | 'config' | 'metrics'>

/** The liveness answer; the serving app gives it before the pipeline (src/http/constant-answers.ts). */
export const livenessAnswer = { status: 'ok' as const }

/** Ready when started, not draining, and both stores answer; the first ready answer lets the
 * background parts of start-up begin (src/serve.ts). */
export async function readiness(deps: ProbeDeps) {
  const phase = deps.lifecycle.phase
  if (phase !== 'ready') return { ready: false, body: { ready: false, phase } }
  const report = await checkHealth(deps)
  const ready = report.status === 'ok'
  if (ready) deps.lifecycle.readinessAnswered()
  return { ready, body: { ready, phase, checks: report.checks } }
}

export async function healthReport(deps: ProbeDeps) {
  const report = await checkHealth(deps)
  return {
    ok: report.status === 'ok',
    body: {
      ...report,
      phase: deps.lifecycle.phase,
      singleReplicaOnly: !deps.db.shared || !deps.state.shared,
      uptimeSeconds: Math.round((deps.clock.now() - deps.lifecycle.startedAt) / 1000),
    },
  }
}

export const versionAnswer = (deps: ProbeDeps) => ({ ...deps.build, apiVersion: 'v1' as const })

/** The replica's Prometheus text; 404 when PGA_METRICS_ENABLED=false. */
export async function metricsText(deps: ProbeDeps): Promise<string> {
  if (!deps.config.metrics.enabled)
    throw new NotFoundError('Metrics are disabled (PGA_METRICS_ENABLED=false).')
  return deps.metrics.registry.render()
}
