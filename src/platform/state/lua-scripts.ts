// Lua scripts and key layout shared by the Redis (ioredis) and Upstash (REST) state stores, so
// both run exactly the same atomic logic. Every script touches only the keys it is given, and the
// two keys of a lease share a hash tag, so all of them are valid in a Redis Cluster.
import type { Lease } from './state-store.ts'

/** A Lua script and how many of its arguments are keys. */
export type LuaScript = { name: string; lua: string; numberOfKeys: number }

/** KEYS[1] counter; ARGV[1] amount; ARGV[2] ttl ms. The TTL is set only when the counter is
 * created, so a fixed window does not slide with each hit. Returns the new value. */
export const incrementScript = {
  name: 'pgaIncrement',
  numberOfKeys: 1,
  lua: `local created = redis.call('EXISTS', KEYS[1]) == 0
local value = redis.call('INCRBY', KEYS[1], ARGV[1])
if created then redis.call('PEXPIRE', KEYS[1], ARGV[2]) end
return value`,
} as const satisfies LuaScript

/** KEYS[1] key. Returns its value (or nil) and removes it. Works before Redis 6.2's GETDEL. */
export const getAndDeleteScript = {
  name: 'pgaGetAndDelete',
  numberOfKeys: 1,
  lua: `local value = redis.call('GET', KEYS[1])
if value then redis.call('DEL', KEYS[1]) end
return value`,
} as const satisfies LuaScript

/** KEYS[1] key; ARGV[1] '1' when a value is expected ('0': expect absent); ARGV[2] expected;
 * ARGV[3] '1' when there is a next value ('0': delete); ARGV[4] next; ARGV[5] ttl ms or ''.
 * Returns 1 when it swapped, 0 otherwise. A plain SET drops any TTL, so without ttl the new
 * value persists. */
export const compareAndSetScript = {
  name: 'pgaCompareAndSet',
  numberOfKeys: 1,
  lua: `local current = redis.call('GET', KEYS[1])
if ARGV[1] == '0' then
  if current then return 0 end
elseif current ~= ARGV[2] then
  return 0
end
if ARGV[3] == '0' then
  redis.call('DEL', KEYS[1])
elseif ARGV[5] ~= '' then
  redis.call('SET', KEYS[1], ARGV[4], 'PX', ARGV[5])
else
  redis.call('SET', KEYS[1], ARGV[4])
end
return 1`,
} as const satisfies LuaScript

/** KEYS[1] lease; KEYS[2] its fence counter; ARGV[1] holder as a JSON string literal; ARGV[2]
 * ttl ms. Free: bumps the fence and stores {"holder":…,"fence":n}. Ours: extends it and keeps
 * the fence. Someone else's: nil. Returns the fence. The value is byte-identical to
 * JSON.stringify({ holder, fence }), which renew and release compare against. */
export const acquireLeaseScript = {
  name: 'pgaAcquireLease',
  numberOfKeys: 2,
  lua: `local head = '{"holder":' .. ARGV[1] .. ',"fence":'
local current = redis.call('GET', KEYS[1])
if current then
  if string.sub(current, 1, #head) ~= head then return false end
  redis.call('PEXPIRE', KEYS[1], ARGV[2])
  return tonumber(string.sub(current, #head + 1, -2))
end
local fence = redis.call('INCR', KEYS[2])
redis.call('SET', KEYS[1], head .. string.format('%d', fence) .. '}', 'PX', ARGV[2])
return fence`,
} as const satisfies LuaScript

/** KEYS[1] lease; ARGV[1] exact value we hold; ARGV[2] ttl ms. Returns 1 when extended. */
export const renewLeaseScript = {
  name: 'pgaRenewLease',
  numberOfKeys: 1,
  lua: `if redis.call('GET', KEYS[1]) ~= ARGV[1] then return 0 end
redis.call('PEXPIRE', KEYS[1], ARGV[2])
return 1`,
} as const satisfies LuaScript

/** KEYS[1] lease; ARGV[1] exact value we hold. Returns 1 when it was ours and is now gone. */
export const releaseLeaseScript = {
  name: 'pgaReleaseLease',
  numberOfKeys: 1,
  lua: `if redis.call('GET', KEYS[1]) ~= ARGV[1] then return 0 end
redis.call('DEL', KEYS[1])
return 1`,
} as const satisfies LuaScript

export const luaScripts = [
  incrementScript,
  getAndDeleteScript,
  compareAndSetScript,
  acquireLeaseScript,
  renewLeaseScript,
  releaseLeaseScript,
] as const

/**
 * Key layout under a prefix: `<prefix><key>` for plain keys, `<prefix>lease:{<name>}` for a
 * lease and `<prefix>lease-fence:{<name>}` for its never-expiring fence counter. The braces are
 * a Cluster hash tag: both lease keys land in the same slot. A prefix with braces would move the
 * hash tag into the prefix, so it is refused.
 */
export function keyLayout(prefix: string) {
  if (/[{}]/.test(prefix)) throw new Error('the state store key prefix must not contain "{" or "}"')
  return {
    key: (key: string) => `${prefix}${key}`,
    lease: (name: string) => `${prefix}lease:{${name}}`,
    leaseFence: (name: string) => `${prefix}lease-fence:{${name}}`,
  }
}

/** The stored value of a lease, as the acquire script writes it. */
export function leaseValue(lease: Pick<Lease, 'holder' | 'fence'>): string {
  return JSON.stringify({ holder: lease.holder, fence: lease.fence })
}

/** A TTL as the whole positive milliseconds PX and PEXPIRE accept. */
export function toPx(ttlMs: number): string {
  if (!Number.isFinite(ttlMs) || ttlMs <= 0)
    throw new RangeError(`ttlMs must be a positive number, got ${ttlMs}`)
  return String(Math.max(1, Math.ceil(ttlMs)))
}

/** Checks an integer reply from INCRBY is exact in a JavaScript number. */
export function toSafeInteger(value: unknown): number {
  const n = typeof value === 'string' ? Number(value) : value
  if (typeof n !== 'number' || !Number.isSafeInteger(n)) throw new Error('the counter is not a safe integer')
  return n
}
