-- resend_challenge: replaces the code of a live challenge, in one step with the send-cap and
-- cooldown checks (R14). The attempt counter is left alone: it spans every code of one
-- challenge.
--
-- KEYS[1]  the challenge hash, {prefix}{c:<challenge id>}
-- ARGV[1]  the new code's MAC, hex
-- ARGV[2]  now, ms since the epoch, from the caller's clock
-- ARGV[3]  the new expires_at, ms since the epoch
-- ARGV[4]  the TTL margin after expires_at, ms
-- ARGV[5]  the wait before the next resend, ms; negative: the stored cooldown (R15 backoff)
--
-- Returns
--   {0}                         not found: missing, expired or burned
--   {1, field, value, ...}      resent: the challenge after the change
--   {2, retry_after_ms}         cooldown: too early
--   {3}                         the send cap is reached

local key = KEYS[1]
local now = tonumber(ARGV[2])
local new_expires = tonumber(ARGV[3])
local h = redis.call('HMGET', key, 'expires', 'attempts_left', 'sends', 'max_sends',
  'resend_at', 'cooldown')
local expires, left = tonumber(h[1]), tonumber(h[2])
local sends, max_sends = tonumber(h[3]), tonumber(h[4])
local resend_at, cooldown = tonumber(h[5]), tonumber(h[6])
if expires == nil or left == nil or sends == nil or max_sends == nil or resend_at == nil
    or cooldown == nil then
  return {0}
end
if expires <= now then
  return {0}
end
if left <= 0 then
  redis.call('DEL', key)
  return {0}
end
if sends >= max_sends then
  return {3}
end
if now < resend_at then
  return {2, resend_at - now}
end
local wait = tonumber(ARGV[5])
if wait == nil or wait < 0 then
  wait = cooldown
end
redis.call('HSET', key, 'mac', ARGV[1], 'sends', sends + 1, 'resend_at', now + wait,
  'expires', new_expires)
redis.call('PEXPIREAT', key, new_expires + tonumber(ARGV[4]))
local fields = redis.call('HGETALL', key)
table.insert(fields, 1, 1)
return fields
