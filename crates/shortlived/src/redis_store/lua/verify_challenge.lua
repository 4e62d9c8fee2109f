-- verify_challenge: checks one code and decides in the same step (R5, R7, R8).
--
-- KEYS[1]  the challenge hash, {prefix}{c:<challenge id>}
-- ARGV[1]  the candidate's MAC, hex
-- ARGV[2]  now, ms since the epoch, from the caller's clock
--
-- Returns
--   {0}                             not found: missing, expired, burned; nothing compared
--   {1, field, value, ...}          verified: the challenge as it was, now deleted
--   {2, attempts_left, user}        rejected: one attempt spent; deleted (burned) at 0
--
-- The MACs are compared with Lua's `==`, which is not a constant-time comparison (R3). That
-- is acceptable here: Lua interns strings, so `==` itself compares two pointers, and the bytes
-- meet at most once, in a memcmp when the candidate string is interned. More to the point, the
-- operands are HMAC-SHA-256 outputs under a server key: a caller chooses the code but not its
-- MAC, so learning how many leading bytes two unpredictable MACs share brings no guess closer
-- to the stored one. The in-memory store compares with `subtle` anyway.

local key = KEYS[1]
local now = tonumber(ARGV[2])
local h = redis.call('HMGET', key, 'expires', 'attempts_left', 'mac', 'user')
local expires = tonumber(h[1])
local left = tonumber(h[2])
if expires == nil or left == nil or not h[3] then
  return {0}
end
if expires <= now then
  return {0}
end
if left <= 0 then
  redis.call('DEL', key)
  return {0}
end
if h[3] == ARGV[1] then
  local fields = redis.call('HGETALL', key)
  redis.call('DEL', key)
  table.insert(fields, 1, 1)
  return fields
end
left = redis.call('HINCRBY', key, 'attempts_left', -1)
if left <= 0 then
  redis.call('DEL', key)
end
return {2, left, h[4] or ''}
