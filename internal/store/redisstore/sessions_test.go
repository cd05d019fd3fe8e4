package redisstore_test

import (
	"context"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/authbroker/authbroker/internal/clock"
	"github.com/authbroker/authbroker/internal/store"
	"github.com/authbroker/authbroker/internal/store/redisstore"
	"github.com/authbroker/authbroker/internal/testenv"
)

// commandLog is a go-redis hook that records every command the client
// sends, alone or in a pipeline: what the server sees, one entry per command.
type commandLog struct {
	mu        sync.Mutex
	cmds      []string
	pipelines int
}

func (l *commandLog) DialHook(next redis.DialHook) redis.DialHook { return next }

func (l *commandLog) ProcessHook(next redis.ProcessHook) redis.ProcessHook {
	return func(ctx context.Context, cmd redis.Cmder) error {
		l.mu.Lock()
		l.cmds = append(l.cmds, cmd.Name())
		l.mu.Unlock()
		return next(ctx, cmd)
	}
}

func (l *commandLog) ProcessPipelineHook(next redis.ProcessPipelineHook) redis.ProcessPipelineHook {
	return func(ctx context.Context, cmds []redis.Cmder) error {
		l.mu.Lock()
		l.pipelines++
		for _, c := range cmds {
			l.cmds = append(l.cmds, c.Name())
		}
		l.mu.Unlock()
		return next(ctx, cmds)
	}
}

// take returns what was recorded since the last take.
func (l *commandLog) take() (cmds []string, pipelines int) {
	l.mu.Lock()
	defer l.mu.Unlock()
	cmds, pipelines = l.cmds, l.pipelines
	l.cmds, l.pipelines = nil, 0
	return cmds, pipelines
}

// realisticSession is a session as a browser sign-in creates it: a UUIDv7
// member, an email and a Korean name, a full desktop user agent.
func realisticSession(id string, now time.Time) store.Session {
	return store.Session{
		ID: id, MemberID: "019a4f3e-7b2c-7d41-9e8a-3f5b6c7d8e9f", Provider: "google",
		UserAgent: "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36",
		IP:        "203.0.113.45",
		CreatedAt: now, LastUsedAt: now, ExpiresAt: now.Add(14 * 24 * time.Hour),
		Claims: store.Claims{Role: store.RoleUser, Email: "kim.jiwoo@example.com", EmailVerified: true, Name: "김지우"},
	}
}

// TestRefreshIsOneRoundTrip: a refresh is one command on the wire (the
// script by its SHA), whatever its outcome, rate limit included.
func TestRefreshIsOneRoundTrip(t *testing.T) {
	s, c := newStore(t)
	ix := openIndex(t, testenv.SQLiteURL(t), time.Now)
	ss := s.Sessions(ix)
	log := &commandLog{}
	c.AddHook(log)
	ctx := t.Context()
	now := time.Now()
	sess := realisticSession("AAAAAAAAAAAAAAAAAAAAAA", now)
	if _, err := ss.CreateSession(ctx, sess, store.AdmitAlongside); err != nil {
		t.Fatal(err)
	}
	r := store.Refresh{SessionID: sess.ID, Now: now, Grace: 10 * time.Second, IP: "203.0.113.9", Limit: 20, Window: time.Minute}
	if _, err := ss.Refresh(ctx, r); err != nil { // loads the script (EVALSHA, then EVAL once)
		t.Fatal(err)
	}
	log.take()
	r.Counter = 1 // current, then previous after its own rotation
	for i, want := range []string{"rotated", "replayed"} {
		got, err := ss.Refresh(ctx, r)
		if err != nil {
			t.Fatalf("%s: %v", want, err)
		}
		if i == 0 && !got.Rotated || i == 1 && got.Rotated {
			t.Fatalf("%s: rotated=%v", want, got.Rotated)
		}
		cmds, pipelines := log.take()
		if len(cmds) != 1 || cmds[0] != "evalsha" || pipelines != 0 {
			t.Fatalf("%s: commands %v in %d pipelines, want one evalsha", want, cmds, pipelines)
		}
	}
}

// TestSessionMemoryIsConstant: a live session costs at most 256 bytes of
// Redis memory (MEMORY USAGE over every key it uses; the index is in SQL),
// the same after 1 and after 10,000 rotations, with its record expiring
// with the session.
func TestSessionMemoryIsConstant(t *testing.T) {
	clk := clock.NewFake(time.Now().UTC())
	s, c, prefix := newStoreWithPrefix(t, redisstore.WithClock(clk.Now))
	ss := s.Sessions(openIndex(t, testenv.SQLiteURL(t), clk.Now))
	ctx := t.Context()
	sess := realisticSession("BBBBBBBBBBBBBBBBBBBBBB", clk.Now())
	if _, err := ss.CreateSession(ctx, sess, store.AdmitAlongside); err != nil {
		t.Fatal(err)
	}
	ttl, err := c.PTTL(ctx, prefix+"s:{"+sess.ID+"}").Result()
	if err != nil {
		t.Fatal(err)
	}
	if want := sess.ExpiresAt.Sub(clk.Now()); ttl < want-time.Second || ttl > want {
		t.Fatalf("record TTL %v, want the session's %v", ttl, want)
	}
	usage := func() int64 {
		t.Helper()
		var keys []string
		iter := c.Scan(ctx, 0, prefix+"*", 100).Iterator()
		for iter.Next(ctx) {
			keys = append(keys, iter.Val())
		}
		if len(keys) != 1 || !strings.Contains(keys[0], "{"+sess.ID+"}") {
			t.Fatalf("keys of one session: %v, want its record alone", keys)
		}
		n, err := c.MemoryUsage(ctx, keys[0]).Result()
		if err != nil {
			t.Fatal(err)
		}
		return n
	}
	r := store.Refresh{SessionID: sess.ID, Grace: 10 * time.Second, IP: "2001:db8:85a3::8a2e:370:7334", Limit: 20, Window: time.Minute}
	rotate := func(n int) {
		for range n {
			clk.Advance(15 * time.Second)
			r.Now = clk.Now()
			got, err := ss.Refresh(ctx, r)
			if err != nil {
				t.Fatal(err)
			}
			r.Counter = got.Counter
		}
	}
	rotate(1)
	after1 := usage()
	rotate(9_999)
	after10k := usage()
	t.Logf("MEMORY USAGE of a session: %d B after 1 rotation, %d B after 10,000", after1, after10k)
	if after1 > 256 || after10k != after1 {
		t.Fatalf("MEMORY USAGE: %d B after 1 rotation, %d B after 10,000; want <= 256 and equal", after1, after10k)
	}
}

// TestSessionRecordHasTheSessionHashTag: the one key of a session carries
// its id as hash tag, so the refresh script runs on Redis Cluster.
func TestSessionRecordHasTheSessionHashTag(t *testing.T) {
	s, c, prefix := newStoreWithPrefix(t)
	ss := s.Sessions(openIndex(t, testenv.SQLiteURL(t), time.Now))
	sess := realisticSession("CCCCCCCCCCCCCCCCCCCCCC", time.Now())
	if _, err := ss.CreateSession(t.Context(), sess, store.AdmitAlongside); err != nil {
		t.Fatal(err)
	}
	keys, err := c.Keys(t.Context(), prefix+"*").Result()
	if err != nil {
		t.Fatal(err)
	}
	if len(keys) != 1 || keys[0] != prefix+"s:{"+sess.ID+"}" {
		t.Fatalf("keys %v, want %ss:{%s}", keys, prefix, sess.ID)
	}
}
