package storetest

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/authbroker/authbroker/internal/store"
)

// RunSessionIndex checks a store.SessionIndex: what AdmitIndexed keeps when
// its callbacks succeed or fail, and that it serialises one member's
// admissions.
func RunSessionIndex(t *testing.T, newIndex func(t *testing.T) store.SessionIndex) {
	entry := func(t *testing.T, member string, at time.Time) store.Session {
		return store.Session{ID: randomID(t)[:22], MemberID: member, Provider: "kakao", UserAgent: "ua", IP: "198.51.100.1",
			CreatedAt: at, LastUsedAt: at, ExpiresAt: at.Add(time.Hour)}
	}
	ok := func(context.Context) error { return nil }
	keep := func(context.Context, []store.Session) ([]string, error) { return nil, nil }

	t.Run("admitted: listed newest first, found by id, unindexed on request", func(t *testing.T) {
		ix, c := newIndex(t), ctx(t)
		member, base := randomID(t), now()
		a, b := entry(t, member, base.Add(-time.Minute)), entry(t, member, base)
		for _, e := range []store.Session{a, b} {
			if err := ix.AdmitIndexed(c, e, keep, ok); err != nil {
				t.Fatalf("admit: %v", err)
			}
		}
		got, err := ix.IndexedSessions(c, member)
		if err != nil {
			t.Fatal(err)
		}
		wantIDs(t, "indexed", got, b.ID, a.ID)
		one, err := ix.IndexedSession(c, a.ID)
		if err != nil || one.Provider != "kakao" || one.UserAgent != "ua" || one.IP != "198.51.100.1" {
			t.Fatalf("indexed session = %+v, %v", one, err)
		}
		sameTime(t, "created", one.CreatedAt, a.CreatedAt)
		sameTime(t, "expires", one.ExpiresAt, a.ExpiresAt)
		if err := ix.Unindex(c, a.ID, randomID(t)); err != nil {
			t.Fatalf("unindex: %v", err)
		}
		got, _ = ix.IndexedSessions(c, member)
		wantIDs(t, "after unindex", got, b.ID)
		_, err = ix.IndexedSession(c, a.ID)
		wantNotFound(t, "unindexed", err)
	})

	t.Run("decide sees the member's entries and drops some; its error aborts with nothing changed", func(t *testing.T) {
		ix, c := newIndex(t), ctx(t)
		member := randomID(t)
		a := entry(t, member, now())
		if err := ix.AdmitIndexed(c, a, keep, ok); err != nil {
			t.Fatal(err)
		}
		refuse := errors.New("refused")
		b := entry(t, member, now())
		err := ix.AdmitIndexed(c, b, func(_ context.Context, seen []store.Session) ([]string, error) {
			wantIDs(t, "seen by decide", seen, a.ID)
			return nil, refuse
		}, ok)
		if !errors.Is(err, refuse) {
			t.Fatalf("decide's error: got %v", err)
		}
		got, _ := ix.IndexedSessions(c, member)
		wantIDs(t, "after a refusal", got, a.ID)
		if err := ix.AdmitIndexed(c, b, func(context.Context, []store.Session) ([]string, error) { return []string{a.ID}, nil }, ok); err != nil {
			t.Fatal(err)
		}
		got, _ = ix.IndexedSessions(c, member)
		wantIDs(t, "after a drop", got, b.ID)
	})

	t.Run("publish fails: nothing indexed, nothing dropped", func(t *testing.T) {
		ix, c := newIndex(t), ctx(t)
		member := randomID(t)
		a := entry(t, member, now())
		if err := ix.AdmitIndexed(c, a, keep, ok); err != nil {
			t.Fatal(err)
		}
		boom := errors.New("redis down")
		b := entry(t, member, now())
		err := ix.AdmitIndexed(c, b, func(context.Context, []store.Session) ([]string, error) { return []string{a.ID}, nil },
			func(context.Context) error { return boom })
		if !errors.Is(err, boom) {
			t.Fatalf("publish's error: got %v", err)
		}
		got, _ := ix.IndexedSessions(c, member)
		wantIDs(t, "after a failed publish", got, a.ID)
	})

	t.Run("id already indexed: ErrConflict", func(t *testing.T) {
		ix, c := newIndex(t), ctx(t)
		a := entry(t, randomID(t), now())
		if err := ix.AdmitIndexed(c, a, keep, ok); err != nil {
			t.Fatal(err)
		}
		if err := ix.AdmitIndexed(c, a, keep, ok); !errors.Is(err, store.ErrConflict) {
			t.Fatalf("second admission of one id: %v, want ErrConflict", err)
		}
	})

	t.Run("admissions of one member never overlap", func(t *testing.T) {
		ix, c := newIndex(t), ctx(t)
		member := randomID(t)
		var (
			mu     sync.Mutex
			inside int
			worst  int
			wg     sync.WaitGroup
		)
		enter := func(context.Context, []store.Session) ([]string, error) {
			mu.Lock()
			inside++
			worst = max(worst, inside)
			mu.Unlock()
			return nil, nil
		}
		leave := func(context.Context) error {
			mu.Lock()
			inside--
			mu.Unlock()
			return nil
		}
		for range 10 {
			e := entry(t, member, now())
			wg.Go(func() {
				if err := ix.AdmitIndexed(c, e, enter, leave); err != nil {
					t.Errorf("admit: %v", err)
				}
			})
		}
		wg.Wait()
		if worst != 1 {
			t.Fatalf("%d admissions of one member ran at once, want 1", worst)
		}
	})
}

// RunMeta checks a store.Meta.
func RunMeta(t *testing.T, newMeta func(t *testing.T) store.Meta) {
	t.Run("get of an unset key: ErrNotFound; put then get; put again replaces", func(t *testing.T) {
		m, c := newMeta(t), ctx(t)
		key := "test:" + randomID(t)
		_, err := m.GetMeta(c, key)
		wantNotFound(t, "unset key", err)
		for _, v := range []string{"one", "two"} {
			if err := m.PutMeta(c, key, v); err != nil {
				t.Fatal(err)
			}
			if got, err := m.GetMeta(c, key); err != nil || got != v {
				t.Fatalf("get = %q, %v; want %q", got, err, v)
			}
		}
	})
}

// RunReplicas checks a store.Replicas. newReplicas must give each subtest
// its own set of replicas (a fresh prefix or database).
func RunReplicas(t *testing.T, newReplicas func(t *testing.T) store.Replicas) {
	t.Run("counts replicas seen within the ttl, forgets the silent", func(t *testing.T) {
		r, c := newReplicas(t), ctx(t)
		at, ttl := now(), 15*time.Second
		beat := func(id string, when time.Time) int {
			n, err := r.Heartbeat(c, id, when, ttl)
			if err != nil {
				t.Fatalf("heartbeat %s: %v", id, err)
			}
			return n
		}
		if n := beat("a", at); n != 1 {
			t.Fatalf("first replica: %d", n)
		}
		beat("b", at.Add(time.Second))
		if n := beat("c", at.Add(2*time.Second)); n != 3 {
			t.Fatalf("three replicas: %d", n)
		}
		if n := beat("b", at.Add(16*time.Second)); n != 2 {
			t.Fatalf("a silent for 16 s: %d replicas, want 2", n)
		}
		if n := beat("a", at.Add(16*time.Second)); n != 3 {
			t.Fatalf("a back: %d replicas, want 3", n)
		}
	})
}

// RunDataMarker checks a store.DataMarker: the first call writes the fresh
// marker, later calls return it unchanged.
func RunDataMarker(t *testing.T, newMarker func(t *testing.T) store.DataMarker) {
	t.Run("first call writes the marker, later ones keep it", func(t *testing.T) {
		m, c := newMarker(t), ctx(t)
		first := randomID(t)
		got, created, err := m.DataMarker(c, first)
		if err != nil || got != first || !created {
			t.Fatalf("first call: %q created=%v err=%v", got, created, err)
		}
		got, created, err = m.DataMarker(c, randomID(t))
		if err != nil || got != first || created {
			t.Fatalf("second call: %q created=%v err=%v, want %q kept", got, created, err, first)
		}
	})
}
