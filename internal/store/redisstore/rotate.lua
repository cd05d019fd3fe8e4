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
-- The field hist is the session's retired tokens: the first PREFIX bytes of
-- each hash that stopped being current, oldest first, at most KEEP of them
-- (older ones are dropped from the front). It is what turns a token several
-- rotations old into reuse instead of an unknown token. A prefix is enough:
-- presenting a match without the token needs a 64-bit preimage of SHA-256.
-- A hash field cannot be appended to in place, so every rotation rewrites
-- the whole field: once full (8 KiB) that about doubles the script's CPU
-- time per rotation (BenchmarkRotateRefresh).
--
-- Hashes are compared with plain string equality, which is not constant
-- time. That is acceptable here: the operands are SHA-256 digests of tokens
-- with 256 random bits, so what timing could leak is a prefix of a digest,
-- and knowing it brings nobody closer to a token that hashes to it.

local PREFIX = 8
local KEEP = 1024

local f = redis.call('HMGET', KEYS[1],
  'cur', 'prev', 'rot', 'sealed', 'member', 'provider', 'ua', 'ip', 'created', 'used', 'exp', 'hist')
local cur, prev, rot, sealed = f[1], f[2], f[3], f[4]
local member, provider, ua, ip, created, used, exp = f[5], f[6], f[7], f[8], f[9], f[10], f[11]
local hist = f[12] or ''
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
  -- A hash too short to have a prefix (stored before the caller checked
  -- lengths) is left out rather than misaligning every later entry.
  if #cur >= PREFIX then
    hist = hist .. string.sub(cur, 1, PREFIX)
  end
  if #hist > KEEP * PREFIX then
    hist = string.sub(hist, -KEEP * PREFIX)
  end
  redis.call('HSET', KEYS[1], 'cur', ARGV[2], 'prev', cur, 'sealed', ARGV[3],
    'rot', ARGV[4], 'used', ARGV[4], 'ip', ip, 'hist', hist)
  return {'rotated', member, provider, ua, ip, created, ARGV[4], exp, ''}
end

if prev and prev == ARGV[1] and now - tonumber(rot) <= tonumber(ARGV[5]) then
  -- Concurrent tabs or a lost response: the same outcome as the first use,
  -- without changing anything.
  return {'graced', member, provider, ua, ip, created, used, exp, sealed}
end

-- retired reports whether h's prefix is an entry of hist. string.find may
-- match across two entries, so only a hit at an entry boundary counts.
local function retired(h)
  if #h < PREFIX then
    return false
  end
  local p = string.sub(h, 1, PREFIX)
  local from = 1
  while true do
    local at = string.find(hist, p, from, true)
    if not at then
      return false
    end
    if (at - 1) % PREFIX == 0 then
      return true
    end
    from = at + 1
  end
end

-- The previous token after the grace, or any older retired one: treat as
-- theft (RFC 9700 §4.14.2) and end the session for every holder. prev is in
-- hist too, except in a session last rotated before hist was kept.
if (prev and prev == ARGV[1]) or retired(ARGV[1]) then
  redis.call('DEL', KEYS[1])
  return {'reused'}
end

return false
