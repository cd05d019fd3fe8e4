package redisstore

import (
	"context"
	"fmt"
	"strconv"
	"time"

	"github.com/redis/go-redis/v9"
)

// markerScript returns the marker, first setting ARGV[1] when there is none.
var markerScript = redis.NewScript(`
local v = redis.call('GET', KEYS[1])
if v then return {v, 0} end
redis.call('SET', KEYS[1], ARGV[1])
return {ARGV[1], 1}`)

// DataMarker implements store.DataMarker with one key that never expires.
// Redis loses it with everything else: a restart without persistence, a
// FLUSHALL, a fail-over to a replica that never synced, or eviction under
// a maxmemory policy other than noeviction (see Durability).
func (s *Store) DataMarker(ctx context.Context, fresh string) (string, bool, error) {
	res, err := markerScript.Run(ctx, s.c, []string{s.markerKey()}, fresh).Slice()
	if err != nil {
		return "", false, wrap("data marker", err)
	}
	v, _ := res[0].(string)
	created, _ := res[1].(int64)
	return v, created == 1, nil
}

// heartbeatScript: ZADD the replica, drop the silent ones, count.
var heartbeatScript = redis.NewScript(`
redis.call('ZADD', KEYS[1], ARGV[2], ARGV[1])
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', '(' .. ARGV[3])
redis.call('PEXPIRE', KEYS[1], ARGV[4])
return redis.call('ZCARD', KEYS[1])`)

// Heartbeat implements store.Replicas in one sorted set.
func (s *Store) Heartbeat(ctx context.Context, id string, now time.Time, ttl time.Duration) (int, error) {
	n, err := heartbeatScript.Run(ctx, s.c, []string{s.replicasKey()}, id, ms(now),
		strconv.FormatInt(ms(now.Add(-ttl)), 10), max(ttl.Milliseconds(), 1)*2).Int()
	if err != nil {
		return 0, wrap(fmt.Sprintf("heartbeat of replica %s", id), err)
	}
	return max(n, 1), nil
}
