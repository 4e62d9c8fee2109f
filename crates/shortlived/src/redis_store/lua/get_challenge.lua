-- get_challenge: reads a live challenge without changing it.
--
-- KEYS[1]  the challenge hash, {prefix}{c:<challenge id>}
-- ARGV[1]  now, ms since the epoch, from the caller's clock
--
-- Returns {0} when missing, expired or burned, else {1, field, value, ...}.

local key = KEYS[1]
local now = tonumber(ARGV[1])
local h = redis.call('HMGET', key, 'expires', 'attempts_left')
local expires, left = tonumber(h[1]), tonumber(h[2])
if expires == nil or left == nil or expires <= now or left <= 0 then
  return {0}
end
local fields = redis.call('HGETALL', key)
table.insert(fields, 1, 1)
return fields
