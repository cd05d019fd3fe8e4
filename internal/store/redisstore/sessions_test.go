package redisstore_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

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

// hashOf stands in for token.Hash: a SHA-256 of something unique.
func hashOf(parts ...any) []byte {
	h := sha256.New()
	for _, p := range parts {
		switch v := p.(type) {
		case string:
			h.Write([]byte(v))
		case int:
			_ = binary.Write(h, binary.BigEndian, int64(v))
		}
	}
	return h.Sum(nil)
}

func testSession(id, member string, now time.Time) store.Session {
	return store.Session{
		ID: id, MemberID: member, Provider: "dev", UserAgent: "test", IP: "192.0.2.1",
		CreatedAt: now, LastUsedAt: now, ExpiresAt: now.Add(time.Hour),
	}
}

// TestRotateRefreshIsOneRoundTrip counts what the client sends for each
// outcome of a refresh: exactly one command, EVALSHA, and no pipeline
// (BRIEF §3). The script is warmed first: after a Redis start the very first
// refresh also sends the EVAL that loads it.
func TestRotateRefreshIsOneRoundTrip(t *testing.T) {
	st, c := newStore(t)
	log := &commandLog{}
	c.AddHook(log)
	ctx := t.Context()
	now := time.Now().UTC()
	prefix := testenv.RandomName("")

	warm := testSession(prefix+"warm", prefix+"member", now)
	if err := st.CreateSession(ctx, warm, hashOf("warm", 0)); err != nil {
		t.Fatal(err)
	}
	if _, err := st.RotateRefresh(ctx, store.Rotation{SessionID: warm.ID, Presented: hashOf("warm", 0), Next: hashOf("warm", 1), Now: now}); err != nil {
		t.Fatal(err)
	}

	s := testSession(prefix+"s", prefix+"member", now)
	if err := st.CreateSession(ctx, s, hashOf("s", 0)); err != nil {
		t.Fatal(err)
	}
	log.take()

	steps := []struct {
		name    string
		r       store.Rotation
		wantErr error
	}{
		{"rotated", store.Rotation{Presented: hashOf("s", 0), Next: hashOf("s", 1), Sealed: []byte("sealed-1"), Now: now}, nil},
		{"graced", store.Rotation{Presented: hashOf("s", 0), Next: hashOf("s", 2), Sealed: []byte("sealed-2"), Now: now.Add(time.Second)}, nil},
		{"not found", store.Rotation{Presented: hashOf("s", 99), Next: hashOf("s", 3), Now: now.Add(time.Second)}, store.ErrNotFound},
		{"reused", store.Rotation{Presented: hashOf("s", 0), Next: hashOf("s", 4), Now: now.Add(time.Minute)}, store.ErrReused},
	}
	for _, step := range steps {
		step.r.SessionID, step.r.Grace = s.ID, 10*time.Second
		_, err := st.RotateRefresh(ctx, step.r)
		if !errors.Is(err, step.wantErr) {
			t.Fatalf("%s: err = %v, want %v", step.name, err, step.wantErr)
		}
		cmds, pipelines := log.take()
		if !slices.Equal(cmds, []string{"evalsha"}) || pipelines != 0 {
			t.Errorf("%s: sent %q in %d pipelines, want exactly one evalsha", step.name, cmds, pipelines)
		}
	}
}

// TestSessionKeysShareTheSessionHashTag checks the key layout that makes a
// refresh Cluster-safe: after a create and a rotation, the only keys are the
// session hash, tagged {sid}, and the member index, tagged {member}.
func TestSessionKeysShareTheSessionHashTag(t *testing.T) {
	url, prefix := testenv.Redis(t)
	opt, err := redis.ParseURL(url)
	if err != nil {
		t.Fatal(err)
	}
	c := redis.NewClient(opt)
	t.Cleanup(func() { _ = c.Close() })
	st := redisstore.New(c, prefix)
	ctx := t.Context()
	now := time.Now().UTC()
	s := testSession("sid1", "member1", now)
	if err := st.CreateSession(ctx, s, hashOf(0)); err != nil {
		t.Fatal(err)
	}
	if _, err := st.RotateRefresh(ctx, store.Rotation{SessionID: s.ID, Presented: hashOf(0), Next: hashOf(1), Now: now}); err != nil {
		t.Fatal(err)
	}
	var keys []string
	iter := c.Scan(ctx, 0, prefix+"*", 1000).Iterator()
	for iter.Next(ctx) {
		keys = append(keys, iter.Val())
	}
	if err := iter.Err(); err != nil {
		t.Fatal(err)
	}
	slices.Sort(keys)
	want := []string{prefix + "m:{member1}:sessions", prefix + "s:{sid1}"}
	if !slices.Equal(keys, want) {
		t.Fatalf("keys %q, want %q", keys, want)
	}
	// The session key expires with the session; the index no earlier.
	for _, k := range keys {
		at, err := c.PExpireTime(ctx, k).Result()
		if err != nil {
			t.Fatal(err)
		}
		if d := at - time.Duration(s.ExpiresAt.UnixMilli())*time.Millisecond; d != 0 {
			t.Errorf("%s expires %v from the session's ExpiresAt, want 0", k, d)
		}
	}
}

// TestRetiredHistoryIsBounded checks what keeps a long-lived session's
// record small: the retired-hash history (8 bytes per rotation) stops
// growing at 1024 entries, dropping the oldest, and a read of the session
// does not carry it.
func TestRetiredHistoryIsBounded(t *testing.T) {
	url, prefix := testenv.Redis(t)
	c, err := redisstore.Connect(url)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.Close() })
	st := redisstore.New(c, prefix)
	ctx := t.Context()
	now := time.Now().UTC()
	s := testSession("sid1", "member1", now)
	if err := st.CreateSession(ctx, s, hashOf(s.ID, 0)); err != nil {
		t.Fatal(err)
	}
	const rotations = 1100
	for i := 1; i <= rotations; i++ {
		if _, err := st.RotateRefresh(ctx, store.Rotation{SessionID: s.ID, Presented: hashOf(s.ID, i-1),
			Next: hashOf(s.ID, i), Now: now, Grace: time.Second}); err != nil {
			t.Fatalf("rotation %d: %v", i, err)
		}
	}
	key := prefix + "s:{sid1}"
	hist, err := c.HGet(ctx, key, "hist").Bytes()
	if err != nil {
		t.Fatal(err)
	}
	if len(hist) != 1024*8 {
		t.Fatalf("history of %d bytes after %d rotations, want %d", len(hist), rotations, 1024*8)
	}
	// Oldest first: token rotations-1024 (the 1024th most recent retired)
	// leads, the previous token closes.
	if first, last := hashOf(s.ID, rotations-1024)[:8], hashOf(s.ID, rotations-1)[:8]; !bytes.Equal(hist[:8], first) || !bytes.Equal(hist[len(hist)-8:], last) {
		t.Fatalf("history runs %x…%x, want %x…%x", hist[:8], hist[len(hist)-8:], first, last)
	}

	log := &commandLog{}
	c.AddHook(log)
	got, err := st.GetSession(ctx, s.ID)
	if err != nil {
		t.Fatal(err)
	}
	if got.ID != s.ID {
		t.Fatalf("session %q, want %q", got.ID, s.ID)
	}
	if cmds, _ := log.take(); !slices.Equal(cmds, []string{"hmget"}) {
		t.Fatalf("get session sent %q, want one hmget of the session's fields", cmds)
	}
}

// TestShortRefreshHashesAreRefused: the history keeps 8-byte prefixes back
// to back, so a shorter hash would shift every later entry.
func TestShortRefreshHashesAreRefused(t *testing.T) {
	st, _ := newStore(t)
	ctx := t.Context()
	now := time.Now().UTC()
	s := testSession(testenv.RandomName("short"), "member", now)
	if err := st.CreateSession(ctx, s, []byte("short")); err == nil {
		t.Fatal("create with a 5-byte refresh hash succeeded")
	}
	if err := st.CreateSession(ctx, s, hashOf(s.ID, 0)); err != nil {
		t.Fatal(err)
	}
	_, err := st.RotateRefresh(ctx, store.Rotation{SessionID: s.ID, Presented: hashOf(s.ID, 0), Next: []byte("short"), Now: now})
	if err == nil || errors.Is(err, store.ErrNotFound) || errors.Is(err, store.ErrReused) {
		t.Fatalf("rotate to a 5-byte next hash: err = %v, want a plain error", err)
	}
	if _, err := st.RotateRefresh(ctx, store.Rotation{SessionID: s.ID, Presented: hashOf(s.ID, 0), Next: hashOf(s.ID, 1), Now: now}); err != nil {
		t.Fatalf("rotate after the refused one: %v", err)
	}
}
