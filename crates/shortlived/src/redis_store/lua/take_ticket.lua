-- take_ticket: returns and deletes a live ticket in one step, so it works once even under
-- concurrent use.
--
-- KEYS[1]  the ticket hash, {prefix}{t:<token hash, hex>}
-- ARGV[1]  now, ms since the epoch, from the caller's clock
--
-- Returns the payload, or nil when missing or expired.

local key = KEYS[1]
local h = redis.call('HMGET', key, 'payload', 'expires')
redis.call('DEL', key)
local expires = tonumber(h[2])
if not h[1] or expires == nil or expires <= tonumber(ARGV[1]) then
  return false
end
return h[1]
