-- RotateRefresh: the whole refresh decision of store.Sessions.RotateRefresh
-- as one atomic step on one key, so a refresh is one round trip and runs on
-- Redis Cluster (the key carries the session's hash tag).
--
-- KEYS[1]  the session hash
-- ARGV[1]  presented hash     ARGV[2]  next hash      ARGV[3]  sealed next token
-- ARGV[4]  now (unix ms)      ARGV[5]  grace (ms)     ARGV[6]  client IP ('' keeps the stored one)
--
-- Returns false (a nil reply: not found), {'reused'} after deleting the
-- session, or {outcome, member, provider, ua, ip, created, used, exp, sealed}
-- with outcome 'rotated' or 'graced' and the session as it now stands.
--
-- Hashes are compared with plain string equality, which is not constant
-- time. That is acceptable here: the operands are SHA-256 digests of tokens
-- with 256 random bits, so what timing could leak is a prefix of a digest,
-- and knowing it brings nobody closer to a token that hashes to it.

local f = redis.call('HMGET', KEYS[1],
  'cur', 'prev', 'rot', 'sealed', 'member', 'provider', 'ua', 'ip', 'created', 'used', 'exp')
local cur, prev, rot, sealed = f[1], f[2], f[3], f[4]
local member, provider, ua, ip, created, used, exp = f[5], f[6], f[7], f[8], f[9], f[10], f[11]
if not cur then
  return false
end

-- The caller's clock decides expiry, as for every other time of the decision;
-- the key's own PEXPIREAT removes the record on Redis's clock.
local now = tonumber(ARGV[4])
if now >= tonumber(exp) then
  return false
end

if cur == ARGV[1] then
  if ARGV[6] ~= '' then
    ip = ARGV[6]
  end
  redis.call('HSET', KEYS[1], 'cur', ARGV[2], 'prev', cur, 'sealed', ARGV[3],
    'rot', ARGV[4], 'used', ARGV[4], 'ip', ip)
  return {'rotated', member, provider, ua, ip, created, ARGV[4], exp, ''}
end

if prev and prev == ARGV[1] then
  if now - tonumber(rot) > tonumber(ARGV[5]) then
    -- A rotated token presented after the grace: treat as theft (RFC 9700
    -- §4.14.2) and end the session for every holder.
    redis.call('DEL', KEYS[1])
    return {'reused'}
  end
  -- Concurrent tabs or a lost response: the same outcome as the first use,
  -- without changing anything.
  return {'graced', member, provider, ua, ip, created, used, exp, sealed}
end

return false
