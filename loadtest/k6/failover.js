// k6 script of the failover scenario: everything (rate, duration, request mix, thresholds, set-up)
// comes from loadtest/scenarios/failover.json, the same document the vegeta runner reads.
//   k6 run -e BASE_URL=https://host:8443 -e TOKEN=pgak_... loadtest/k6/failover.js
// More variables (EMAIL/PASSWORD, SMOKE=1, RATE, DURATION, WORKERS, INSTANCE_IDS, KEEP=1) in lib/k6.js.
import { scenarioScript } from './lib/k6.js'

const script = scenarioScript(JSON.parse(open('../scenarios/failover.json')))

export const options = script.options
export const setup = script.setup
export const teardown = script.teardown
export default script.iteration
