// `serve` loads the API one capability at a time (src/serving-app.ts) and picks the capability
// from src/api-routes.json. These prove the table says what the routes do: it is what the code
// generates, each capability's loader gives the routes createApp mounts, and every route of the
// API is sent to the capability that defines it, as Hono would route it.
import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import { describe, expect, it } from 'vitest'
import { apiRoutesOf, type CapabilityName, capabilityLoaders } from '../../src/api-capabilities.ts'
import apiRoutes from '../../src/api-routes.json' with { type: 'json' }
import { capabilityRoutes } from '../../src/app.ts'
import { generateApiRouteTable } from '../../src/openapi-document.ts'
import { capabilityOwner } from '../../src/serving-app.ts'

const committed = readFileSync(join(import.meta.dirname, '..', '..', 'src', 'api-routes.json'), 'utf8')
const table = generateApiRouteTable()
const ownerOf = capabilityOwner(apiRoutesOf(apiRoutes))

/** A request path for a route pattern: each parameter given a value. */
const concrete = (pattern: string) => pattern.replace(/:[A-Za-z]+/g, 'p1')

describe('the route table (src/api-routes.json)', () => {
  it('is what the routes generate (run npm run openapi when this fails)', () => {
    expect(committed).toBe(`${JSON.stringify(table, null, 2)}\n`)
  })

  it('loads, for each capability, the routes createApp mounts', async () => {
    expect(Object.keys(capabilityLoaders)).toEqual(Object.keys(capabilityRoutes))
    for (const [name, load] of Object.entries(capabilityLoaders))
      expect(await load()).toBe(capabilityRoutes[name as CapabilityName])
  })

  it('sends every route to the capability that defines it', () => {
    let checked = 0
    for (const [name, routes] of Object.entries(table))
      for (const route of routes) {
        const [method = '', pattern = ''] = route.split(' ')
        expect(`${route} → ${ownerOf(method, concrete(pattern))}`).toBe(`${route} → ${name}`)
        checked++
      }
    expect(checked).toBeGreaterThan(80)
  })

  it('answers HEAD from the GET route, and owns nothing for a method or path no route serves', () => {
    expect(ownerOf('HEAD', '/api/v1/instances/p1/report')).toBe('metrics')
    expect(ownerOf('HEAD', '/api/v1/backup-schedules')).toBe('backups')
    expect(ownerOf('PUT', '/api/v1/instances')).toBeUndefined()
    expect(ownerOf('OPTIONS', '/api/v1/instances')).toBeUndefined()
    expect(ownerOf('GET', '/api/v1/instances/')).toBeUndefined()
    expect(ownerOf('GET', '/api/v1/no-such-thing')).toBeUndefined()
  })

  it('owns nothing for a fixed path asked with another method, even where a parameter route matches', () => {
    // GET /api/v1/backups/:backupId would take it; the pipeline answers 405 instead.
    expect(ownerOf('GET', '/api/v1/backups/trigger')).toBeUndefined()
    expect(ownerOf('POST', '/api/v1/backups/trigger')).toBe('backups')
    expect(ownerOf('GET', '/api/v1/backups/b1')).toBe('backups')
  })

  it('routes a percent-escaped path as Hono decodes it', () => {
    expect(ownerOf('GET', '/api/v1/%69nstances')).toBe('instances')
    expect(ownerOf('GET', '/api/v1/instances/%E2%82%AC/snapshots')).toBe('metrics')
    // An escape that is not UTF-8 stays as it is: still one segment.
    expect(ownerOf('GET', '/api/v1/instances/%A4%A2/snapshots')).toBe('metrics')
  })
})
