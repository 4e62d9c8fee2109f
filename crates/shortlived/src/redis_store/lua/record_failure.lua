-- record_failure: adds one failure to an account-wide counter (R9).
--
-- KEYS[1]  the counter, {prefix}{f:<account>}
-- ARGV[1]  the window, ms: the counter expires this long after its first failure
--
-- Returns the new count. The TTL is set in the same step as the first increment, and again
-- should the key ever lack one: no counter lives forever (R37).

local key = KEYS[1]
local n = redis.call('INCR', key)
if n == 1 or redis.call('PTTL', key) < 0 then
  redis.call('PEXPIRE', key, ARGV[1])
end
return n
