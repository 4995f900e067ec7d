// The balancer templates and their render step: rendered configurations pass `haproxy -c` and
// `nginx -t`; bad or missing values and unfilled placeholders are refused with the field named.
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { beforeAll, describe, expect, it } from 'vitest'
import {
  type BalancerValues,
  renderBalancer,
  renderTemplate,
  writeBalancerConfig,
} from '../../scripts/render-balancer.ts'
import { makeCertificates } from '../harness/certificates.ts'
import { run, tempDir } from '../harness/processes.ts'
import { bunBin, repoRoot } from '../support/service-process.ts'

let values: BalancerValues
beforeAll(async () => {
  const dir = tempDir('lb-config')
  const certificates = await makeCertificates(dir)
  mkdirSync(join(dir, 'run'))
  values = {
    replicas: [
      { name: 'a', address: '10.0.0.11:8080' },
      { name: 'b', address: '10.0.0.12:8080' },
      { name: 'c', address: '[fd00::13]:8080' },
    ],
    tlsCertificate: certificates.cert,
    tlsKey: certificates.key,
    runDir: join(dir, 'run'),
    nginxUser: 'root',
  }
})

describe('balancer configuration', () => {
  it('renders an HAProxy configuration that haproxy -c accepts, with every replica', async () => {
    const file = writeBalancerConfig('haproxy', values, tempDir('haproxy-conf'))
    const text = readFileSync(file, 'utf8')
    expect(text).not.toMatch(/\{\{/)
    for (const server of ['server a 10.0.0.11:8080', 'server b 10.0.0.12:8080', 'server c [fd00::13]:8080'])
      expect(text).toContain(server)
    const { stdout } = await run('haproxy', ['-c', '-f', file])
    expect(stdout).toMatch(/Configuration file is valid/)
  })

  it('renders an nginx configuration (with its includes) that nginx -t accepts', async () => {
    const dir = tempDir('nginx-conf')
    const file = writeBalancerConfig('nginx', values, dir)
    const upstream = readFileSync(join(dir, 'pganalytics-upstream.conf'), 'utf8')
    expect(upstream).toContain('server [fd00::13]:8080 max_fails=1')
    const { stderr } = await run('nginx', ['-t', '-c', file])
    expect(stderr).toMatch(/test is successful/)
  })

  it('refuses unknown or invalid values, naming the field', () => {
    expect(() => renderBalancer('haproxy', { ...values, replica: [] }, '/tmp')).toThrow(/replica/)
    expect(() => renderBalancer('haproxy', { ...values, replicas: [] }, '/tmp')).toThrow(
      /at least one replica/,
    )
    expect(() =>
      renderBalancer('nginx', { ...values, replicas: [{ name: 'a', address: '10.0.0.1' }] }, '/tmp'),
    ).toThrow(/host:port/)
    expect(() => renderBalancer('nginx', { ...values, tlsKey: 'server.key' }, '/tmp')).toThrow(
      /absolute path/,
    )
    expect(() => renderBalancer('nginx', { ...values, healthCheckInterval: '1 second' }, '/tmp')).toThrow(
      /duration/,
    )
  })

  it('refuses a template placeholder without a value', () => {
    expect(() => renderTemplate('bind {{address}}\n', {}, {})).toThrow(/\{\{address\}\} has no value/)
    expect(() => renderTemplate('{{#servers}}\nx\n{{/servers}}\n', {}, {})).toThrow(/no list named servers/)
    expect(
      renderTemplate('a {{x}}\n{{#list}}\n- {{x}} {{y}}\n{{/list}}\n', { x: '1' }, { list: [{ y: '2' }] }),
    ).toBe('a 1\n- 1 2\n')
  })

  it('has a command line that writes the files or exits 2 with the reason', async () => {
    const dir = tempDir('render-cli')
    const valuesFile = join(dir, 'values.json')
    writeFileSync(valuesFile, JSON.stringify(values))
    const script = join(repoRoot, 'scripts', 'render-balancer.ts')
    const { stdout } = await run(bunBin, [script, 'nginx', '--values', valuesFile, '--out', join(dir, 'out')])
    expect(stdout.trim()).toBe(join(dir, 'out', 'nginx.conf'))
    writeFileSync(valuesFile, JSON.stringify({ ...values, httpsPort: 'x' }))
    const failed = await run(bunBin, [script, 'haproxy', '--values', valuesFile, '--out', dir]).catch(
      (error: { code: number; stderr: string }) => error,
    )
    expect(failed).toMatchObject({ code: 2, stderr: expect.stringMatching(/^render-balancer: httpsPort: /) })
  })
})
