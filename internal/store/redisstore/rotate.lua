-- RotateRefresh: the whole refresh decision of store.Sessions.RotateRefresh
-- as one atomic step, so a refresh is one round trip. Both keys carry the
-- session's hash tag, so they share a slot and the script runs on Redis
-- Cluster.
--
-- KEYS[1]  the session hash   KEYS[2]  the session's retired-hash ring
-- ARGV[1]  presented hash     ARGV[2]  next hash      ARGV[3]  sealed next token
-- ARGV[4]  now (unix ms)      ARGV[5]  grace (ms)     ARGV[6]  client IP ('' keeps the stored one)
--
-- Returns false (a nil reply: not found), {'reused'} after deleting the
-- session, or {outcome, member, provider, ua, ip, created, used, exp, sealed}
-- with outcome 'rotated' or 'graced' and the session as it now stands.
--
-- KEYS[2] is the session's retired tokens: the first PREFIX bytes of each
-- hash that stopped being current, in a ring of KEEP slots. The field n of
-- the session hash counts the entries ever written; entry n goes to slot
-- n mod KEEP, overwriting the oldest once the ring is full, so the first
-- min(n, KEEP) slots are exactly the remembered entries. It is what turns a
-- token several rotations old into reuse instead of an unknown token. A
-- prefix is enough: presenting a match without the token needs a 64-bit
-- preimage of SHA-256.
--
-- The ring is a key of its own, not a field of the hash, because a hash
-- field can only be rewritten whole: SETRANGE changes 8 bytes in place, so
-- a rotation costs the same and sends replicas the same few bytes however
-- full the ring is. Reads of a session never touch it.
--
-- Hashes are compared with plain string equality, which is not constant
-- time. That is acceptable here: the operands are SHA-256 digests of tokens
-- with 256 random bits, so what timing could leak is a prefix of a digest,
-- and knowing it brings nobody closer to a token that hashes to it.

local PREFIX = 8
local KEEP = 1024

local f = redis.call('HMGET', KEYS[1],
  'cur', 'prev', 'rot', 'sealed', 'member', 'provider', 'ua', 'ip', 'created', 'used', 'exp', 'n')
local cur, prev, rot, sealed = f[1], f[2], f[3], f[4]
local member, provider, ua, ip, created, used, exp = f[5], f[6], f[7], f[8], f[9], f[10], f[11]
local n = tonumber(f[12]) or 0
if not cur then
  return false
end

-- The caller's clock decides expiry, as for every other time of the decision;
-- the keys' own PEXPIREAT removes the record on Redis's clock.
local now = tonumber(ARGV[4])
if now >= tonumber(exp) then
  return false
end

if cur == ARGV[1] then
  if ARGV[6] ~= '' then
    ip = ARGV[6]
  end
  -- A hash too short to have a prefix (stored before the caller checked
  -- lengths) is left out rather than written as a partial entry.
  if #cur >= PREFIX then
    -- The ring is created by the first rotation and must expire with the
    -- session. PEXPIRETIME is a read and SETRANGE keeps a key's expiry, so
    -- the expiry is written only when the ring is new or has lost it. A ring
    -- missing although n > 0 (evicted or deleted by hand) starts again at
    -- slot 0: writing at slot n would zero-fill the slots before it, and the
    -- scan below would take those zeros for entries.
    local at = redis.call('PEXPIRETIME', KEYS[2])
    if at == -2 then
      n = 0
    end
    redis.call('SETRANGE', KEYS[2], (n % KEEP) * PREFIX, string.sub(cur, 1, PREFIX))
    if n == KEEP - 1 then
      -- The ring is now full and never grows again. SETRANGE grows a
      -- string by doubling its allocation, so filling the last slots left
      -- it in twice the memory it needs; a copy holds the 8 KiB exactly.
      -- This costs one 8 KiB read and write once per session.
      redis.call('SET', KEYS[2], redis.call('GET', KEYS[2]), 'KEEPTTL')
    end
    if at ~= tonumber(exp) then
      redis.call('PEXPIREAT', KEYS[2], exp)
    end
    n = n + 1
  end
  redis.call('HSET', KEYS[1], 'cur', ARGV[2], 'prev', cur, 'sealed', ARGV[3],
    'rot', ARGV[4], 'used', ARGV[4], 'ip', ip, 'n', n)
  return {'rotated', member, provider, ua, ip, created, ARGV[4], exp, ''}
end

if prev and prev == ARGV[1] and now - tonumber(rot) <= tonumber(ARGV[5]) then
  -- Concurrent tabs or a lost response: the same outcome as the first use,
  -- without changing anything.
  return {'graced', member, provider, ua, ip, created, used, exp, sealed}
end

-- retired reports whether h's prefix is an entry of the ring. Only the
-- filled slots are read, in one GETRANGE. string.find may match across two
-- entries, so only a hit at a slot boundary counts.
local function retired(h)
  local filled = math.min(n, KEEP) * PREFIX
  if #h < PREFIX or filled == 0 then
    return false
  end
  local ring = redis.call('GETRANGE', KEYS[2], 0, filled - 1)
  local p = string.sub(h, 1, PREFIX)
  local from = 1
  while true do
    local at = string.find(ring, p, from, true)
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
-- theft (RFC 9700 §4.14.2) and end the session for every holder. prev is
-- checked on its own because it may be missing from the ring: a hash too
-- short for an entry, or a ring lost since prev was retired.
if (prev and prev == ARGV[1]) or retired(ARGV[1]) then
  redis.call('DEL', KEYS[1], KEYS[2])
  return {'reused'}
end

return false
