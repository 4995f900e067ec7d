// The Helm chart (helm/pganalytics), its rendered manifests and the AWS load-balancer template,
// checked with real tools: helm lint/template, kubernetes-validate (offline Kubernetes 1.34 JSON
// schemas), the CRD schemas vendored in helm/schemas/ (ExternalSecret, TargetGroupBinding),
// kube-score, cfn-lint, and the service's own configuration schema applied to the pganalytics
// container's environment. docs/KUBERNETES_DEPLOYMENT.md explains what each check means.
import { execFile } from 'node:child_process'
import { readFileSync, realpathSync, rmSync, writeFileSync } from 'node:fs'
import { isAbsolute, join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { parse, parseAllDocuments } from 'yaml'
import {
  documentedKeys,
  expectedHelmValuesDoc,
  renderHelmValuesDoc,
} from '../../scripts/render-helm-values-doc.ts'
import { ConfigError, configVariables, loadConfig, unknownVariables } from '../../src/config.ts'
import { tempDir } from '../harness/processes.ts'
import { toolPath } from '../harness/tools.ts'

const root = join(import.meta.dirname, '..', '..')
const chartDir = join(root, 'helm', 'pganalytics')
const valuesFiles = ['values.yaml', 'values-dev.yaml', 'values-prod.yaml', 'values-enterprise.yaml'] as const
type ValuesFile = (typeof valuesFiles)[number]
const kubeVersion = '1.34.0'
const release = 'pga'
const namespace = 'pganalytics'
const deploymentName = `${release}-pganalytics`

/**
 * kube-score findings (critical or warning) accepted on purpose, each with its reason. The same
 * rows are in docs/KUBERNETES_DEPLOYMENT.md ("kube-score findings"); the test checks both ways
 * (no finding outside this list, no entry here without its finding and its documented row).
 */
const kubeScoreExceptions: { valuesFile: ValuesFile; check: string; object: string; reason: string }[] = [
  {
    valuesFile: 'values.yaml',
    check: 'deployment-replicas',
    object: `Deployment/${deploymentName}`,
    reason: 'the embedded store serves exactly one replica; the chart refuses more',
  },
  {
    valuesFile: 'values-dev.yaml',
    check: 'container-image-pull-policy',
    object: `Deployment/${deploymentName}`,
    reason: 'a locally built image loaded into kind/minikube cannot be pulled; IfNotPresent uses it',
  },
]

// ---------------------------------------------------------------------------------------------
// Running tools and reading manifests

type Result = { code: number; stdout: string; stderr: string }

function exec(command: string, args: string[], input?: string): Promise<Result> {
  return new Promise((resolve) => {
    const child = execFile(command, args, { maxBuffer: 64 * 1024 * 1024 }, (error, stdout, stderr) => {
      const code = error ? (typeof error.code === 'number' ? error.code : 1) : 0
      // A tool that cannot start (not installed: run scripts/ensure-tools.sh) says so in stderr.
      resolve({ code, stdout: String(stdout), stderr: String(stderr) || (error?.message ?? '') })
    })
    if (input !== undefined) child.stdin?.end(input)
  })
}

type EnvVar = {
  name: string
  value?: string
  valueFrom?: {
    secretKeyRef?: { name: string; key: string }
    configMapKeyRef?: { name: string; key: string }
    fieldRef?: unknown
  }
}
type Probe = { httpGet?: { path: string; port: string | number }; periodSeconds?: number }
type Container = {
  name: string
  args?: string[]
  ports?: { name?: string; containerPort: number }[]
  env?: EnvVar[]
  envFrom?: { configMapRef?: { name: string }; secretRef?: { name: string } }[]
  volumeMounts?: { name: string; mountPath: string }[]
  readinessProbe?: Probe
  livenessProbe?: Probe
  startupProbe?: Probe
  lifecycle?: { preStop?: { sleep?: { seconds: number } } }
}
type PodSpec = { containers: Container[]; terminationGracePeriodSeconds?: number }
type Manifest = {
  apiVersion: string
  kind: string
  metadata: { name: string }
  data?: Record<string, string>
  spec?: {
    replicas?: number
    template?: { spec: PodSpec }
    [key: string]: unknown
  }
}

type Render = Result & { docs: Manifest[]; text: string }

/** `helm template` of the chart with one values file (and --set/--set-json arguments). */
async function helmTemplate(valuesFile: ValuesFile, extra: string[] = []): Promise<Render> {
  const result = await exec(toolPath('helm'), [
    'template',
    release,
    chartDir,
    '--namespace',
    namespace,
    '--kube-version',
    kubeVersion,
    ...(valuesFile === 'values.yaml' ? [] : ['-f', join(chartDir, valuesFile)]),
    ...extra,
  ])
  const docs =
    result.code === 0
      ? parseAllDocuments(result.stdout)
          .map((doc) => doc.toJS() as Manifest | null)
          .filter((doc): doc is Manifest => doc !== null)
      : []
  return { ...result, docs, text: result.stdout }
}

function find(docs: Manifest[], kind: string, name: string): Manifest | undefined {
  return docs.find((doc) => doc.kind === kind && doc.metadata.name === name)
}

function deploymentOf(docs: Manifest[]): { deployment: Manifest; pod: PodSpec; container: Container } {
  const deployment = find(docs, 'Deployment', deploymentName)
  if (!deployment?.spec?.template) throw new Error(`no Deployment ${deploymentName} rendered`)
  const pod = deployment.spec.template.spec
  const container = pod.containers.find((c) => c.name === 'pganalytics')
  if (!container) throw new Error('no pganalytics container')
  return { deployment, pod, container }
}

// ---------------------------------------------------------------------------------------------
// The environment of the pganalytics container, as the process would see it

const sampleOf = (name: string): string | undefined =>
  (configVariables as Record<string, { example?: string }>)[name]?.example

/**
 * Resolves env and envFrom of the pganalytics container against the ConfigMaps and Secrets in the
 * same render. A Secret that is not rendered (an existing Secret, or one an ExternalSecret writes)
 * yields the documented example of that variable (docs/CONFIGURATION.md): a well-formed value.
 */
function containerEnvironment(docs: Manifest[]): { env: Record<string, string>; problems: string[] } {
  const { container } = deploymentOf(docs)
  const env: Record<string, string> = {}
  const problems: string[] = []
  const secretValue = (name: string, key: string, variable: string): string | undefined => {
    const secret = find(docs, 'Secret', name)
    if (!secret) return sampleOf(variable)
    const encoded = secret.data?.[key]
    if (encoded === undefined) problems.push(`${variable}: Secret ${name} has no key ${key}`)
    return encoded === undefined ? undefined : Buffer.from(encoded, 'base64').toString('utf8')
  }
  for (const source of container.envFrom ?? []) {
    if (source.configMapRef) {
      const configMap = find(docs, 'ConfigMap', source.configMapRef.name)
      if (!configMap) problems.push(`envFrom: ConfigMap ${source.configMapRef.name} is not rendered`)
      Object.assign(env, configMap?.data ?? {})
    } else {
      problems.push(`envFrom: only ConfigMaps of the chart are expected, got ${JSON.stringify(source)}`)
    }
  }
  for (const variable of container.env ?? []) {
    const from = variable.valueFrom
    let value: string | undefined
    if (variable.value !== undefined) value = variable.value
    else if (from?.secretKeyRef)
      value = secretValue(from.secretKeyRef.name, from.secretKeyRef.key, variable.name)
    else if (from?.configMapKeyRef)
      value = find(docs, 'ConfigMap', from.configMapKeyRef.name)?.data?.[from.configMapKeyRef.key]
    if (value === undefined) problems.push(`${variable.name}: no value and no sample to stand in for it`)
    else env[variable.name] = value
  }
  return { env, problems }
}

/** What the service's own schema says about an environment: [] when it would start with it. */
function configProblems(env: Record<string, string>): string[] {
  const problems: string[] = []
  for (const name of Object.keys(env))
    if (!(name in configVariables)) problems.push(`${name}: not a variable of src/config.ts`)
  for (const name of unknownVariables(env)) problems.push(`${name}: unknown PGA_* variable`)
  try {
    loadConfig(env)
  } catch (error) {
    if (!(error instanceof ConfigError)) throw error
    for (const issue of error.issues) problems.push(`${issue.variable}: expected ${issue.expected}`)
  }
  return [...new Set(problems)]
}

// ---------------------------------------------------------------------------------------------

const renders = new Map<ValuesFile, Render>()
let workDir = ''

beforeAll(async () => {
  workDir = tempDir('helm')
  await Promise.all(
    valuesFiles.map(async (file) => {
      const render = await helmTemplate(file)
      renders.set(file, render)
      writeFileSync(join(workDir, file), render.text)
    }),
  )
})

afterAll(() => {
  if (workDir) rmSync(workDir, { recursive: true, force: true })
})

function rendered(file: ValuesFile): Render {
  const render = renders.get(file)
  if (!render) throw new Error(`${file} was not rendered`)
  return render
}

describe('helm lint and helm template', () => {
  // The four lints run at once; each test awaits its own.
  let lints: Map<ValuesFile, Promise<Result>> | undefined
  const lint = (file: ValuesFile): Promise<Result> => {
    lints ??= new Map(
      valuesFiles.map((f) => [
        f,
        exec(toolPath('helm'), [
          'lint',
          '--strict',
          chartDir,
          '--kube-version',
          kubeVersion,
          '--namespace',
          namespace,
          '-f',
          join(chartDir, f),
        ]),
      ]),
    )
    return lints.get(file) as Promise<Result>
  }

  it.each(valuesFiles)('helm lint --strict passes with %s (NOTES.txt included)', async (file) => {
    const result = await lint(file)
    expect(result.code, result.stdout + result.stderr).toBe(0)
    expect(result.stdout).toContain('0 chart(s) failed')
  })

  it.each(valuesFiles)('helm template renders %s', (file) => {
    const render = rendered(file)
    expect(render.code, render.stderr).toBe(0)
    expect(render.stderr).toBe('')
    expect(render.docs.map((doc) => doc.kind)).toEqual(expect.arrayContaining(['Deployment', 'Service']))
  })

  it('values.schema.json rejects a misspelt key and a non-string config value', async () => {
    const typo = await helmTemplate('values.yaml', ['--set', 'replicaCout=2'])
    expect(typo.code).not.toBe(0)
    expect(typo.stderr).toContain('replicaCout')
    const number = await helmTemplate('values.yaml', ['--set', 'config.PGA_DB_POOL_SIZE=20'])
    expect(number.code).not.toBe(0)
    expect(number.stderr).toContain('/config/PGA_DB_POOL_SIZE')
  })
})

describe('offline validation against the Kubernetes JSON schemas', () => {
  // Built-in kinds go to kubernetes-validate; custom resources (kinds from CRDs, which it has no
  // schema for) are validated against their CRD's schema, vendored in helm/schemas/. Any other
  // kind makes kubernetes-validate warn that it has no schema, which fails the test.
  const customResources: Record<string, { apiVersion: string; schema: string }> = {
    ExternalSecret: { apiVersion: 'external-secrets.io/v1', schema: 'externalsecret-v1.json' },
    TargetGroupBinding: { apiVersion: 'elbv2.k8s.aws/v1beta1', schema: 'targetgroupbinding-v1beta1.json' },
  }
  const isCustom = (doc: Manifest) => doc.kind in customResources

  async function kubernetesValidate(docs: Manifest[], name: string): Promise<Result> {
    const path = join(workDir, `builtin-${name}`)
    const builtin = docs.filter((doc) => !isCustom(doc))
    writeFileSync(path, builtin.map((doc) => `---\n${JSON.stringify(doc)}\n`).join(''))
    return exec(toolPath('kubernetes-validate'), ['-k', kubeVersion, '--strict', '--quiet', path])
  }

  // The four validations run at once; each test awaits its own.
  let validations: Map<ValuesFile, Promise<Result>> | undefined
  const validation = (file: ValuesFile): Promise<Result> => {
    validations ??= new Map(valuesFiles.map((f) => [f, kubernetesValidate(rendered(f).docs, f)]))
    return validations.get(file) as Promise<Result>
  }

  it.each(valuesFiles)('every built-in object of %s is valid for Kubernetes 1.34 (strict)', async (file) => {
    const result = await validation(file)
    const output = result.stdout + result.stderr
    expect(output).not.toMatch(/ERROR|WARN|Couldn't find schema/)
    expect(result.code, output).toBe(0)
  })

  it('kubernetes-validate rejects an unknown field passed through the chart', async () => {
    const render = await helmTemplate('values-dev.yaml', [
      '--set-json',
      'extraVolumeMounts=[{"name":"tmp","mountPath":"/scratch","readonlyy":true}]',
    ])
    expect(render.code, render.stderr).toBe(0)
    const result = await kubernetesValidate(render.docs, 'typo.yaml')
    expect(result.code).not.toBe(0)
    expect(result.stdout + result.stderr).toContain("'readonlyy' was unexpected")
  })

  /** The CRD's openAPIV3Schema made strict: no properties beyond those declared. */
  function strictSchema(node: unknown): unknown {
    if (Array.isArray(node)) return node.map(strictSchema)
    if (node === null || typeof node !== 'object') return node
    const copy = Object.fromEntries(Object.entries(node).map(([key, value]) => [key, strictSchema(value)]))
    if (
      copy.properties &&
      copy.additionalProperties === undefined &&
      !copy['x-kubernetes-preserve-unknown-fields']
    )
      copy.additionalProperties = false
    return copy
  }

  /** Validates custom resources of one kind against the strict form of their CRD's schema. */
  async function validateCustomResources(kind: string, objects: unknown[]): Promise<Result> {
    const file = customResources[kind]?.schema as string
    const schemaPath = join(workDir, `${kind}.strict.json`)
    const schema = JSON.parse(readFileSync(join(root, 'helm', 'schemas', file), 'utf8'))
    writeFileSync(schemaPath, JSON.stringify(strictSchema(schema)))
    // jsonschema comes with kubernetes-validate: use the Python its launcher runs with.
    const launcher = realpathSync(
      isAbsolute(toolPath('kubernetes-validate'))
        ? toolPath('kubernetes-validate')
        : (await exec('sh', ['-c', 'command -v kubernetes-validate'])).stdout.trim(),
    )
    const python = (readFileSync(launcher, 'utf8').split('\n')[0] ?? '').replace(/^#!/, '').trim()
    const script = [
      'import json, sys',
      'from jsonschema import Draft7Validator',
      'validator = Draft7Validator(json.load(open(sys.argv[1])))',
      "errors = [f\"{d['metadata']['name']}: /{'/'.join(map(str, e.absolute_path))}: {e.message}\"",
      '          for d in json.load(sys.stdin) for e in validator.iter_errors(d)]',
      'print("\\n".join(errors))',
      'sys.exit(1 if errors else 0)',
    ].join('\n')
    return exec(python, ['-c', script, schemaPath], JSON.stringify(objects))
  }

  it('the ExternalSecret of values-enterprise.yaml is valid for the external-secrets.io/v1 CRD', async () => {
    const externalSecrets = rendered('values-enterprise.yaml').docs.filter(
      (doc) => doc.kind === 'ExternalSecret',
    )
    expect(externalSecrets).toHaveLength(1)
    expect(externalSecrets[0]?.apiVersion).toBe('external-secrets.io/v1')
    const result = await validateCustomResources('ExternalSecret', externalSecrets)
    expect(result.code, result.stdout + result.stderr).toBe(0)

    const broken = structuredClone(externalSecrets[0]) as Manifest & {
      spec: { target: Record<string, unknown> }
    }
    broken.spec.target.deletionPolicy = 'Shred'
    broken.spec.target.creationPolicyy = 'Owner'
    const rejected = await validateCustomResources('ExternalSecret', [broken])
    expect(rejected.code).toBe(1)
    expect(rejected.stdout).toContain('/spec/target')
    expect(rejected.stdout).toContain("'creationPolicyy' was unexpected")
  })

  it('a TargetGroupBinding binds the Service to the ALB target group, valid for the elbv2.k8s.aws/v1beta1 CRD', async () => {
    const arn =
      'arn:aws:elasticloadbalancing:eu-central-1:123456789012:targetgroup/pganalytics/0123456789abcdef'
    const render = await helmTemplate('values-prod.yaml', [
      '--set',
      `aws.targetGroupBinding.enabled=true,aws.targetGroupBinding.targetGroupARN=${arn}`,
    ])
    expect(render.code, render.stderr).toBe(0)
    const bindings = render.docs.filter((doc) => doc.kind === 'TargetGroupBinding')
    const result = await validateCustomResources('TargetGroupBinding', bindings)
    expect(result.code, result.stdout + result.stderr).toBe(0)
    const service = find(render.docs, 'Service', deploymentName) as Manifest & {
      spec: { ports: { port: number }[] }
    }
    expect(bindings[0]?.spec).toEqual({
      serviceRef: { name: deploymentName, port: service.spec.ports[0]?.port },
      targetGroupARN: arn,
      targetType: 'ip',
    })
    const missing = await helmTemplate('values-prod.yaml', ['--set', 'aws.targetGroupBinding.enabled=true'])
    expect(missing.stderr).toContain('needs aws.targetGroupBinding.targetGroupARN')
  })

  it('custom resources use the API versions whose schemas are vendored', () => {
    for (const file of valuesFiles)
      for (const doc of rendered(file).docs.filter(isCustom))
        expect(doc.apiVersion, `${file} ${doc.kind}`).toBe(customResources[doc.kind]?.apiVersion)
  })
})

describe('kube-score', () => {
  type Finding = { valuesFile: ValuesFile; check: string; object: string; grade: number; comments: string }
  type ScoredObject = {
    object_name: string
    type_meta: { kind: string }
    object_meta: { name: string }
    checks: {
      check: { id: string }
      grade: number
      skipped: boolean
      comments: { summary: string }[] | null
    }[]
  }
  const critical = 1
  const warning = 5

  async function findings(file: ValuesFile): Promise<Finding[]> {
    const result = await exec(toolPath('kube-score'), [
      'score',
      '--kubernetes-version',
      `v${kubeVersion.replace(/\.0$/, '')}`,
      '--output-format',
      'json',
      join(workDir, file),
    ])
    const objects = JSON.parse(result.stdout) as ScoredObject[]
    return objects.flatMap((object) =>
      object.checks
        .filter((check) => !check.skipped && (check.grade === critical || check.grade === warning))
        .map((check) => ({
          valuesFile: file,
          check: check.check.id,
          object: `${object.type_meta.kind}/${object.object_meta.name}`,
          grade: check.grade,
          comments: (check.comments ?? []).map((c) => c.summary).join('; '),
        })),
    )
  }

  const all = () => Promise.all(valuesFiles.map(findings)).then((lists) => lists.flat())
  let scored: Promise<Finding[]> | undefined
  const allFindings = () => {
    scored ??= all()
    return scored
  }

  it.each(valuesFiles)(
    '%s: no critical or warning finding outside the documented exceptions',
    async (file) => {
      const unexplained = (await allFindings()).filter(
        (f) =>
          f.valuesFile === file &&
          !kubeScoreExceptions.some(
            (e) => e.valuesFile === file && e.check === f.check && e.object === f.object,
          ),
      )
      expect(unexplained).toEqual([])
    },
  )

  it('every exception still matches a finding and is documented in docs/KUBERNETES_DEPLOYMENT.md', async () => {
    const found = await allFindings()
    const doc = readFileSync(join(root, 'docs', 'KUBERNETES_DEPLOYMENT.md'), 'utf8')
    for (const exception of kubeScoreExceptions) {
      expect(
        found.some(
          (f) =>
            f.valuesFile === exception.valuesFile &&
            f.check === exception.check &&
            f.object === exception.object,
        ),
        `${exception.valuesFile} ${exception.check} no longer reported: drop the exception`,
      ).toBe(true)
      const row = doc
        .split('\n')
        .find(
          (line) => line.includes(`\`${exception.check}\``) && line.includes(`\`${exception.valuesFile}\``),
        )
      expect(row, `docs/KUBERNETES_DEPLOYMENT.md has no row for ${exception.check}`).toBeDefined()
      expect(row).toContain(exception.reason)
    }
  })
})

describe("the container's environment against the service's configuration schema", () => {
  const expectedTopology: Record<ValuesFile, { store: string; state: string; redisMode?: string }> = {
    'values.yaml': { store: 'embedded', state: 'memory' },
    'values-dev.yaml': { store: 'postgres', state: 'redis', redisMode: 'standalone' },
    'values-prod.yaml': { store: 'postgres', state: 'redis', redisMode: 'standalone' },
    'values-enterprise.yaml': { store: 'postgres', state: 'redis', redisMode: 'sentinel' },
  }

  it.each(valuesFiles)('%s: every variable is known and valid, and sets the intended topology', (file) => {
    const { docs } = rendered(file)
    const { env, problems } = containerEnvironment(docs)
    expect(problems).toEqual([])
    expect(configProblems(env)).toEqual([])

    const config = loadConfig(env)
    const { container } = deploymentOf(docs)
    expect(config.store.kind).toBe(expectedTopology[file].store)
    expect(config.state.kind).toBe(expectedTopology[file].state)
    if (config.state.kind === 'redis') expect(config.state.mode).toBe(expectedTopology[file].redisMode)
    expect(['0.0.0.0', '::']).toContain(config.http.host)
    expect(container.ports?.find((p) => p.name === 'http')?.containerPort).toBe(config.http.port)
    if (config.store.kind === 'postgres') expect(env.PGA_MASTER_KEY).toBeDefined()

    // Paths the service reads or writes lie on a volume mounted into the container.
    const mounts = (container.volumeMounts ?? []).map((m) => m.mountPath)
    for (const [name, value] of Object.entries(env))
      if (/_(FILE|DIR)$/.test(name))
        expect(
          mounts.some((m) => value === m || value.startsWith(`${m}/`)),
          `${name}=${value} is not on a mounted volume`,
        ).toBe(true)
  })

  it('the chart Secret holds a valid generated master key and URLs to the bundled datastores', () => {
    const { env } = containerEnvironment(rendered('values-dev.yaml').docs)
    expect(Buffer.from(env.PGA_MASTER_KEY ?? '', 'base64')).toHaveLength(32)
    expect(env.DATABASE_URL).toMatch(
      new RegExp(
        `^postgres://pganalytics:[A-Za-z0-9]{32}@${release}-pganalytics-postgresql\\.${namespace}\\.svc:5432/pganalytics$`,
      ),
    )
    expect(env.REDIS_URL).toMatch(
      new RegExp(`^redis://:[A-Za-z0-9]{32}@${release}-pganalytics-redis\\.${namespace}\\.svc:6379/0$`),
    )
  })

  it('reports an unknown variable added through values', async () => {
    const render = await helmTemplate('values-prod.yaml', ['--set', 'extraEnv.PGA_TYPO=x'])
    expect(render.code, render.stderr).toBe(0)
    const { env, problems } = containerEnvironment(render.docs)
    expect(problems).toEqual([])
    expect(configProblems(env)).toEqual([
      'PGA_TYPO: not a variable of src/config.ts',
      'PGA_TYPO: unknown PGA_* variable',
    ])
  })

  it('reports a misspelt non-PGA variable and an invalid value', async () => {
    const render = await helmTemplate('values-dev.yaml', [
      '--set',
      'extraEnv.DATABSE_URL=postgres://x@y/z',
      '--set',
      'config.PGA_LOG_LEVEL=loud',
      '--set',
      'http.trustedProxies={10.0.0.0/33}',
    ])
    expect(render.code, render.stderr).toBe(0)
    const problems = configProblems(containerEnvironment(render.docs).env)
    expect(problems).toContain('DATABSE_URL: not a variable of src/config.ts')
    expect(problems).toContain('PGA_LOG_LEVEL: expected one of debug, info, warn, error')
    expect(problems.some((p) => p.startsWith('PGA_TRUSTED_PROXIES:'))).toBe(true)
  })
})

describe('the instance host policy from values', () => {
  it('renders instances.hostsAllow/hostsDeny as PGA_INSTANCE_HOSTS_ALLOW/_DENY the service accepts', async () => {
    const render = await helmTemplate('values-prod.yaml', [
      '--set',
      'instances.hostsAllow={10.0.0.0/8,fd00::/8,*.db.internal}',
      '--set',
      'instances.hostsDeny={10.9.0.0/16}',
    ])
    expect(render.code, render.stderr).toBe(0)
    const { env } = containerEnvironment(render.docs)
    expect(env.PGA_INSTANCE_HOSTS_ALLOW).toBe('10.0.0.0/8,fd00::/8,*.db.internal')
    expect(env.PGA_INSTANCE_HOSTS_DENY).toBe('10.9.0.0/16')
    expect(configProblems(env)).toEqual([])
  })

  it('refuses setting them through `config`', async () => {
    const render = await helmTemplate('values-prod.yaml', [
      '--set',
      'config.PGA_INSTANCE_HOSTS_DENY=10.0.0.0/8',
    ])
    expect(render.code).not.toBe(0)
    expect(render.stderr).toContain('PGA_INSTANCE_HOSTS_DENY')
  })
})

describe('rules the chart enforces', () => {
  it.each([
    [{ graceSeconds: 20, preStop: 10, margin: 5 }, []],
    [
      { graceSeconds: 45, preStop: 7, margin: 3 },
      ['--set', 'shutdown.graceSeconds=45,shutdown.preStopSleepSeconds=7,shutdown.marginSeconds=3'],
    ],
  ] as const)('terminationGracePeriodSeconds follows the shutdown grace %j', async (expected, args) => {
    const render = await helmTemplate('values.yaml', [...args])
    expect(render.code, render.stderr).toBe(0)
    const { pod, container } = deploymentOf(render.docs)
    const { env } = containerEnvironment(render.docs)
    expect(env.PGA_SHUTDOWN_GRACE).toBe(`${expected.graceSeconds}s`)
    expect(loadConfig(env).http.shutdownGraceMs).toBe(expected.graceSeconds * 1000)
    // The preStop sleep does the delay's work: rendered 0, so no image default or later change
    // of it adds a wait the termination grace does not count.
    expect(env.PGA_SHUTDOWN_DELAY).toBe('0s')
    expect(loadConfig(env).http.shutdownDelayMs).toBe(0)
    expect(container.lifecycle?.preStop?.sleep?.seconds).toBe(expected.preStop)
    expect(pod.terminationGracePeriodSeconds).toBe(expected.preStop + expected.graceSeconds + expected.margin)
  })

  it('refuses PGA_SHUTDOWN_DELAY in `config` (the preStop sleep does its work)', async () => {
    const render = await helmTemplate('values.yaml', ['--set', 'config.PGA_SHUTDOWN_DELAY=2s'])
    expect(render.code).not.toBe(0)
    expect(render.stderr).toContain('config.PGA_SHUTDOWN_DELAY: the chart sets PGA_SHUTDOWN_DELAY')
  })

  it.each(valuesFiles)('%s: termination grace covers preStop + PGA_SHUTDOWN_GRACE with a margin', (file) => {
    const { docs } = rendered(file)
    const { pod, container } = deploymentOf(docs)
    const graceMs = loadConfig(containerEnvironment(docs).env).http.shutdownGraceMs
    const preStop = container.lifecycle?.preStop?.sleep?.seconds ?? 0
    expect(preStop).toBeGreaterThanOrEqual(5)
    expect(pod.terminationGracePeriodSeconds ?? 30).toBeGreaterThan(preStop + graceMs / 1000)
  })

  it.each(valuesFiles)(
    '%s: readiness on /readyz, liveness and start-up on /livez, all on the http port',
    (file) => {
      const { container } = deploymentOf(rendered(file).docs)
      expect(container.args).toEqual(['serve'])
      expect(container.readinessProbe?.httpGet).toEqual({ path: '/readyz', port: 'http' })
      expect(container.livenessProbe?.httpGet).toEqual({ path: '/livez', port: 'http' })
      expect(container.startupProbe?.httpGet).toEqual({ path: '/livez', port: 'http' })
    },
  )

  it.each([
    ['replicaCount=2', 'replicaCount > 1 and autoscaling need a shared store'],
    ['autoscaling.enabled=true', 'replicaCount > 1 and autoscaling need a shared store'],
    [
      'replicaCount=2,postgresql.mode=bundled',
      'in-process state (redis.mode=memory) serves one replica only',
    ],
    [
      'replicaCount=3,redis.mode=bundled',
      'the embedded store (postgresql.mode=embedded) serves one replica only',
    ],
  ])('refuses --set %s without a shared store and shared state', async (set, message) => {
    const render = await helmTemplate('values.yaml', ['--set', set])
    expect(render.code).not.toBe(0)
    expect(render.stderr).toContain(message)
  })

  it('accepts several replicas once both the store and the state are shared', async () => {
    const render = await helmTemplate('values.yaml', [
      '--set',
      'replicaCount=2,postgresql.mode=bundled,redis.mode=bundled,masterKey.generate=true',
    ])
    expect(render.code, render.stderr).toBe(0)
    expect(deploymentOf(render.docs).deployment.spec?.replicas).toBe(2)
  })

  it('with autoscaling the HPA owns the replica count', () => {
    const { docs } = rendered('values-enterprise.yaml')
    expect(deploymentOf(docs).deployment.spec?.replicas).toBeUndefined()
    const hpa = find(docs, 'HorizontalPodAutoscaler', deploymentName)
    expect(hpa?.spec).toMatchObject({
      minReplicas: 3,
      scaleTargetRef: { kind: 'Deployment', name: deploymentName },
    })
  })

  it.each([
    ['config.PGA_PORT=9000', 'config.PGA_PORT: the chart sets PGA_PORT from other values'],
    ['config.PGA_ADMIN_TOKEN=abc', 'config.PGA_ADMIN_TOKEN is a secret'],
    ['extraEnv.DATABASE_URL=postgres://a@b/c', 'extraEnv.DATABASE_URL: the chart sets DATABASE_URL'],
    [
      'postgresql.mode=external,masterKey.existingSecret=k',
      'postgresql.mode=external needs postgresql.external.existingSecret',
    ],
    [
      'postgresql.mode=external,postgresql.external.url=postgres://a@b/c',
      'postgresql.mode=external/bundled needs a master key',
    ],
    [
      'redis.mode=external,redis.external.url=redis://r:6379,redis.external.topology=sentinel',
      'needs redis.external.sentinels',
    ],
  ])('refuses --set-string %s', async (set, message) => {
    const render = await helmTemplate('values.yaml', ['--set-string', set])
    expect(render.code).not.toBe(0)
    expect(render.stderr).toContain(message)
  })

  it('refuses an ExternalSecret that lacks a key the chart reads from it', async () => {
    // A secretEnv entry without a secretName reads from the ExternalSecret's Secret.
    const render = await helmTemplate('values-enterprise.yaml', [
      '--set',
      'secretEnv.PGA_S3_SECRET_ACCESS_KEY.key=s3-secret-key',
    ])
    expect(render.code).not.toBe(0)
    expect(render.stderr).toContain('externalSecret.data has no key "s3-secret-key"')
  })

  it('the embedded store keeps one writer on its volume during updates', () => {
    const { deployment } = deploymentOf(rendered('values.yaml').docs)
    expect(deployment.spec?.strategy).toEqual({
      type: 'RollingUpdate',
      rollingUpdate: { maxSurge: 0, maxUnavailable: 1 },
    })
    const shared = deploymentOf(rendered('values-prod.yaml').docs).deployment
    expect(shared.spec?.strategy).toMatchObject({ rollingUpdate: { maxUnavailable: 0 } })
  })
})

describe('AWS Application Load Balancer (cloud/aws/alb.yaml)', () => {
  const template = join(root, 'cloud', 'aws', 'alb.yaml')

  // Both cfn-lint runs (a few seconds each) start together; each test awaits its own.
  let runs: { template: Promise<Result>; broken: Promise<Result> } | undefined
  const cfnLint = () => {
    if (!runs) {
      const broken = join(workDir, 'alb-broken.yaml')
      writeFileSync(
        broken,
        readFileSync(template, 'utf8').replace('HealthCheckPath: /readyz', 'HealthCheckPathh: /readyz'),
      )
      runs = {
        template: exec(toolPath('cfn-lint'), [template]),
        broken: exec(toolPath('cfn-lint'), [broken]),
      }
    }
    return runs
  }

  it('passes cfn-lint with no error and no warning', async () => {
    const result = await cfnLint().template
    expect(result.stdout + result.stderr).toBe('')
    expect(result.code).toBe(0)
  })

  it('cfn-lint reports a broken copy', async () => {
    const result = await cfnLint().broken
    expect(result.code).not.toBe(0)
    expect(result.stdout).toContain('HealthCheckPathh')
  })

  it('health-checks /readyz fast, drains for the shutdown grace, and redirects HTTP to HTTPS', () => {
    // `!Ref X` reads as {Ref: X}; the other short forms (!If, !GetAtt, ...) as their plain values.
    type Resource = { Type: string; Properties: Record<string, unknown> }
    const cfn = parse(readFileSync(template, 'utf8'), {
      customTags: [{ tag: '!Ref', resolve: (value: string) => ({ Ref: value }) }],
      logLevel: 'error',
    }) as { Parameters: Record<string, { Default?: unknown }>; Resources: Record<string, Resource> }
    const group = cfn.Resources.TargetGroup?.Properties ?? {}
    expect(group).toMatchObject({
      HealthCheckPath: '/readyz',
      HealthCheckIntervalSeconds: 5,
      HealthyThresholdCount: 2,
      UnhealthyThresholdCount: 2,
    })
    const attributes = Object.fromEntries(
      (group.TargetGroupAttributes as { Key: string; Value: unknown }[]).map((a) => [a.Key, a.Value]),
    )
    expect(attributes['deregistration_delay.timeout_seconds']).toEqual({ Ref: 'ShutdownGraceSeconds' })
    expect(attributes['stickiness.enabled']).toBe('false')
    const values = parse(readFileSync(join(chartDir, 'values.yaml'), 'utf8')) as {
      shutdown: { graceSeconds: number }
    }
    expect(cfn.Parameters.ShutdownGraceSeconds?.Default).toBe(values.shutdown.graceSeconds)

    const listeners = Object.values(cfn.Resources).filter(
      (r) => r.Type === 'AWS::ElasticLoadBalancingV2::Listener',
    )
    const https = listeners.find((l) => l.Properties.Protocol === 'HTTPS')
    expect(https?.Properties.Certificates).toEqual([{ CertificateArn: { Ref: 'CertificateArn' } }])
    const http = listeners.find((l) => l.Properties.Protocol === 'HTTP')
    expect(http?.Properties.DefaultActions).toMatchObject([
      { Type: 'redirect', RedirectConfig: { Protocol: 'HTTPS', Port: '443', StatusCode: 'HTTP_301' } },
    ])
  })
})

describe('docs/HELM_VALUES_REFERENCE.md', () => {
  it('matches values.yaml (node_modules/.bin/bun scripts/render-helm-values-doc.ts)', () => {
    const doc = readFileSync(join(root, 'docs', 'HELM_VALUES_REFERENCE.md'), 'utf8')
    expect(doc).toBe(expectedHelmValuesDoc())
  })

  it('documents every value of values.yaml (itself or through its parent)', () => {
    const text = readFileSync(join(chartDir, 'values.yaml'), 'utf8')
    const documented = new Set(documentedKeys(text).map((k) => k.path))
    const leaves = (value: unknown, path: string): string[] =>
      value !== null && typeof value === 'object' && !Array.isArray(value) && Object.keys(value).length > 0
        ? Object.entries(value).flatMap(([key, inner]) => leaves(inner, path ? `${path}.${key}` : key))
        : [path]
    const undocumented = leaves(parse(text), '').filter((path) => {
      const parts = path.split('.')
      return !parts.some((_, i) => documented.has(parts.slice(0, i + 1).join('.')))
    })
    expect(undocumented).toEqual([])
  })

  it('the generator picks descriptions, continuation lines and @default overrides', () => {
    const doc = renderHelmValuesDoc(
      [
        '# header, not documentation',
        '',
        'a:',
        '  # -- first line',
        '  # second line',
        '  b: 1',
        '  # plain comment',
        '  c: x',
        '# -- a list',
        '# @default -- computed',
        'd:',
        '  - e: 1',
        '    f: 2',
        '',
      ].join('\n'),
    )
    expect(doc).toContain('| `a.b` | int | `1` | first line second line |')
    expect(doc).toContain('| `d` | list | computed | a list |')
    expect(doc).not.toContain('`a.c`')
    expect(doc).not.toContain('`d.e`')
  })
})
