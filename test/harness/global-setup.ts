// vitest globalSetup: one real PostgreSQL and one real Redis for the whole run. Test files get
// their URLs through inject('pgUrl') / inject('redisUrl') and create their own databases / key
// prefixes, so files can run in parallel without sharing rows.
import type {} from 'vitest'
import type { TestProject } from 'vitest/node'
import { startPostgres } from './postgres.ts'
import { startRedis } from './redis.ts'

declare module 'vitest' {
  export interface ProvidedContext {
    pgUrl: string
    pgVersion: number
    pgCaFile: string
    redisUrl: string
  }
}

export default async function setup(project: TestProject) {
  const [pg, redis] = await Promise.all([startPostgres(), startRedis()])
  project.provide('pgUrl', pg.url)
  project.provide('pgVersion', pg.version)
  project.provide('pgCaFile', pg.caFile)
  project.provide('redisUrl', redis.url)
  return async () => {
    await Promise.all([pg.stop(), redis.stop()])
  }
}
