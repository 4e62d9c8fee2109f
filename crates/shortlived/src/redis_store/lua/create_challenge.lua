-- create_challenge: stores a new challenge, replacing any challenge with the same id.
--
-- KEYS[1]  the challenge hash, {prefix}{c:<challenge id>}
-- ARGV[1]  when the key expires (ms since the epoch): expires_at plus a margin
-- ARGV[2..] field, value, field, value, ... (every field of the challenge)
--
-- Returns 1. The TTL is set in the same step as the write: no key without a TTL (R37).

local key = KEYS[1]
redis.call('DEL', key)
redis.call('HSET', key, unpack(ARGV, 2))
redis.call('PEXPIREAT', key, ARGV[1])
return 1
