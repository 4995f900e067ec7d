// An ephemeral S3-compatible server (s3rver, files in a temporary directory) on a free loopback
// port, with one bucket. It signs and checks requests like S3 with its fixed credentials.
import { rmSync } from 'node:fs'
import type { AddressInfo } from 'node:net'
import S3rver from 's3rver'
import type { S3Settings } from '../../src/platform/blob/blob-store.ts'
import { tempDir } from './processes.ts'

export type TestS3 = { endpoint: string; bucket: string; settings: S3Settings; stop(): Promise<void> }

export async function startS3(bucket = 'pga-test'): Promise<TestS3> {
  const directory = tempDir('s3')
  const server = new S3rver({
    address: '127.0.0.1',
    port: 0,
    silent: true,
    directory,
    configureBuckets: [{ name: bucket, configs: [] }],
  })
  const address = (await server.run()) as AddressInfo
  const endpoint = `http://127.0.0.1:${address.port}`
  return {
    endpoint,
    bucket,
    settings: {
      endpoint,
      region: 'us-east-1',
      accessKeyId: 'S3RVER',
      secretAccessKey: 'S3RVER',
      forcePathStyle: true,
    },
    async stop() {
      await server.close()
      rmSync(directory, { recursive: true, force: true })
    },
  }
}
