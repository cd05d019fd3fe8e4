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

// RunProviderConfigs checks a store.ProviderConfigs. newStore must give
// each subtest its own store (its generation counts that subtest's changes).
func RunProviderConfigs(t *testing.T, newStore func(t *testing.T) store.ProviderConfigs) {
	sample := func(name string) store.ProviderConfig {
		return store.ProviderConfig{Name: name, Type: "oidc", DisplayName: "Company SSO", Order: 5, Enabled: true,
			ClientID: "client-" + name, ClientSecret: []byte{1, 0, 0xff, 7}, Settings: []byte(`{"issuer":"https://sso.example.com"}`),
			UpdatedAt: now(), UpdatedBy: "admin-1"}
	}
	t.Run("put creates, get and list return it, the generation moves", func(t *testing.T) {
		s, c := newStore(t), ctx(t)
		g0, err := s.ProviderGeneration(c)
		if err != nil {
			t.Fatal(err)
		}
		want := sample("company")
		got, err := s.PutProviderConfig(c, want, 0)
		if err != nil {
			t.Fatal(err)
		}
		if got.Version <= g0 {
			t.Fatalf("version %d, generation before %d", got.Version, g0)
		}
		if g, _ := s.ProviderGeneration(c); g != got.Version {
			t.Fatalf("generation %d, version %d", g, got.Version)
		}
		read, err := s.GetProviderConfig(c, "company")
		if err != nil {
			t.Fatal(err)
		}
		if read.Name != want.Name || read.Type != want.Type || read.DisplayName != want.DisplayName || read.Order != want.Order ||
			!read.Enabled || read.ClientID != want.ClientID || string(read.ClientSecret) != string(want.ClientSecret) ||
			string(read.Settings) != string(want.Settings) || read.Version != got.Version || read.UpdatedBy != "admin-1" {
			t.Fatalf("read back %+v, want %+v", read, want)
		}
		sameTime(t, "updated", read.UpdatedAt, want.UpdatedAt)
		list, err := s.ListProviderConfigs(c)
		if err != nil || len(list) != 1 || list[0].Name != "company" {
			t.Fatalf("list %+v, %v", list, err)
		}
	})
	t.Run("create of an existing name: ErrConflict", func(t *testing.T) {
		s, c := newStore(t), ctx(t)
		if _, err := s.PutProviderConfig(c, sample("dup"), 0); err != nil {
			t.Fatal(err)
		}
		if _, err := s.PutProviderConfig(c, sample("dup"), 0); !errors.Is(err, store.ErrConflict) {
			t.Fatalf("second create: %v, want ErrConflict", err)
		}
	})
	t.Run("replace needs the version read: a stale one is ErrConflict and changes nothing", func(t *testing.T) {
		s, c := newStore(t), ctx(t)
		v1, _ := s.PutProviderConfig(c, sample("kakao-biz"), 0)
		next := sample("kakao-biz")
		next.Enabled, next.ClientSecret = false, nil
		v2, err := s.PutProviderConfig(c, next, v1.Version)
		if err != nil || v2.Version <= v1.Version {
			t.Fatalf("replace: %+v %v", v2, err)
		}
		if _, err := s.PutProviderConfig(c, sample("kakao-biz"), v1.Version); !errors.Is(err, store.ErrConflict) {
			t.Fatalf("replace with a stale version: %v, want ErrConflict", err)
		}
		got, _ := s.GetProviderConfig(c, "kakao-biz")
		if got.Enabled || got.ClientSecret != nil || got.Version != v2.Version {
			t.Fatalf("after the refused replace: %+v", got)
		}
		if _, err := s.PutProviderConfig(c, sample("never-created"), 7); !errors.Is(err, store.ErrNotFound) {
			t.Fatalf("replace of a missing name: %v, want ErrNotFound", err)
		}
	})
	t.Run("delete: gone, the generation moves, a second delete is ErrNotFound", func(t *testing.T) {
		s, c := newStore(t), ctx(t)
		v, _ := s.PutProviderConfig(c, sample("gone"), 0)
		if err := s.DeleteProviderConfig(c, "gone"); err != nil {
			t.Fatal(err)
		}
		if g, _ := s.ProviderGeneration(c); g <= v.Version {
			t.Fatalf("generation %d after a delete, was %d", g, v.Version)
		}
		_, err := s.GetProviderConfig(c, "gone")
		wantNotFound(t, "get after delete", err)
		wantNotFound(t, "second delete", s.DeleteProviderConfig(c, "gone"))
	})
	t.Run("concurrent creates of one name: exactly one wins", func(t *testing.T) {
		s, c := newStore(t), ctx(t)
		var (
			wg   sync.WaitGroup
			mu   sync.Mutex
			wins int
		)
		for range 10 {
			wg.Go(func() {
				_, err := s.PutProviderConfig(c, sample("race"), 0)
				mu.Lock()
				defer mu.Unlock()
				switch {
				case err == nil:
					wins++
				case !errors.Is(err, store.ErrConflict):
					t.Errorf("create: %v", err)
				}
			})
		}
		wg.Wait()
		if wins != 1 {
			t.Fatalf("%d creates won, want 1", wins)
		}
	})
}

// RunChanges checks a store.Changes: an announcement reaches a watcher of
// its topic, and only of its topic.
func RunChanges(t *testing.T, newChanges func(t *testing.T) store.Changes) {
	t.Run("an announcement reaches the watchers of its topic", func(t *testing.T) {
		ch, c := newChanges(t), ctx(t)
		mine, err := ch.Watch(c, "providers")
		if err != nil {
			t.Fatal(err)
		}
		other, err := ch.Watch(c, "other")
		if err != nil {
			t.Fatal(err)
		}
		if err := ch.Announce(c, "providers"); err != nil {
			t.Fatal(err)
		}
		select {
		case <-mine:
		case <-time.After(2 * time.Second):
			t.Fatal("the announcement did not arrive within 2 s")
		}
		select {
		case <-other:
			t.Fatal("another topic heard it")
		case <-time.After(100 * time.Millisecond):
		}
	})
}
