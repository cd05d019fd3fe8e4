package redisstore_test

import (
	"context"
	"errors"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/authbroker/authbroker/internal/store"
	"github.com/authbroker/authbroker/internal/store/redisstore"
	"github.com/authbroker/authbroker/internal/testenv"
)

// twoReplicas returns two Stores on one prefix with separate clients, as
// two broker replicas sharing a Redis; the first client is named so its
// connections can be found in CLIENT LIST.
func twoReplicas(t *testing.T) (a, b *redisstore.Store, aName string, admin *redis.Client) {
	t.Helper()
	url, prefix := testenv.Redis(t)
	opt, err := redis.ParseURL(url)
	if err != nil {
		t.Fatal(err)
	}
	aName = testenv.RandomName("abwatch")
	aOpt := *opt
	aOpt.ClientName = aName
	ca, cb := redis.NewClient(&aOpt), redis.NewClient(opt)
	t.Cleanup(func() { _ = ca.Close(); _ = cb.Close() })
	return redisstore.New(ca, prefix), redisstore.New(cb, prefix), aName, cb
}

// receive waits up to d for an entry on ch.
func receive(t *testing.T, ch <-chan store.Denied, d time.Duration) store.Denied {
	t.Helper()
	select {
	case got, ok := <-ch:
		if !ok {
			t.Fatal("watch channel closed, want an entry")
		}
		return got
	case <-time.After(d):
		t.Fatalf("no entry within %v", d)
	}
	return store.Denied{}
}

// waitClosed waits up to d for ch to be closed, discarding entries.
func waitClosed(t *testing.T, ch <-chan store.Denied, d time.Duration) {
	t.Helper()
	deadline := time.After(d)
	for {
		select {
		case _, ok := <-ch:
			if !ok {
				return
			}
		case <-deadline:
			t.Fatalf("watch channel still open after %v", d)
		}
	}
}

func TestWatchDeniedDeliversAnotherReplicasEntryWithin1s(t *testing.T) {
	a, b, _, _ := twoReplicas(t)
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	ch, err := a.WatchDenied(ctx)
	if err != nil {
		t.Fatalf("watch: %v", err)
	}
	want := store.Denied{SessionID: testenv.RandomName("sid"), Until: time.Now().UTC().Add(15 * time.Minute).Truncate(time.Millisecond)}
	if err := b.Deny(ctx, want); err != nil {
		t.Fatalf("deny: %v", err)
	}
	got := receive(t, ch, time.Second)
	if got.SessionID != want.SessionID || !got.Until.Equal(want.Until) {
		t.Fatalf("received %+v, want %+v", got, want)
	}

	// An extension is announced; a Deny that changes nothing is not.
	longer := store.Denied{SessionID: want.SessionID, Until: want.Until.Add(time.Minute)}
	for _, d := range []store.Denied{want, longer} {
		if err := b.Deny(ctx, d); err != nil {
			t.Fatalf("deny: %v", err)
		}
	}
	if got := receive(t, ch, time.Second); !got.Until.Equal(longer.Until) {
		t.Fatalf("received %+v after an extension, want %+v", got, longer)
	}
}

func TestWatchDeniedClosesWhenContextEnds(t *testing.T) {
	a, _, _, _ := twoReplicas(t)
	ctx, cancel := context.WithCancel(t.Context())
	ch, err := a.WatchDenied(ctx)
	if err != nil {
		t.Fatalf("watch: %v", err)
	}
	cancel()
	waitClosed(t, ch, time.Second)
}

// The subscription's connection is killed server-side: the channel must
// close so the caller resyncs, rather than go-redis resubscribing silently
// and losing what was published in between.
func TestWatchDeniedClosesWhenTheSubscriptionBreaks(t *testing.T) {
	a, _, name, admin := twoReplicas(t)
	ctx := t.Context()
	ch, err := a.WatchDenied(ctx)
	if err != nil {
		t.Fatalf("watch: %v", err)
	}
	list, err := admin.ClientList(ctx).Result()
	if err != nil {
		t.Fatal(err)
	}
	var id string
	for line := range strings.Lines(list) {
		fields := strings.Fields(line)
		var named, subscribed bool
		var lineID string
		for _, f := range fields {
			switch {
			case f == "name="+name:
				named = true
			case f == "sub=1":
				subscribed = true
			case strings.HasPrefix(f, "id="):
				lineID = strings.TrimPrefix(f, "id=")
			}
		}
		if named && subscribed {
			id = lineID
		}
	}
	if _, err := strconv.Atoi(id); err != nil {
		t.Fatalf("subscription connection not found in CLIENT LIST")
	}
	if err := admin.ClientKillByFilter(ctx, "ID", id).Err(); err != nil {
		t.Fatalf("client kill: %v", err)
	}
	waitClosed(t, ch, time.Second)
}

// With Redis unreachable every operation fails with a connection error,
// never ErrNotFound: the service must answer 503, not "invalid grant".
func TestUnreachableRedisIsAnErrorNotANotFound(t *testing.T) {
	c := redis.NewClient(&redis.Options{Addr: "127.0.0.1:1", MaxRetries: -1, DialerRetries: 1, DialTimeout: 200 * time.Millisecond})
	t.Cleanup(func() { _ = c.Close() })
	st := redisstore.New(c, "x:")
	ctx := t.Context()
	ss := st.Sessions(openIndex(t, testenv.SQLiteURL(t), time.Now))
	now := time.Now()
	ops := map[string]func() error{
		"ping":        func() error { return st.Ping(ctx) },
		"take state":  func() error { _, err := st.TakeState(ctx, "id"); return err },
		"take code":   func() error { _, err := st.TakeCode(ctx, "id"); return err },
		"get session": func() error { _, err := ss.GetSession(ctx, "sid"); return err },
		"refresh": func() error {
			_, err := ss.Refresh(ctx, store.Refresh{SessionID: "sid", Counter: 1, Now: now})
			return err
		},
		"revoke":      func() error { _, err := ss.RevokeSession(ctx, "sid"); return err },
		"marker":      func() error { _, _, err := st.DataMarker(ctx, "m"); return err },
		"heartbeat":   func() error { _, err := st.Heartbeat(ctx, "r", now, time.Second); return err },
		"live denied": func() error { _, err := st.LiveDenied(ctx, now); return err },
		"watch":       func() error { _, err := st.WatchDenied(ctx); return err },
	}
	for name, op := range ops {
		err := op()
		if err == nil || errors.Is(err, store.ErrNotFound) || !strings.HasPrefix(err.Error(), "redis: ") {
			t.Errorf("%s: err = %v, want a wrapped connection error", name, err)
		}
	}
}
