// The hand-written part of docs/DASHBOARDS.md (docs.ts appends one section per dashboard).
export const intro = `# Dashboards

Grafana dashboards over the pganalytics store (PostgreSQL data source) and Prometheus (alerts).
Generated from TypeScript in \`grafana/src\` with \`@grafana/grafana-foundation-sdk\` and committed
as JSON in \`grafana/dashboards\`; this page is generated with them (\`npm run dashboards\`; do not
edit by hand). Alerts and their runbooks: [ALERTS.md](ALERTS.md). Host metrics come from
\`pganalytics agent\`: [AGENT.md](AGENT.md).

## Point Grafana at pganalytics

1. **A read-only login on the store.** Migration 0013 creates two roles (when the service's login
   may create roles) and grants them per database: \`pganalytics_grafana\` reads the snapshot tables,
   the agent streams and the harmless columns of \`pga_instances\` (never the encrypted password,
   never users or the audit trail); query texts (statements, blocking queries) are shown through
   \`pga_statement_text()\` and \`pga_lock_query()\` only to members of
   \`pganalytics_grafana_query_text\` too, as the API shows them only with \`metrics:read_query_text\`:

   \`\`\`sql
   create role grafana login password '…' in role pganalytics_grafana;
   grant pganalytics_grafana_query_text to grafana;   -- if Grafana's users may read query texts
   \`\`\`

   When the service's login may not create roles, the migration says so in a notice and skips
   the grants: a DBA runs \`create role pganalytics_grafana nologin; create role
   pganalytics_grafana_query_text nologin;\`, then the service's login runs
   \`select pga_grant_grafana();\` (true once granted). A later migration that adds a snapshot table
   extends that function and calls it.
2. **Provisioning.** Copy \`grafana/provisioning/datasources/pganalytics.yaml\` and
   \`grafana/provisioning/dashboards/pganalytics.yaml\` into Grafana's provisioning directory and
   \`grafana/dashboards/*.json\` into a directory of their own; Grafana reads these variables:

   | Variable | What |
   |---|---|
   | \`PGA_GRAFANA_STORE_ADDRESS\` | host:port of the store (a standby of it is fine) |
   | \`PGA_GRAFANA_STORE_DATABASE\` | the store's database |
   | \`PGA_GRAFANA_STORE_USER\`, \`PGA_GRAFANA_STORE_PASSWORD\` | the login of step 1 |
   | \`PGA_GRAFANA_STORE_SSLMODE\`, \`PGA_GRAFANA_STORE_CA_FILE\` | \`verify-full\` and the CA of the store's certificate |
   | \`PGA_GRAFANA_PROMETHEUS_URL\` | Prometheus with \`prometheus/prometheus.yml\`'s jobs and rules |
   | \`PGA_GRAFANA_DASHBOARDS_DIR\` | where the dashboard JSON files are |

   \`\`\`sh
   docker run -p 3000:3000 \\
     -v "$PWD/grafana/provisioning/datasources:/etc/grafana/provisioning/datasources:ro" \\
     -v "$PWD/grafana/provisioning/dashboards:/etc/grafana/provisioning/dashboards:ro" \\
     -v "$PWD/grafana/dashboards:/var/lib/grafana/dashboards/pganalytics:ro" \\
     -e PGA_GRAFANA_DASHBOARDS_DIR=/var/lib/grafana/dashboards/pganalytics \\
     -e PGA_GRAFANA_STORE_ADDRESS=store.internal:5432 -e PGA_GRAFANA_STORE_DATABASE=pganalytics \\
     -e PGA_GRAFANA_STORE_USER=grafana -e PGA_GRAFANA_STORE_PASSWORD="$GRAFANA_STORE_PASSWORD" \\
     -e PGA_GRAFANA_STORE_SSLMODE=verify-full -e PGA_GRAFANA_STORE_CA_FILE=/etc/grafana/store-ca.pem \\
     -e PGA_GRAFANA_PROMETHEUS_URL=http://prometheus:9090 \\
     grafana/grafana
   \`\`\`

   The dashboards land in a \`pganalytics\` folder, read-only in the UI (changes belong in
   \`grafana/src\`), and link to each other keeping the time range and variables.
3. **Prometheus** for the alert panels and the alerts: \`prometheus/prometheus.yml\` (see
   [ALERTS.md](ALERTS.md)).

The dashboards are written for Grafana 12 (the SDK's dashboard schema version 42, the classic
JSON model that file provisioning loads) and Grafana's built-in PostgreSQL data source, whose type
id is \`grafana-postgresql-datasource\` (older Grafana releases called it \`postgres\`: change the
type in the provisioning file there; panels find their data source by uid). The SDK's newer
\`dashboardv2\` model is not used: file provisioning of v2 dashboards still needs feature toggles.

## Signing in to Grafana with pganalytics

Grafana's JWT authentication accepts a pganalytics access token: \`grafana/grafana-jwt.ini\` is the
\`[auth.jwt]\` section (JWKS \`https://<pganalytics>/.well-known/jwks.json\`, \`expect_claims\` iss and
aud, \`email\` as login, \`role_attribute_path\` mapping the token's \`role\`: admin → Admin,
operator → Editor, viewer → Viewer, auditor refused with \`role_attribute_strict\`). Access tokens
carry \`email\` and \`role\` for this; pganalytics itself never trusts the claim and re-reads the role.

- **How the token reaches Grafana**: serve Grafana under the same site as pganalytics (e.g.
  \`https://pga.example.com/grafana/\`, \`root_url\` and \`serve_from_sub_path\`) and let the reverse
  proxy copy the session cookie into the header Grafana reads:
  \`proxy_set_header X-JWT-Assertion $cookie_pga_access;\` (nginx). Scripts can use
  \`?auth_token=<access token>\` (\`url_login\`).
- **Revocation window**: Grafana verifies signature and expiry only. A token signed out in
  pganalytics keeps working in Grafana until it expires (\`PGA_ACCESS_TOKEN_TTL\`, 15 minutes), and
  a role change applies there with the next token.
- **Key rotation**: a new signing key is used at once; Grafana caches the JWKS (\`cache_ttl\`, 5
  minutes in the example), during which tokens with the new key are refused. Keep it short, or
  rotate outside busy hours.
- Tested (\`test/integration/grafana-jwt.test.ts\`): each role's real token verifies against the
  JWKS with the ini's expected claims and \`role_attribute_path\` maps it as above. Grafana itself
  is not run (see below).

## How the queries work

- **Points**: every time series keeps the last sample of each series per Grafana interval
  (\`$__timeGroup(taken_at, $__interval)\`), as the read API keeps the last sample per step; the
  smallest interval is the data source's \`timeInterval\` (15 s, the shortest collection interval).
- **Rates**: counters become per-second rates between consecutive kept samples with the read
  API's reset-safe rule: null when there is no previous sample, when the counter went down (a
  crash restart) or when \`stats_reset\` changed. The range is widened by one interval so the first
  point has a rate.
- **Over the range** (top statements, table growth, scans): the sum of the guarded per-sample
  increases, as the comparison report does: after a reset the counter itself counts, and a series
  that appears during the range counts whole.
- **Current state** (standbys, slots, blocking chains, filesystems): the newest snapshot of the
  group in the range, so a past incident can be looked at by moving the range.
- **Variables**: \`$instance\` is single-valued (value the id, text the name); \`$database\`,
  \`$relation\` take several values or All and are used as \`in ($database)\`; \`$queryid\` picks one
  statement. They refresh with the time range.

## How they are tested (Grafana is not installable here)

There is no Grafana package in Debian 12 nor on npm, and none can be downloaded here; so:

- \`test/unit/dashboards.test.ts\`: the committed JSON is what \`grafana/src\` generates; its schema
  version is the SDK's; every key of every dashboard, panel, panel option, field config, override,
  variable and query is one the SDK's type declarations have for it; panel ids and titles are
  unique, panels sit on the 24-column grid without overlapping; every variable a query uses is
  defined (before the variables that use it); every data source is provisioned with that type.
- \`test/integration/dashboards.test.ts\`: a store filled by real collection (a streaming primary
  and standby with archiving and a slot, pg_stat_statements, a table with an unused index, a
  blocking chain, an unreachable instance, host samples from the agent), two collection rounds in
  different 15 s intervals. Every variable and panel query of every dashboard runs through a login
  with only the Grafana roles, after the substitution Grafana does (\`test/support/grafana-sql.ts\`):
  1. the browser: \`$var\` / \`\${var}\` become the variable's value (one value raw with quotes doubled;
     several or All a list of quoted literals), \`$__interval\` / \`$__interval_ms\` / \`$__from\` /
     \`$__to\` the panel's interval and range;
  2. the backend: \`$__interval\`, \`$__interval_ms\`, \`$__unixEpochFrom()\`, \`$__unixEpochTo()\`;
  3. the PostgreSQL macros: \`$__timeFilter\`, \`$__timeFrom\`, \`$__timeTo\`, \`$__timeGroup\` (and its
     quirk: directly followed by a comma it becomes \`$__timeGroupAlias\`), \`$__timeGroupAlias\`,
     \`$__time\`, \`$__timeEpoch\`, \`$__unixEpochFilter\`;
  the interval being Grafana's: range / 1000 points, rounded to a nice interval, at least 15 s.
  Each query must succeed (a missing table or column fails the test), time series must have a
  \`time\` column, a numeric value and be in time order, and every panel must return rows for the
  primary or the standby (the primary also has a full and an incremental backup, continuous WAL
  and a restore drill), except the few the test cannot produce (named in the test with why: no
  alert firing long enough, no vacuum running at a sample, \`pg_stat_io\` before 16). The login
  is shown to be refused the encrypted passwords and repository credentials, the users, who
  requested backups and the raw query texts.
- The same test starts a real Prometheus with \`prometheus/prometheus.yml\` pointed at the service
  (API key, \`honor_labels\`, the tables job), loads the rules, and runs the Prometheus panels.
`
