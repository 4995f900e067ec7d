// Schemas of the authentication and users API. Token responses follow OAuth 2.0 (RFC 6749 5.1).
import { z } from '@hono/zod-openapi'
import { maxPasswordLength } from './passwords.ts'
import { apiKeyRoles, roles } from './permissions.ts'

// Surrounding white space is dropped and the address lower-cased before zod's email check; the
// document states the same rule (zod's email expression with optional white space around).
const emailShape = z.regexes.email.source.replace(/^\^|\$$/g, '')
const email = z
  .string()
  .trim()
  .toLowerCase()
  .pipe(z.email().max(254))
  .openapi({ pattern: `^\\s*${emailShape}\\s*$`, maxLength: 254 })
// No composition rules; length and the common-password list are checked by the service, so the
// answer names the rule. The schema bounds only what is sane to hash.
const password = z
  .string()
  .min(1)
  .max(maxPasswordLength * 4)

export const UserSchema = z
  .object({
    id: z.string(),
    email: z.string(),
    displayName: z.string().nullable(),
    role: z.enum(roles),
    source: z.enum(['local', 'ldap', 'saml', 'oidc']),
    identityProvider: z
      .string()
      .nullable()
      .openapi({ description: 'The identity provider that vouches for the user (its name), if any.' }),
    disabled: z.boolean(),
    mfaEnabled: z.boolean(),
    lastLoginAt: z.string().nullable(),
    createdAt: z.string(),
  })
  .openapi('User')
export const UserListSchema = z.object({ items: z.array(UserSchema) }).openapi('UserList')

const sessionMode = z.enum(['token', 'cookie']).default('token').openapi({
  description:
    'token: the tokens in the body. cookie (browsers): HttpOnly, Secure, SameSite=Strict cookies instead; state-changing requests then need an X-Requested-With header.',
})
export const LoginInputSchema = z
  .object({ email, password, session: sessionMode })
  .strict()
  .openapi('LoginInput')
export const TokenResponseSchema = z
  .object({
    access_token: z.string(),
    token_type: z.literal('Bearer'),
    expires_in: z.number().int().openapi({ description: 'Seconds until the access token expires.' }),
    refresh_token: z.string().openapi({ description: 'Single use: each refresh returns a new one.' }),
    session_id: z.string(),
  })
  .openapi('TokenResponse')
export const MfaChallengeSchema = z
  .object({
    mfa_required: z.literal(true),
    mfa_token: z.string().openapi({ description: 'Send with a code to POST /api/v1/auth/mfa/verify.' }),
    expires_in: z.number().int(),
  })
  .openapi('MfaChallenge')
export const CookieSessionSchema = z
  .object({
    session_id: z.string(),
    expires_in: z.number().int(),
    user: UserSchema.optional(),
    mfa_enrollment_required: z.boolean().optional(),
  })
  .openapi('CookieSession')
export const TokenSessionSchema = TokenResponseSchema.extend({
  user: UserSchema,
  mfa_enrollment_required: z.boolean().openapi({
    description: 'The role requires MFA and none is enrolled: the session can only enroll until it is.',
  }),
}).openapi('TokenSession')
// The members of these unions share no string property to discriminate on, so generated clients
// (Go, Python) take the first member whose required fields are all present: a member comes
// before any member whose required fields include all of its own (CookieSession last).
// test/unit/openapi-shapes.test.ts checks the order.
export const LoginResponseSchema = z
  .union([TokenSessionSchema, MfaChallengeSchema, CookieSessionSchema])
  .openapi('LoginResponse', {
    description: 'TokenSession (session "token"), CookieSession (session "cookie") or MfaChallenge.',
  })
export const SessionResponseSchema = z
  .union([TokenResponseSchema, CookieSessionSchema])
  .openapi('SessionResponse', { description: 'TokenResponse (session "token") or CookieSession.' })
export const MfaVerifyInputSchema = z
  .object({
    mfa_token: z.string().min(1).max(200),
    code: z
      .string()
      .regex(/^\d{6}$/)
      .optional(),
    backup_code: z.string().min(1).max(40).optional(),
    session: sessionMode,
  })
  .strict()
  .refine((v) => !!v.code !== !!v.backup_code, { message: 'send code or backup_code', path: ['code'] })
  .openapi('MfaVerifyInput')
export const MfaEnrollmentSchema = z
  .object({
    secret: z.string().openapi({ description: 'Base32, for typing into an authenticator.' }),
    otpauthUri: z.string(),
    qrSvg: z.string(),
    qrPngDataUrl: z.string(),
  })
  .openapi('MfaEnrollment')
export const MfaConfirmInputSchema = z
  .object({ code: z.string().regex(/^\d{6}$/) })
  .strict()
  .openapi('MfaConfirmInput')
export const BackupCodesSchema = z
  .object({ backupCodes: z.array(z.string()).openapi({ description: 'Shown once; each works once.' }) })
  .openapi('MfaBackupCodes')
export const MfaDisableInputSchema = z
  .object({
    password,
    code: z
      .string()
      .regex(/^\d{6}$/)
      .optional(),
    backup_code: z.string().min(1).max(40).optional(),
  })
  .strict()
  .refine((v) => !!v.code !== !!v.backup_code, { message: 'send code or backup_code', path: ['code'] })
  .openapi('MfaDisableInput')
export const MfaPolicySchema = z
  .object({ rolesRequiringMfa: z.array(z.enum(roles)) })
  .strict()
  .openapi('MfaPolicy')
export const SigningKeyRotationSchema = z.object({ kid: z.string() }).openapi('TokenSigningKeyRotation')
export const RefreshInputSchema = z
  .object({
    refresh_token: z
      .string()
      .min(1)
      .max(200)
      .optional()
      .openapi({ description: 'Omit to use the refresh cookie of a cookie session.' }),
  })
  .strict()
  .openapi('RefreshInput')
export const SetupInputSchema = z
  .object({ token: z.string().min(1).max(200), email, password, displayName: z.string().max(200).optional() })
  .strict()
  .openapi('SetupInput')
export const ChangePasswordInputSchema = z
  .object({ currentPassword: password, newPassword: password })
  .strict()
  .openapi('ChangePasswordInput')

export const SessionSchema = z
  .object({
    id: z.string(),
    createdAt: z.string(),
    expiresAt: z.string(),
    lastSeenAt: z.string(),
    ipAddress: z.string().nullable(),
    userAgent: z.string().nullable(),
    method: z.string(),
    current: z.boolean(),
  })
  .openapi('Session')
export const SessionListSchema = z.object({ items: z.array(SessionSchema) }).openapi('SessionList')

export const IdParams = z.object({
  id: z.uuid().openapi({ param: { name: 'id', in: 'path' } }),
})

export const CreateUserInputSchema = z
  .object({ email, displayName: z.string().max(200).optional(), role: z.enum(roles), password })
  .strict()
  .openapi('CreateUserInput')
export const UpdateUserInputSchema = z
  .object({
    displayName: z.string().max(200).nullable().optional(),
    role: z.enum(roles).optional(),
    disabled: z.boolean().optional().openapi({ description: 'Disabling ends every session of the user.' }),
  })
  .strict()
  .openapi('UpdateUserInput')
export const ResetPasswordInputSchema = z.object({ password }).strict().openapi('ResetPasswordInput')
export const EndedSessionsSchema = z.object({ ended: z.number().int() }).openapi('EndedSessions')

export const JwksSchema = z
  .object({ keys: z.array(z.record(z.string(), z.unknown())) })
  .openapi('JsonWebKeySet')

export const ApiKeySchema = z
  .object({
    id: z.string(),
    name: z.string(),
    displayPrefix: z
      .string()
      .openapi({ description: 'The first characters of the key, to tell keys apart.' }),
    role: z.enum(apiKeyRoles),
    instanceId: z
      .string()
      .nullable()
      .openapi({ description: 'The instance an agent key pushes host metrics for (null for other keys).' }),
    ownerUserId: z.string().nullable(),
    expiresAt: z.string().nullable(),
    lastUsedAt: z.string().nullable(),
    revokedAt: z.string().nullable(),
    createdAt: z.string(),
  })
  .openapi('ApiKey')
export const CreatedApiKeySchema = ApiKeySchema.extend({
  key: z.string().openapi({ description: 'The key itself: shown this once, send as Authorization: Bearer.' }),
}).openapi('CreatedApiKey')
export const ApiKeyListSchema = z.object({ items: z.array(ApiKeySchema) }).openapi('ApiKeyList')
export const CreateApiKeyInputSchema = z
  .object({
    name: z.string().min(1).max(200),
    role: z.enum(apiKeyRoles).openapi({
      description: 'At most the rights of the caller. `agent`: pushes host metrics for instanceId only.',
    }),
    instanceId: z
      .uuid()
      .optional()
      .openapi({ description: 'With role agent (and only then): the instance the agent runs for.' }),
    expiresInDays: z.number().int().min(1).max(3650).optional(),
  })
  .strict()
  .openapi('CreateApiKeyInput')
