package redisstore

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"strconv"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/authbroker/authbroker/internal/store"
)

// denyScript records an entry and announces it in one atomic step, so no
// replica can see the entry in LiveDenied without it having been published,
// nor receive it before it is stored. ZADD GT only ever extends an entry;
// the entry is published only when it changed, so what replicas receive is
// always the stored Until. PUBLISH names a channel, not a key, so the script
// stays Cluster-safe with the sorted set as its only key.
//
// KEYS[1] the denylist sorted set; ARGV: session id, until (unix ms), the
// entry as JSON, the channel.
var denyScript = redis.NewScript(`
if redis.call('ZADD', KEYS[1], 'GT', 'CH', ARGV[2], ARGV[1]) == 1 then
  redis.call('PUBLISH', ARGV[4], ARGV[3])
end
return 0
`)

const (
	// pruneMargin is how long past their Until entries stay in Redis. Each
	// replica prunes with its own clock; the margin keeps a replica whose
	// clock runs ahead from removing entries that others still honour.
	pruneMargin = time.Minute
	// watchPing is how long a subscription may stay silent before it is
	// probed with a PING; a second silent interval means the connection is
	// dead (a half-open TCP connection never reports an error by itself).
	watchPing = 15 * time.Second
	// subscribeTimeout bounds the wait for Redis to confirm a subscription.
	subscribeTimeout = 5 * time.Second
	// watchBuffer lets a burst of revocations queue while the reader is busy.
	watchBuffer = 64
)

// Deny adds an entry or extends it; an earlier Until never shortens one.
// Until is rounded up to the millisecond, so an entry never ends early.
func (s *Store) Deny(ctx context.Context, d store.Denied) error {
	op := "deny session " + d.SessionID
	if d.SessionID == "" {
		return fmt.Errorf("redis: %s: empty session id", op)
	}
	until := msCeil(d.Until)
	entry, err := json.Marshal(store.Denied{SessionID: d.SessionID, Until: time.UnixMilli(until).UTC()})
	if err != nil {
		return fmt.Errorf("redis: %s: %w", op, err)
	}
	key := s.denyKey()
	if err := denyScript.Run(ctx, s.c, []string{key}, d.SessionID, until, entry, s.denyChannel()).Err(); err != nil {
		return wrap(op, err)
	}
	return nil
}

// LiveDenied returns the entries whose Until is after now, and prunes those
// that ended more than pruneMargin before now, in one pipeline.
func (s *Store) LiveDenied(ctx context.Context, now time.Time) ([]store.Denied, error) {
	key, nowMS := s.denyKey(), ms(now)
	var live *redis.ZSliceCmd
	if _, err := s.c.Pipelined(ctx, func(p redis.Pipeliner) error {
		p.ZRemRangeByScore(ctx, key, "-inf", "("+strconv.FormatInt(nowMS-pruneMargin.Milliseconds(), 10))
		live = p.ZRangeByScoreWithScores(ctx, key, &redis.ZRangeBy{Min: "(" + strconv.FormatInt(nowMS, 10), Max: "+inf"})
		return nil
	}); err != nil {
		return nil, wrap("live denied", err)
	}
	zs := live.Val()
	out := make([]store.Denied, 0, len(zs))
	for _, z := range zs {
		sid, _ := z.Member.(string)
		out = append(out, store.Denied{SessionID: sid, Until: time.UnixMilli(int64(z.Score)).UTC()})
	}
	return out, nil
}

// WatchDenied subscribes to the denylist channel and returns once Redis has
// confirmed the subscription, so an entry denied after the call returns is
// delivered. The channel is closed when ctx ends or the subscription breaks
// (connection lost, or silent through a PING probe). go-redis would
// resubscribe on its own, but silently, losing what was published in
// between; closing instead tells the caller to resubscribe and resync with
// LiveDenied (store.DenyWatcher).
func (s *Store) WatchDenied(ctx context.Context) (<-chan store.Denied, error) {
	ps := s.c.Subscribe(ctx, s.denyChannel())
	msg, err := ps.ReceiveTimeout(ctx, subscribeTimeout)
	if err == nil {
		if _, ok := msg.(*redis.Subscription); !ok {
			err = fmt.Errorf("unexpected %T while subscribing", msg)
		}
	}
	if err != nil {
		_ = ps.Close()
		return nil, wrap("watch denylist", err)
	}

	ch := make(chan store.Denied, watchBuffer)
	go func() {
		defer close(ch)
		defer ps.Close()
		// Unblock a pending receive as soon as ctx ends.
		stop := context.AfterFunc(ctx, func() { _ = ps.Close() })
		defer stop()
		probed := false
		for {
			msg, err := ps.ReceiveTimeout(ctx, watchPing)
			if err != nil {
				if !isTimeout(err) || probed || ctx.Err() != nil {
					return
				}
				if ps.Ping(ctx) != nil {
					return
				}
				probed = true
				continue
			}
			probed = false
			m, ok := msg.(*redis.Message)
			if !ok {
				// The answer to a probe, or a subscription notice.
				continue
			}
			var d store.Denied
			if json.Unmarshal([]byte(m.Payload), &d) != nil || d.SessionID == "" {
				// Not one of ours (a stray PUBLISH on the channel): an entry
				// we cannot read is one the next resync delivers if real.
				continue
			}
			select {
			case ch <- d:
			case <-ctx.Done():
				return
			}
		}
	}()
	return ch, nil
}

func (s *Store) denyChannel() string { return s.prefix + "denylist" }

func isTimeout(err error) bool {
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
}
