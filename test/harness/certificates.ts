// Throwaway TLS material for test servers: a CA and a server certificate for 127.0.0.1 and
// localhost, made with openssl. Used by the TLS Redis and the TLS-enabled test PostgreSQL.
import { writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { run } from './processes.ts'

/** Writes a throwaway CA and a server certificate for 127.0.0.1/localhost into `dir`. */
export async function makeCertificates(dir: string) {
  const file = (name: string) => join(dir, name)
  const ec = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes']
  const caSubject = ['-days', '1', '-subj', '/CN=pga-test-ca']
  await run('openssl', [
    'req',
    '-x509',
    ...ec,
    '-keyout',
    file('ca.key'),
    '-out',
    file('ca.crt'),
    ...caSubject,
  ])
  await run('openssl', [
    'req',
    ...ec,
    '-keyout',
    file('server.key'),
    '-out',
    file('server.csr'),
    '-subj',
    '/CN=localhost',
  ])
  writeFileSync(
    file('server.ext'),
    [
      'basicConstraints=CA:FALSE',
      'extendedKeyUsage=serverAuth',
      'subjectAltName=IP:127.0.0.1,DNS:localhost',
      '',
    ].join('\n'),
  )
  await run('openssl', [
    'x509',
    '-req',
    '-in',
    file('server.csr'),
    '-CA',
    file('ca.crt'),
    '-CAkey',
    file('ca.key'),
    '-CAcreateserial',
    '-out',
    file('server.crt'),
    '-days',
    '1',
    '-extfile',
    file('server.ext'),
  ])
  return { ca: file('ca.crt'), cert: file('server.crt'), key: file('server.key') }
}
