// Identity providers API for administrators (/api/v1/identity-providers): list, create, read,
// update, delete, test and sync. Thin: each handler calls one service verb.
import { createRoute } from '@hono/zod-openapi'
import type { Context } from 'hono'
import { auditContextOf } from '../../audit/http-context.ts'
import type { AppDeps } from '../../deps.ts'
import { createRouter, errorResponses, idempotent, jsonContent } from '../../http/openapi.ts'
import { secured } from '../middleware.ts'
import { ssoContextFrom } from './context.ts'
import { syncDirectory } from './ldap-sync.ts'
import {
  CreateIdentityProviderSchema,
  IdentityProviderListSchema,
  IdentityProviderSchema,
  ProviderNameParams,
  ProviderTestInputSchema,
  ProviderTestReportSchema,
  SyncReportSchema,
  UpdateIdentityProviderSchema,
} from './schemas.ts'
import * as providers from './service.ts'
import type { SsoContext } from './types.ts'

const tags = ['Identity providers']
const base = '/api/v1/identity-providers'

const list = createRoute({
  method: 'get',
  path: base,
  operationId: 'listIdentityProviders',
  tags,
  ...secured('identity_providers:read'),
  summary: 'Identity providers (LDAP / Active Directory, SAML 2.0, OAuth 2.0 / OIDC), without secrets',
  responses: {
    200: { description: 'Providers.', content: jsonContent(IdentityProviderListSchema) },
    ...errorResponses(401, 403),
  },
})
const create = createRoute({
  method: 'post',
  path: base,
  operationId: 'createIdentityProvider',
  tags,
  ...secured('identity_providers:manage'),
  ...idempotent,
  summary: 'Add an identity provider (secrets are write-only and stored encrypted)',
  request: { body: { required: true, content: jsonContent(CreateIdentityProviderSchema) } },
  responses: {
    201: { description: 'Created.', content: jsonContent(IdentityProviderSchema) },
    ...errorResponses(400, 401, 403, 409, 422, 503),
  },
})
const get = createRoute({
  method: 'get',
  path: `${base}/{name}`,
  operationId: 'getIdentityProvider',
  tags,
  ...secured('identity_providers:read'),
  summary: 'One identity provider, with the URLs to give it (ACS, entity id, redirect URI)',
  request: { params: ProviderNameParams },
  responses: {
    200: { description: 'The provider.', content: jsonContent(IdentityProviderSchema) },
    ...errorResponses(400, 401, 403, 404),
  },
})
const update = createRoute({
  method: 'patch',
  path: `${base}/{name}`,
  operationId: 'updateIdentityProvider',
  tags,
  ...secured('identity_providers:manage'),
  summary: 'Change an identity provider (settings merged and validated as a whole)',
  request: {
    params: ProviderNameParams,
    body: { required: true, content: jsonContent(UpdateIdentityProviderSchema) },
  },
  responses: {
    200: { description: 'Updated.', content: jsonContent(IdentityProviderSchema) },
    ...errorResponses(400, 401, 403, 404, 409, 503),
  },
})
const remove = createRoute({
  method: 'delete',
  path: `${base}/{name}`,
  operationId: 'deleteIdentityProvider',
  tags,
  ...secured('identity_providers:manage'),
  summary: 'Remove an identity provider; the users it vouched for are disabled and signed out',
  request: { params: ProviderNameParams },
  responses: { 204: { description: 'Removed.' }, ...errorResponses(400, 401, 403, 404, 409) },
})
const test = createRoute({
  method: 'post',
  path: `${base}/{name}/test`,
  operationId: 'testIdentityProvider',
  tags,
  ...secured('identity_providers:manage'),
  summary:
    'Check the provider is reachable and usable (LDAP: optionally a test sign-in showing groups and role)',
  request: {
    params: ProviderNameParams,
    body: { required: false, content: jsonContent(ProviderTestInputSchema) },
  },
  responses: {
    200: { description: 'What worked and what did not.', content: jsonContent(ProviderTestReportSchema) },
    ...errorResponses(400, 401, 403, 404),
  },
})
const sync = createRoute({
  method: 'post',
  path: `${base}/{name}/sync`,
  operationId: 'syncIdentityProvider',
  tags,
  ...secured('identity_providers:manage'),
  ...idempotent,
  summary: 'Sync users with the directory now (LDAP): roles updated, users no longer found disabled',
  request: { params: ProviderNameParams },
  responses: {
    200: {
      description: 'The report; status unsafe or failed means nothing was changed.',
      content: jsonContent(SyncReportSchema),
    },
    ...errorResponses(400, 401, 403, 404, 409, 422),
  },
})

/** The context of the SSO verbs for a request. */
export const ssoContext = (deps: AppDeps, c: Context): SsoContext => ssoContextFrom(deps, auditContextOf(c))

export function identityProviderRoutes(deps: AppDeps) {
  const router = createRouter()
  const ctx = (c: Context) => ssoContext(deps, c)
  router.openapi(list, async (c) => c.json({ items: await providers.listProviders(ctx(c)) }, 200))
  router.openapi(create, async (c) =>
    c.json(await providers.createProvider(ctx(c), c.req.valid('json')), 201),
  )
  router.openapi(get, async (c) =>
    c.json(await providers.getProvider(ctx(c), c.req.valid('param').name), 200),
  )
  router.openapi(update, async (c) =>
    c.json(await providers.updateProvider(ctx(c), c.req.valid('param').name, c.req.valid('json')), 200),
  )
  router.openapi(remove, async (c) => {
    await providers.deleteProvider(ctx(c), c.req.valid('param').name)
    return c.body(null, 204)
  })
  router.openapi(test, async (c) =>
    c.json(await providers.testProvider(ctx(c), c.req.valid('param').name, c.req.valid('json') ?? {}), 200),
  )
  router.openapi(sync, async (c) =>
    c.json(await syncDirectory(ctx(c), c.req.valid('param').name, deps.replicaId), 200),
  )
  return router
}
