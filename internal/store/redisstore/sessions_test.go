package redisstore_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"slices"
	"strings"
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
// session hash and its history key, both tagged {sid}, and the member
// index, tagged {member}.
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
	keys := keysUnder(t, c, prefix)
	want := []string{prefix + "m:{member1}:sessions", prefix + "s:{sid1}", prefix + "s:{sid1}:h"}
	if !slices.Equal(keys, want) {
		t.Fatalf("keys %q, want %q", keys, want)
	}
	// Redis Cluster hashes only the part inside the first {…}: the script's
	// two keys must agree on it.
	if a, b := hashTag(keys[1]), hashTag(keys[2]); a != "sid1" || b != "sid1" {
		t.Fatalf("hash tags %q and %q, want both %q", a, b, "sid1")
	}
	// Both session keys expire with the session; the index no earlier.
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

// newStoreWithPrefix is newStore that also returns the key prefix, for
// tests that look at the keys themselves.
func newStoreWithPrefix(t *testing.T) (*redisstore.Store, redis.UniversalClient, string) {
	t.Helper()
	url, prefix := testenv.Redis(t)
	c, err := redisstore.Connect(url)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.Close() })
	return redisstore.New(c, prefix), c, prefix
}

// keysUnder returns every key under prefix, sorted.
func keysUnder(t *testing.T, c redis.UniversalClient, prefix string) []string {
	t.Helper()
	var keys []string
	iter := c.Scan(t.Context(), 0, prefix+"*", 1000).Iterator()
	for iter.Next(t.Context()) {
		keys = append(keys, iter.Val())
	}
	if err := iter.Err(); err != nil {
		t.Fatal(err)
	}
	slices.Sort(keys)
	return keys
}

// hashTag is the part of key Redis Cluster hashes: the first {…}, when it
// is not empty.
func hashTag(key string) string {
	_, rest, ok := strings.Cut(key, "{")
	if !ok {
		return key
	}
	tag, _, ok := strings.Cut(rest, "}")
	if !ok || tag == "" {
		return key
	}
	return tag
}

// TestRetiredHistoryIsBounded checks what keeps a long-lived session's
// records small: the retired-hash ring (8 bytes per rotation) stops growing
// at 1024 entries, each rotation past that overwriting the oldest; the
// session hash does not carry the history, and reads of the session touch
// neither the ring nor its refresh state.
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
	const rotations, kept = 1100, 1024
	for i := 1; i <= rotations; i++ {
		if _, err := st.RotateRefresh(ctx, store.Rotation{SessionID: s.ID, Presented: hashOf(s.ID, i-1),
			Next: hashOf(s.ID, i), Now: now, Grace: time.Second}); err != nil {
			t.Fatalf("rotation %d: %v", i, err)
		}
	}
	ring, err := c.Get(ctx, prefix+"s:{sid1}:h").Bytes()
	if err != nil {
		t.Fatal(err)
	}
	if len(ring) != kept*8 {
		t.Fatalf("ring of %d bytes after %d rotations, want %d", len(ring), rotations, kept*8)
	}
	// Token i was retired by rotation i+1 into slot i mod 1024: the last
	// 1024 retired tokens, 76 to 1099, fill every slot.
	for i := rotations - kept; i < rotations; i++ {
		slot := i % kept
		if got, want := ring[slot*8:slot*8+8], hashOf(s.ID, i)[:8]; !bytes.Equal(got, want) {
			t.Fatalf("slot %d holds %x, want token %d's prefix %x", slot, got, i, want)
		}
	}
	// A full ring is held in about its own size: SETRANGE alone leaves the
	// doubled allocation of a growing string, 20 KiB in MEMORY USAGE.
	if used, err := c.MemoryUsage(ctx, prefix+"s:{sid1}:h").Result(); err != nil || used > kept*8*3/2 {
		t.Fatalf("ring memory usage %d bytes (err %v), want at most %d", used, err, kept*8*3/2)
	}
	fields, err := c.HGetAll(ctx, prefix+"s:{sid1}").Result()
	if err != nil {
		t.Fatal(err)
	}
	for f, v := range fields {
		if len(v) > 64 {
			t.Errorf("session hash field %s holds %d bytes, want the history out of the hash", f, len(v))
		}
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
	if _, err := st.ListSessions(ctx, s.MemberID); err != nil {
		t.Fatal(err)
	}
	if cmds, _ := log.take(); !slices.Equal(cmds, []string{"zrevrange", "hmget"}) {
		t.Fatalf("list sessions sent %q, want the index then one hmget", cmds)
	}

	// The bound is exact: token 75, 1025 rotations old, has been
	// overwritten and is unknown; token 76, 1024 old, is reuse.
	at := now.Add(time.Minute)
	if _, err := st.RotateRefresh(ctx, store.Rotation{SessionID: s.ID, Presented: hashOf(s.ID, rotations-kept-1),
		Next: hashOf("x"), Now: at}); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("token %d rotations old: err = %v, want store.ErrNotFound", kept+1, err)
	}
	if _, err := st.RotateRefresh(ctx, store.Rotation{SessionID: s.ID, Presented: hashOf(s.ID, rotations-kept),
		Next: hashOf("x"), Now: at}); !errors.Is(err, store.ErrReused) {
		t.Fatalf("token %d rotations old: err = %v, want store.ErrReused", kept, err)
	}
}

// TestHistoryKeyKeepsTheSessionExpiry: CreateSession clears any history
// key left under the id, the first rotation creates it with the session's
// expiry, and a ring that lost its expiry or was lost altogether (eviction,
// a hand-made DEL) gets the expiry back at the next rotation. A lost ring
// starts again at slot 0 instead of being zero-filled up to the slot the
// counter points at.
func TestHistoryKeyKeepsTheSessionExpiry(t *testing.T) {
	st, c, prefix := newStoreWithPrefix(t)
	ctx := t.Context()
	now := time.Now().UTC()
	sid := testenv.RandomName("ttl")
	s := testSession(sid, "member", now)
	hk := prefix + "s:{" + sid + "}:h"
	// A history key left under the id, without expiry, is not inherited.
	if err := c.Set(ctx, hk, "stale entries", 0).Err(); err != nil {
		t.Fatal(err)
	}
	if err := st.CreateSession(ctx, s, hashOf(sid, 0)); err != nil {
		t.Fatal(err)
	}
	if n, err := c.Exists(ctx, hk).Result(); err != nil || n != 0 {
		t.Fatalf("history key before any rotation: exists=%d err=%v, want none", n, err)
	}
	rot := func(i int) {
		t.Helper()
		if _, err := st.RotateRefresh(ctx, store.Rotation{SessionID: sid, Presented: hashOf(sid, i-1),
			Next: hashOf(sid, i), Now: now}); err != nil {
			t.Fatalf("rotation %d: %v", i, err)
		}
	}
	wantExpiry := func(what string) {
		t.Helper()
		at, err := c.PExpireTime(ctx, hk).Result()
		if err != nil {
			t.Fatal(err)
		}
		if want := time.Duration(s.ExpiresAt.UnixMilli()) * time.Millisecond; at != want {
			t.Fatalf("%s: history key expires at %v, want the session's %v", what, at, want)
		}
	}
	for i := 1; i <= 3; i++ {
		rot(i)
	}
	wantExpiry("after 3 rotations")

	if err := c.Persist(ctx, hk).Err(); err != nil {
		t.Fatal(err)
	}
	rot(4)
	wantExpiry("after a PERSIST and a rotation")

	if err := c.Del(ctx, hk).Err(); err != nil {
		t.Fatal(err)
	}
	rot(5)
	wantExpiry("after a DEL and a rotation")
	ring, err := c.Get(ctx, hk).Bytes()
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(ring, hashOf(sid, 4)[:8]) {
		t.Fatalf("ring after the loss is %x, want only token 4's prefix %x", ring, hashOf(sid, 4)[:8])
	}
	// What the lost ring held is forgotten, so unknown: the session stays.
	if _, err := st.RotateRefresh(ctx, store.Rotation{SessionID: sid, Presented: hashOf(sid, 1),
		Next: hashOf("x"), Now: now}); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("token retired before the loss: err = %v, want store.ErrNotFound", err)
	}
	rot(6)
}

// TestEndingASessionDeletesItsHistory: revocation, revocation of a
// member's sessions and reuse each delete the history key with the hash.
func TestEndingASessionDeletesItsHistory(t *testing.T) {
	st, c, prefix := newStoreWithPrefix(t)
	ctx := t.Context()
	now := time.Now().UTC()
	member := testenv.RandomName("member")
	ids := []string{"revoked", "member-revoked", "reused"}
	for _, id := range ids {
		if err := st.CreateSession(ctx, testSession(id, member, now), hashOf(id, 0)); err != nil {
			t.Fatal(err)
		}
		for i := 1; i <= 3; i++ {
			if _, err := st.RotateRefresh(ctx, store.Rotation{SessionID: id, Presented: hashOf(id, i-1),
				Next: hashOf(id, i), Now: now}); err != nil {
				t.Fatalf("%s: rotation %d: %v", id, i, err)
			}
		}
	}
	if got := len(keysUnder(t, c, prefix+"s:")); got != 2*len(ids) {
		t.Fatalf("%d session keys before, want %d", got, 2*len(ids))
	}
	// Each end is checked before the next: RevokeMemberSessions also
	// deletes the keys of sessions in the index that had already ended.
	gone := func(what, sid string) {
		t.Helper()
		if keys := keysUnder(t, c, prefix+"s:{"+sid+"}"); len(keys) != 0 {
			t.Fatalf("%s: keys left %q", what, keys)
		}
	}
	if _, err := st.RevokeSession(ctx, "revoked"); err != nil {
		t.Fatal(err)
	}
	gone("revoke", "revoked")
	if _, err := st.RotateRefresh(ctx, store.Rotation{SessionID: "reused", Presented: hashOf("reused", 0),
		Next: hashOf("x"), Now: now}); !errors.Is(err, store.ErrReused) {
		t.Fatalf("reuse: err = %v, want store.ErrReused", err)
	}
	gone("reuse", "reused")
	if _, err := st.RevokeMemberSessions(ctx, member, ""); err != nil {
		t.Fatal(err)
	}
	gone("revoke member sessions", "member-revoked")
}
