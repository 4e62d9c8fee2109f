-- put_ticket: stores a single-use ticket under the hash of its token, until it expires.
--
-- KEYS[1]  the ticket hash, {prefix}{t:<token hash, hex>}
-- ARGV[1]  the payload
-- ARGV[2]  expires_at, ms since the epoch
-- ARGV[3]  now, ms since the epoch, from the caller's clock
--
-- Returns 1 when stored, 0 when already expired (then nothing is stored).

local key = KEYS[1]
local expires = tonumber(ARGV[2])
redis.call('DEL', key)
if expires <= tonumber(ARGV[3]) then
  return 0
end
redis.call('HSET', key, 'payload', ARGV[1], 'expires', ARGV[2])
redis.call('PEXPIREAT', key, ARGV[2])
return 1
