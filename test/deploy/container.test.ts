// The container image, proved without a Docker daemon. container/make-rootfs.sh assembles the
// runtime root file system (what the Dockerfile's final stage copies onto `scratch`); the test
// runs the binary and the PostgreSQL tools from it as the image's user with the root read-only,
// in a private mount and PID namespace (unshare + a read-only bind mount + chroot, as root), with
// the image's USER, ENV, ENTRYPOINT and CMD read from the Dockerfile. The Dockerfile passes
// hadolint, and the manifest in the image lists every entry of the tree with its SHA-256.

import type { ChildProcess } from 'node:child_process'
import { createHash } from 'node:crypto'
import { createSocket } from 'node:dgram'
import {
  chmodSync,
  chownSync,
  copyFileSync,
  existsSync,
  lstatSync,
  mkdirSync,
  readdirSync,
  readFileSync,
  readlinkSync,
  rmSync,
  statSync,
  writeFileSync,
} from 'node:fs'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest'
import { createTestDatabase } from '../harness/postgres.ts'
import { freePort, run, spawn, stopChild, tempDir } from '../harness/processes.ts'
import { toolPath } from '../harness/tools.ts'
import { testMasterKey } from '../support/master-key.ts'
import { ensureBuilt, repoRoot } from '../support/service-process.ts'

const dockerfile = readFileSync(join(repoRoot, 'Dockerfile'), 'utf8')
const manifestPath = '/usr/share/pganalytics/rootfs.manifest'
const dataDir = '/var/lib/pganalytics'
const pgTools = [
  'pg_basebackup',
  'pg_receivewal',
  'pg_dump',
  'pg_restore',
  'pg_dumpall',
  'psql',
  'pg_verifybackup',
  'pg_waldump',
  'pg_controldata',
]

type Instruction = { keyword: string; args: string }

/** The Dockerfile as instructions (continuations joined, comments dropped), split by stage. */
function dockerfileStages(text: string): Instruction[][] {
  const stages: Instruction[][] = []
  for (const line of text.replace(/\\\n/g, ' ').split('\n')) {
    const trimmed = line.trim()
    if (!trimmed || trimmed.startsWith('#')) continue
    const [keyword = '', ...rest] = trimmed.split(/\s+/)
    const instruction = { keyword: keyword.toUpperCase(), args: rest.join(' ') }
    if (instruction.keyword === 'FROM') stages.push([])
    stages.at(-1)?.push(instruction)
  }
  return stages
}

/** What `docker run` would take from the final stage: user, environment, command line. */
function imageConfig(stage: Instruction[]) {
  const env: Record<string, string> = {}
  let user = 'root'
  let entrypoint: string[] = []
  let cmd: string[] = []
  for (const { keyword, args } of stage) {
    if (keyword === 'USER') user = args
    if (keyword === 'ENTRYPOINT') entrypoint = JSON.parse(args)
    if (keyword === 'CMD') cmd = JSON.parse(args)
    if (keyword === 'ENV')
      for (const pair of args.split(/\s+/)) {
        const [name, ...value] = pair.split('=')
        if (!name || value.length === 0) throw new Error(`ENV ${pair}: write NAME=value pairs`)
        env[name] = value.join('=')
      }
  }
  return { user, env, entrypoint, cmd }
}

const stages = dockerfileStages(dockerfile)
const finalStage = stages.at(-1) ?? []
const image = imageConfig(finalStage)
const [imageUid, imageGid] = image.user.split(':').map(Number)

/** One manifest line per entry of the tree, recomputed from the files (see make-rootfs.sh). */
function describeTree(root: string): string[] {
  const lines: string[] = []
  const visit = (relative: string) => {
    for (const name of readdirSync(join(root, relative))) {
      const path = `${relative}/${name}`
      const stat = lstatSync(join(root, path))
      const owner = `${stat.uid}:${stat.gid}`
      const mode = (stat.mode & 0o7777).toString(8)
      if (stat.isSymbolicLink())
        lines.push(['l', mode, owner, '-', '-', path, readlinkSync(join(root, path))].join('\t'))
      else if (stat.isDirectory()) {
        lines.push(['d', mode, owner, '-', '-', path, ''].join('\t'))
        visit(path)
      } else if (path === manifestPath) lines.push(['f', mode, owner, '-', '-', path, ''].join('\t'))
      else {
        const hash = createHash('sha256')
          .update(readFileSync(join(root, path)))
          .digest('hex')
        lines.push(['f', mode, owner, String(stat.size), hash, path, ''].join('\t'))
      }
    }
  }
  visit('')
  return lines.sort()
}

let work: string
let rootfs: string
let mountPoint: string
const chroot = ['/usr/sbin/chroot', '/usr/bin/chroot'].find((p) => existsSync(p)) ?? 'chroot'
const env = ['/usr/bin/env', '/bin/env'].find((p) => existsSync(p)) ?? 'env'

beforeAll(async () => {
  await ensureBuilt()
  work = tempDir('container')
  rootfs = join(work, 'rootfs')
  mountPoint = join(work, 'mnt')
  mkdirSync(mountPoint)
  await run('bash', [join(repoRoot, 'container', 'make-rootfs.sh'), rootfs], { maxBuffer: 4 * 1024 * 1024 })
}, 600_000)

afterAll(async () => {
  if (!work) return
  // Every mount lives in a private namespace that ended with its process; check, then unmount
  // anything that would still be there before deleting.
  const mounts = readFileSync('/proc/self/mountinfo', 'utf8')
    .split('\n')
    .map((line) => line.split(' ')[4] ?? '')
    .filter((point) => point.startsWith(work))
    .sort((a, b) => b.length - a.length)
  for (const point of mounts) await run('umount', ['-l', point]).catch(() => {})
  rmSync(work, { recursive: true, force: true })
})

describe('the runtime root file system (container/make-rootfs.sh)', () => {
  it('has a manifest listing every entry of the tree with its mode, owner and SHA-256', () => {
    const manifest = readFileSync(join(rootfs, manifestPath), 'utf8')
      .split('\n')
      .filter((line) => line && !line.startsWith('#'))
      .sort()
    const tree = describeTree(rootfs)
    expect(manifest).toEqual(tree)
    const files = tree.filter((line) => line.startsWith('f\t'))
    const bytes = files.reduce((sum, line) => sum + (Number(line.split('\t')[3]) || 0), 0)
    console.info(`rootfs: ${tree.length} entries, ${files.length} files, ${(bytes / 2 ** 20).toFixed(1)} MiB`)
  })

  it('holds the binary, the real PostgreSQL programs and the user, and is owned by root', () => {
    const sha256 = (path: string) => createHash('sha256').update(readFileSync(path)).digest('hex')
    // The built binary as it was given (never stripped: the app is embedded in it).
    const recorded = readFileSync(join(rootfs, manifestPath), 'utf8').match(
      /^# binary: ([0-9a-f]{64}) /m,
    )?.[1]
    expect(sha256(join(rootfs, 'usr/local/bin/pganalytics'))).toBe(recorded)
    for (const tool of pgTools) {
      const target = readlinkSync(join(rootfs, 'usr/local/bin', tool))
      expect(target).toMatch(new RegExp(`^/usr/lib/postgresql/\\d+/bin/${tool}$`))
      // ELF programs, not Debian's perl wrapper (there is no perl in the image).
      expect(readFileSync(join(rootfs, target)).subarray(0, 4)).toEqual(Buffer.from('\x7fELF', 'latin1'))
    }
    expect(readFileSync(join(rootfs, 'etc/passwd'), 'utf8').trim().split('\n')).toEqual([
      'root:x:0:0:root:/root:/usr/sbin/nologin',
      `pganalytics:x:${imageUid}:${imageGid}:pgAnalytics:${dataDir}:/usr/sbin/nologin`,
    ])
    expect(readFileSync(join(rootfs, 'etc/group'), 'utf8').trim().split('\n')).toEqual([
      'root:x:0:',
      `pganalytics:x:${imageGid}:`,
    ])
    expect(statSync(join(rootfs, 'etc/ssl/certs/ca-certificates.crt')).size).toBeGreaterThan(100_000)
    const data = statSync(join(rootfs, dataDir))
    expect([data.uid, data.gid, data.mode & 0o7777]).toEqual([imageUid, imageGid, 0o700])
    expect(statSync(join(rootfs, 'tmp')).mode & 0o7777).toBe(0o1777)
    const notRoot = describeTree(rootfs).filter((line) => !line.split('\t')[2]?.startsWith('0:0'))
    expect(notRoot.map((line) => line.split('\t')[5])).toEqual([dataDir])
  })
})

describe('the Dockerfile', () => {
  it('builds in a stage and runs as a non-root user from scratch, with no HEALTHCHECK', () => {
    expect(stages.length).toBeGreaterThanOrEqual(2)
    expect(stages[0]?.[0]?.args).toMatch(/^node:\d+-bookworm AS build$/)
    expect(
      stages[0]?.some((i) => i.keyword === 'RUN' && i.args.includes('container/make-rootfs.sh /rootfs')),
    ).toBe(true)
    expect(finalStage[0]?.args).toBe('scratch')
    expect(finalStage.some((i) => i.keyword === 'COPY' && i.args === '--from=build /rootfs/ /')).toBe(true)
    expect(stages.flat().some((i) => i.keyword === 'HEALTHCHECK')).toBe(false)
    expect(imageUid).toBeGreaterThan(0)
    expect(image).toMatchObject({
      entrypoint: ['/usr/local/bin/pganalytics'],
      cmd: ['serve'],
      env: { PGA_HOST: '0.0.0.0', PGA_DATA_DIR: dataDir },
    })
    expect(finalStage.find((i) => i.keyword === 'EXPOSE')?.args).toBe(image.env.PGA_PORT ?? '8080')
    const { version } = JSON.parse(readFileSync(join(repoRoot, 'package.json'), 'utf8'))
    expect(finalStage.find((i) => i.keyword === 'ARG' && i.args.startsWith('VERSION='))?.args).toBe(
      `VERSION=${version}`,
    )
  })

  it('passes hadolint; the only rule it ignores is explained where it is ignored', async () => {
    const hadolint = toolPath('hadolint')
    const lint = (extra: string[]) =>
      run(hadolint, ['--format', 'json', '--failure-threshold', 'style', ...extra, 'Dockerfile'], {
        cwd: repoRoot,
      }).then(
        ({ stdout }) => JSON.parse(stdout || '[]'),
        (error) => {
          if (error.code === 'ENOENT') throw new Error('hadolint not found: run bash scripts/ensure-tools.sh')
          return JSON.parse(error.stdout || '[]')
        },
      )
    expect(await lint([])).toEqual([])
    // Without the inline pragmas: only DL3008 (unpinned Debian packages), whose pragma says why.
    const findings: { code: string; line: number }[] = await lint(['--disable-ignore-pragma'])
    expect([...new Set(findings.map((f) => f.code))]).toEqual(['DL3008'])
    const lines = dockerfile.split('\n')
    for (const { line } of findings) {
      const pragma = lines.findLastIndex((l, i) => i < line && l.startsWith('# hadolint ignore=DL3008'))
      expect(pragma).toBeGreaterThan(0)
      expect(lines[pragma - 1]).toMatch(/^# .*not pinned/)
    }
  })
})

/** How a process is run in the image: a volume at the data directory, files bound in. */
type Jail = {
  /** `uid:gid` (default: the Dockerfile's USER). */
  user?: string
  /** Variables over the image's ENV and HOME. */
  env?: Record<string, string>
  /** Host directory mounted at /var/lib/pganalytics; none leaves the read-only directory. */
  volume?: string
  /** Host files bound read-only over existing files of the image (as Docker does /etc/hosts). */
  binds?: [string, string][]
  /** A tmpfs on /tmp (default: yes, as `docker run --read-only --tmpfs /tmp`). */
  tmpfs?: boolean
}

// Runs in a new mount and PID namespace as root (unshare --kill-child: the namespace dies with
// unshare): the root file system bound read-only, proc, a minimal /dev as Docker makes it, tmpfs
// on /tmp, an optional volume, bound files; then the command with only the given environment,
// chrooted as the given user. The mounts end with the namespace.
const jailScript = `set -eu
root=$1 rootfs=$2 volume=$3 binds=$4 tmpfs=$5; shift 5
mount --bind "$rootfs" "$root"
mount -o remount,bind,ro,nosuid,nodev "$root"
mount -t proc -o nosuid,nodev,noexec proc "$root/proc"
mount -t tmpfs -o nosuid,mode=0755 tmpfs "$root/dev"
for node in null zero full random urandom tty; do
  touch "$root/dev/$node"
  mount --bind "/dev/$node" "$root/dev/$node"
done
ln -s /proc/self/fd "$root/dev/fd"
mkdir "$root/dev/shm"
mount -t tmpfs -o nosuid,nodev,mode=1777 tmpfs "$root/dev/shm"
if [ "$tmpfs" = yes ]; then mount -t tmpfs -o nosuid,nodev,mode=1777 tmpfs "$root/tmp"; fi
if [ -n "$volume" ]; then mount --bind "$volume" "$root/var/lib/pganalytics"; fi
printf '%s\\n' "$binds" | while IFS='|' read -r from to; do
  if [ -n "$from" ]; then mount --bind "$from" "$root$to"; mount -o remount,bind,ro "$root$to"; fi
done
exec "$@"
`

function jailArgs(argv: string[], jail: Jail = {}): string[] {
  const variables = { ...image.env, HOME: dataDir, HOSTNAME: 'pganalytics', ...jail.env }
  return [
    '--mount',
    '--pid',
    '--fork',
    '--kill-child',
    '--propagation',
    'private',
    'sh',
    '-c',
    jailScript,
    'pga-jail',
    mountPoint,
    rootfs,
    jail.volume ?? '',
    (jail.binds ?? []).map(([from, to]) => `${from}|${to}`).join('\n'),
    jail.tmpfs === false ? 'no' : 'yes',
    env,
    '-i',
    ...Object.entries(variables).map(([name, value]) => `${name}=${value}`),
    chroot,
    `--userspec=${jail.user ?? image.user}`,
    mountPoint,
    ...argv,
  ]
}

/** Runs a command inside the image to its end; rejects (with code, stdout, stderr) on failure. */
function runInImage(argv: string[], jail: Jail = {}) {
  return run('unshare', jailArgs(argv, jail), { env: { PATH: process.env.PATH ?? '' }, timeout: 120_000 })
}

async function failureOf(
  promise: Promise<unknown>,
): Promise<{ code: number; stdout: string; stderr: string }> {
  return promise.then(
    () => {
      throw new Error('expected the command to fail')
    },
    (error) => error,
  )
}

/** A writable directory for the data volume, owned by the image's user (as Docker seeds it). */
function volume(name: string): string {
  const dir = join(work, name)
  rmSync(dir, { recursive: true, force: true })
  mkdirSync(dir)
  chownSync(dir, imageUid ?? 0, imageGid ?? 0)
  chmodSync(dir, 0o700)
  return dir
}

type Served = {
  url: string
  pid: number
  child: ChildProcess
  exited: Promise<number | null>
  output(): string
}
const started: Served[] = []

/** The process the namespace runs (the child of unshare), once it has exec'd the entrypoint. */
function entrypointPid(parent: number): number | undefined {
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue
    try {
      const stat = readFileSync(`/proc/${entry}/stat`, 'utf8')
      const ppid = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1])
      const argv0 = readFileSync(`/proc/${entry}/cmdline`, 'utf8').split('\0')[0]
      if (ppid === parent && argv0 === image.entrypoint[0]) return Number(entry)
    } catch {
      // the process ended while we looked
    }
  }
  return undefined
}

/** Starts the image's command (ENTRYPOINT + CMD: serve) on a free loopback port; waits for /readyz. */
async function serveInImage(jail: Jail): Promise<Served> {
  const port = await freePort()
  const child = spawn(
    'unshare',
    jailArgs([...image.entrypoint, ...image.cmd], {
      ...jail,
      env: { PGA_HOST: '127.0.0.1', PGA_PORT: String(port), ...jail.env },
    }),
    { env: { PATH: process.env.PATH ?? '' }, stdio: ['ignore', 'pipe', 'pipe'] },
  )
  let output = ''
  child.stdout?.on('data', (chunk: Buffer) => {
    output += chunk.toString()
  })
  child.stderr?.on('data', (chunk: Buffer) => {
    output += chunk.toString()
  })
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)))
  const served: Served = { url: `http://127.0.0.1:${port}`, pid: 0, child, exited, output: () => output }
  started.push(served)
  const deadline = Date.now() + 240_000
  while (Date.now() < deadline) {
    if (child.exitCode !== null || child.signalCode !== null)
      throw new Error(`exited with ${child.exitCode ?? child.signalCode}: ${output}`)
    served.pid ||= entrypointPid(child.pid ?? -1) ?? 0
    const ready = await fetch(`${served.url}/readyz`).then(
      (r) => r.status === 200,
      () => false,
    )
    if (ready && served.pid) return served
    await new Promise((r) => setTimeout(r, 200))
  }
  throw new Error(`not ready within 240 s: ${output}`)
}

/** SIGTERM to the entrypoint (PID 1 of its namespace, as in a container); its exit code. */
async function stopServed(served: Served): Promise<number | null> {
  process.kill(served.pid, 'SIGTERM')
  const timer = setTimeout(() => {
    if (served.child.exitCode === null) process.kill(served.pid, 'SIGKILL')
  }, 60_000)
  const code = await served.exited
  clearTimeout(timer)
  return code
}

function procStatus(pid: number): Record<string, string> {
  return Object.fromEntries(
    readFileSync(`/proc/${pid}/status`, 'utf8')
      .trim()
      .split('\n')
      .map((line) => {
        const [name = '', ...value] = line.split(':')
        return [name, value.join(':').trim()]
      }),
  )
}

describe('the image run as its non-root user on a read-only root', () => {
  beforeAll(() => {
    if (process.getuid?.() !== 0)
      throw new Error('these tests need root (unshare --mount, mount, chroot), as npm test has in CI')
  })
  afterAll(async () => {
    for (const served of started)
      if (served.child.exitCode === null && served.child.signalCode === null) {
        if (served.pid) process.kill(served.pid, 'SIGKILL')
        await stopChild(served.child, 'SIGKILL')
      }
  })

  it('runs `pganalytics version`', async () => {
    const { stdout } = await runInImage([...image.entrypoint, 'version'])
    expect(stdout).toMatch(/^pganalytics \d+\.\d+\.\d+ \(\S+\) bun \d/)
  })

  it('runs the PostgreSQL client tools: every library they load is in the image', async () => {
    for (const tool of pgTools) {
      const { stdout } = await runInImage([`/usr/local/bin/${tool}`, '--version'])
      expect(stdout).toMatch(new RegExp(`^${tool} \\(PostgreSQL\\) \\d+`))
    }
  })

  it('cannot write to the root file system (EROFS), as its own user or as root', async () => {
    // The data directory belongs to the image's user: without a volume, only the read-only
    // mount stops the write.
    const asUser = await failureOf(runInImage([...image.entrypoint, 'migrate']))
    expect(asUser.code).toBe(1)
    expect(asUser.stderr).toMatch(/EROFS: read-only file system/)
    const asRoot = await failureOf(
      runInImage([...image.entrypoint, 'migrate'], {
        user: '0:0',
        env: { PGA_DATA_DIR: '/etc/pganalytics' },
      }),
    )
    expect(asRoot.stderr).toMatch(/EROFS: read-only file system, mkdir '\/etc\/pganalytics'/)
    const pgDump = await failureOf(
      runInImage(['/usr/local/bin/pg_dump', '--schema-only', '-f', `${dataDir}/dump.sql`, inject('pgUrl')]),
    )
    expect(pgDump.stderr).toMatch(/could not open output file .*: Read-only file system/)
  })

  it('needs a writable /tmp with the embedded store (`docker run --read-only --tmpfs /tmp`)', async () => {
    const noTmp = await failureOf(
      runInImage([...image.entrypoint, ...image.cmd], {
        volume: volume('no-tmp-volume'),
        tmpfs: false,
        env: { PGA_HOST: '127.0.0.1', PGA_PORT: String(await freePort()) },
      }),
    )
    expect(noTmp.code).toBe(1)
    expect(noTmp.stderr).toMatch(/EROFS: read-only file system, mkdtemp '\/tmp\//)
  }, 120_000)

  it('serves with the embedded defaults as uid 10001, keeps its data in the volume, stops on SIGTERM', async () => {
    const data = volume('embedded-volume')
    const served = await serveInImage({ volume: data })
    const status = procStatus(served.pid)
    expect(status.Uid?.split(/\s+/)).toEqual(Array(4).fill(String(imageUid)))
    expect(status.Gid?.split(/\s+/)).toEqual(Array(4).fill(String(imageGid)))
    const groups = status.Groups?.split(/\s+/).filter(Boolean) ?? []
    expect(groups.filter((group) => group !== String(imageGid))).toEqual([])
    expect(status.CapEff).toBe('0000000000000000')
    expect(status.NSpid?.split(/\s+/).at(-1)).toBe('1')
    // Its root is the read-only mount; /tmp and the data directory are the writable mounts.
    const mounts = readFileSync(`/proc/${served.pid}/mountinfo`, 'utf8').split('\n')
    const options = (point: string) => mounts.find((line) => line.split(' ')[4] === point)?.split(' ')[5]
    expect(options('/')).toMatch(/^ro,/)
    expect(options('/tmp')).toMatch(/^rw,/)
    expect(options(dataDir)).toMatch(/^rw,/)

    const health = await (await fetch(`${served.url}/api/v1/health`)).json()
    expect(health).toMatchObject({ checks: { store: { kind: 'embedded' } }, singleReplicaOnly: true })
    expect(served.output()).toMatch(/EMBEDDED STORE: .*single replica only/)
    const version = statSync(join(data, 'pglite', 'PG_VERSION'))
    expect([version.uid, version.gid]).toEqual([imageUid, imageGid])

    expect(await stopServed(served)).toBe(0)
  }, 300_000)

  it('reaches PostgreSQL by name over verified TLS: the binary, psql and pg_dump/pg_restore', async () => {
    const database = await createTestDatabase(inject('pgUrl'), 'pga_container')
    const data = volume('tls-volume')
    copyFileSync(inject('pgCaFile'), join(data, 'pg-ca.crt'))
    chownSync(join(data, 'pg-ca.crt'), imageUid ?? 0, imageGid ?? 0)
    const byName = new URL(database)
    byName.hostname = 'localhost' // resolved through the image's /etc/hosts and nsswitch.conf
    const port = byName.port
    const dbname = byName.pathname.slice(1)
    const conninfo = (extra: string) => `host=localhost port=${port} dbname=${dbname} user=postgres ${extra}`

    // libpq (OpenSSL) verifies the test CA and the host name from inside the image.
    const { stdout: ssl } = await runInImage(
      [
        '/usr/local/bin/psql',
        '-X',
        '-At',
        '-c',
        'select ssl from pg_stat_ssl where pid = pg_backend_pid()',
        conninfo(`sslmode=verify-full sslrootcert=${dataDir}/pg-ca.crt`),
      ],
      { volume: data },
    )
    expect(ssl.trim()).toBe('t')
    // The image's CA bundle is read (and rightly does not trust the throwaway test CA).
    const untrusted = await failureOf(
      runInImage(
        [
          '/usr/local/bin/psql',
          '-X',
          '-c',
          'select 1',
          conninfo('sslmode=verify-full sslrootcert=/etc/ssl/certs/ca-certificates.crt'),
        ],
        { volume: data },
      ),
    )
    expect(untrusted.stderr).toMatch(/certificate verify failed/)

    // The service uses it as its store, over TLS with the CA, as the image's user.
    const served = await serveInImage({
      volume: data,
      env: {
        DATABASE_URL: byName.toString(),
        PGA_DB_SSL: 'verify-full',
        PGA_DB_SSL_CA_FILE: `${dataDir}/pg-ca.crt`,
        PGA_MASTER_KEY: testMasterKey,
      },
    })
    const health = await (await fetch(`${served.url}/api/v1/health`)).json()
    expect(health).toMatchObject({ status: 'ok', checks: { store: { kind: 'postgres' } } })
    expect(await stopServed(served)).toBe(0)

    // pg_dump writes a backup into the volume as the image's user; pg_restore reads it back.
    await runInImage(
      ['/usr/local/bin/pg_dump', '-Fc', '-f', `${dataDir}/store.dump`, conninfo('sslmode=require')],
      { volume: data },
    )
    expect(statSync(join(data, 'store.dump')).uid).toBe(imageUid)
    const { stdout: listing } = await runInImage(
      ['/usr/local/bin/pg_restore', '-l', `${dataDir}/store.dump`],
      {
        volume: data,
      },
    )
    expect(listing).toMatch(/TABLE public pga_schema_migrations /)
  }, 300_000)

  it('resolves names from a runtime-provided /etc/hosts and through DNS (resolv.conf)', async () => {
    const url = new URL(inject('pgUrl'))
    const psqlTo = (host: string) => [
      '/usr/local/bin/psql',
      '-X',
      '-At',
      '-c',
      'select 42',
      `host=${host} port=${url.port} dbname=postgres user=postgres sslmode=require`,
    ]
    const hosts = join(work, 'hosts')
    writeFileSync(hosts, '127.0.0.1\tlocalhost\n127.0.0.1\tstore.pga.test\n')
    const viaHosts = await runInImage(psqlTo('store.pga.test'), { binds: [[hosts, '/etc/hosts']] })
    expect(viaHosts.stdout.trim()).toBe('42')

    // A name only a DNS server knows, as a cluster DNS serves service names.
    const dns = await startDnsServer({ 'db.pga.test': '127.0.0.1' })
    try {
      const resolvConf = join(work, 'resolv.conf')
      writeFileSync(resolvConf, `nameserver ${dns.address}\noptions timeout:5 attempts:3\n`)
      const binds: [string, string][] = [[resolvConf, '/etc/resolv.conf']]
      const viaDns = await runInImage(psqlTo('db.pga.test'), { binds })
      expect(viaDns.stdout.trim()).toBe('42')
      // The service resolves its store the same way (Bun's resolver inside the image).
      const database = new URL(await createTestDatabase(inject('pgUrl'), 'pga_container'))
      database.hostname = 'db.pga.test'
      dns.asked.length = 0
      // No volume: with an external store nothing is written outside /tmp.
      const served = await serveInImage({
        binds,
        env: { DATABASE_URL: database.toString(), PGA_DB_SSL: 'require', PGA_MASTER_KEY: testMasterKey },
      })
      expect(await stopServed(served)).toBe(0)
      expect(dns.asked).toContain('db.pga.test')
    } finally {
      await dns.close()
    }
  }, 300_000)
})

/** A minimal DNS server on UDP port 53 of a random loopback address (127.0.0.0/8 is all local):
 * A records for the given names, no AAAA, NXDOMAIN for anything else. */
async function startDnsServer(names: Record<string, string>) {
  const asked: string[] = []
  const answer = (query: Buffer): Buffer => {
    const labels: string[] = []
    let offset = 12
    while (offset < query.length && query[offset] !== 0) {
      const length = query[offset] ?? 0
      labels.push(query.subarray(offset + 1, offset + 1 + length).toString('latin1'))
      offset += length + 1
    }
    const question = query.subarray(12, offset + 5)
    const name = labels.join('.').toLowerCase()
    const type = query.readUInt16BE(offset + 1)
    asked.push(name)
    const address = names[name]
    const records =
      address && type === 1
        ? Buffer.concat([
            Buffer.from([0xc0, 0x0c, 0, 1, 0, 1, 0, 0, 0, 60, 0, 4]),
            Buffer.from(address.split('.').map(Number)),
          ])
        : Buffer.alloc(0)
    const header = Buffer.alloc(12)
    query.copy(header, 0, 0, 2)
    header.writeUInt16BE(address ? 0x8180 : 0x8183, 2)
    header.writeUInt16BE(1, 4)
    header.writeUInt16BE(records.length ? 1 : 0, 6)
    return Buffer.concat([header, question, records])
  }
  for (let attempt = 0; attempt < 20; attempt++) {
    const octet = () => 1 + Math.floor(Math.random() * 254)
    const address = `127.${octet()}.${octet()}.${octet()}`
    const socket = createSocket('udp4')
    const bound = await new Promise<boolean>((resolve) => {
      socket.once('error', () => resolve(false))
      socket.bind(53, address, () => resolve(true))
    })
    if (!bound) {
      socket.close()
      continue
    }
    socket.on('error', () => {})
    socket.on('message', (query, peer) => {
      try {
        socket.send(answer(query), peer.port, peer.address)
      } catch {
        // not a query this server understands: no answer
      }
    })
    return { address, asked, close: () => new Promise<void>((resolve) => socket.close(() => resolve())) }
  }
  throw new Error('no free loopback address for the DNS server on port 53')
}
