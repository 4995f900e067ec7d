// Validates a proposed environment with the very parser start-up uses, so an operator can check
// a rollout's settings before deploying them. Secrets in the answer are redacted.
import { type Config, ConfigError, parseConfig, unknownVariables } from '../config.ts'
import { ValidationError } from '../http/errors.ts'
import { redact } from '../platform/log.ts'

export type ConfigCheckResult = {
  valid: true
  store: Config['store']['kind']
  state: Config['state']['kind']
  singleReplicaOnly: boolean
  config: Record<string, unknown>
  warnings: string[]
}

export function checkProposedConfig(input: { env: Record<string, string> }): ConfigCheckResult {
  let config: Config
  try {
    config = parseConfig(input.env)
  } catch (error) {
    if (!(error instanceof ConfigError)) throw error
    throw new ValidationError(
      error.issues.map((issue) => ({
        path: `body.env.${issue.variable}`,
        message: `expected ${issue.expected}`,
      })),
      'The proposed configuration is not valid.',
    )
  }
  return {
    valid: true,
    store: config.store.kind,
    state: config.state.kind,
    singleReplicaOnly: config.store.kind === 'embedded' || config.state.kind === 'memory',
    config: redact(config) as Record<string, unknown>,
    warnings: unknownVariables(input.env).map(
      (name) => `${name} is not a pganalytics variable (typo?); it has no effect`,
    ),
  }
}
