-- Refresh: the whole decision of store.Sessions.Refresh (the rules of
-- store.Refresh.Decide) as one atomic step, so a refresh is one round trip.
--
-- KEYS[1]  the session record (see record.go for the layout)
-- ARGV[1]  presented counter     ARGV[2]  now (unix ms)    ARGV[3]  grace (ms)
-- ARGV[4]  client IP, 4 or 16 raw bytes ('' keeps the stored one)
-- ARGV[5]  limit (0: none)       ARGV[6]  window (ms)
--
-- Returns false (nil: not found or expired), {'reused'} after deleting the
-- session, {'limited', ms until the window ends}, or {outcome, record} with
-- outcome 'rotated' or 'replayed' and the record as it now stands.
--
-- Only the fixed header and the trailing IP are read or written here; the
-- claims in between are opaque bytes copied as they are.

local HEAD = '>BI4I4i8i8i8i8I2'
local v = redis.call('GET', KEYS[1])
if not v then
  return false
end
local ver, c, f, rot, used, exp, wst, wn, pos = struct.unpack(HEAD, v)
if ver ~= 1 then
  return redis.error_reply('ERR authbroker: unknown session record version ' .. ver)
end
local n, now, grace = tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3])
local limit, window = tonumber(ARGV[5]), tonumber(ARGV[6])
-- The caller's clock decides expiry, as every other time of the decision;
-- the key's own TTL removes the record on Redis's clock.
if now >= exp then
  return false
end

local outcome = 'rotated'
if n >= c then
  -- current (or ahead: rotations this store lost, proven by the token)
elseif n + 1 == c then
  outcome = 'replayed'
elseif n >= f and now - rot <= grace then
  outcome = 'replayed'
else
  -- An older token outside the grace: theft (RFC 9700 §4.14.2).
  redis.call('DEL', KEYS[1])
  return {'reused'}
end

if limit > 0 and window > 0 then
  if now - wst >= window or now < wst then
    wst, wn = now, 0
  end
  if wn >= limit then
    return {'limited', wst + window - now}
  end
  wn = wn + 1
end

if outcome == 'rotated' then
  if n > c then
    f = n
  elseif now - rot > grace then
    f = c
  end
  c, rot = n + 1, now
end

local clen = struct.unpack('>I2', v, pos)
local ipAt = pos + 2 + clen
local ip = ARGV[4]
if ip == '' then
  ip = string.sub(v, ipAt)
end
local record = struct.pack(HEAD, 1, c, f, rot, now, exp, wst, wn) .. string.sub(v, pos, ipAt - 1) .. ip
redis.call('SET', KEYS[1], record, 'KEEPTTL')
return {outcome, record}
