-- check_limits: counts one hit against every limit, all or nothing, in one step.
--
-- Each limit is a sliding-window log: a sorted set of hit timestamps (scores, ms) with
-- unique members. Hits older than the window are dropped, the rest are counted; the limit is
-- full when the count has reached its maximum. Every limit is checked before any is counted,
-- so a denial counts nothing anywhere.
--
-- KEYS[i]     limit i's sorted set, {prefix}{l:<scope>}:<limit key>; one hash tag for all
-- ARGV[1]     now, ms since the epoch, from the caller's clock
-- ARGV[2]     a member unique to this call (uuid); limit i adds ARGV[2] .. ':' .. i
-- ARGV[3]     the TTL margin after the window, ms
-- ARGV[2+2i]  limit i's maximum
-- ARGV[3+2i]  limit i's window, ms
--
-- Returns {1} when allowed (one hit counted on every limit), or {0, i, retry_after_ms} when
-- limit i (1-based) is full: the time until its oldest counted hit leaves the window.

local now = tonumber(ARGV[1])
local margin = tonumber(ARGV[3])
for i, key in ipairs(KEYS) do
  local max = tonumber(ARGV[2 + 2 * i])
  local window = tonumber(ARGV[3 + 2 * i])
  redis.call('ZREMRANGEBYSCORE', key, '-inf', now - window)
  if redis.call('ZCARD', key) >= max then
    local oldest = redis.call('ZRANGE', key, 0, 0, 'WITHSCORES')
    local retry_after = window
    if oldest[2] then
      retry_after = tonumber(oldest[2]) + window - now
    end
    return {0, i, retry_after}
  end
end
for i, key in ipairs(KEYS) do
  local window = tonumber(ARGV[3 + 2 * i])
  redis.call('ZADD', key, now, ARGV[2] .. ':' .. i)
  redis.call('PEXPIRE', key, window + margin)
end
return {1}
