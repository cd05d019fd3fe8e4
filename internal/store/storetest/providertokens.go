package storetest

import (
	"errors"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/authbroker/authbroker/internal/store"
)

// ProviderTokensAndMembers is what the vault suite needs: grants belong to
// identities, so the suite links them first.
type ProviderTokensAndMembers interface {
	store.ProviderTokens
	store.Members
}

// RunProviderTokens checks a store.ProviderTokens.
func RunProviderTokens(t *testing.T, newStore func(t *testing.T) ProviderTokensAndMembers) {
	linked := func(t *testing.T, s ProviderTokensAndMembers) (store.Member, store.Identity) {
		t.Helper()
		m := newMember(t, now())
		id := newIdentity(t, "google", m)
		if err := s.CreateMember(ctx(t), m, id); err != nil {
			t.Fatal(err)
		}
		return m, id
	}
	grant := func(id store.Identity, sealed string) store.ProviderToken {
		return store.ProviderToken{Provider: id.Provider, Subject: id.Subject, MemberID: id.MemberID, Sealed: []byte(sealed),
			HasRefresh: true, Expiry: now().Add(time.Hour), Scopes: []string{"openid", "email", "calendar"}, UpdatedAt: now()}
	}

	t.Run("put stores every field, get and list read it back", func(t *testing.T) {
		s, c := newStore(t), ctx(t)
		m, id := linked(t, s)
		want := grant(id, "sealed-1")
		got, err := s.PutProviderToken(c, want)
		if err != nil {
			t.Fatal(err)
		}
		read, err := s.GetProviderToken(c, id.Provider, id.Subject)
		if err != nil {
			t.Fatal(err)
		}
		for _, r := range []store.ProviderToken{got, read} {
			if r.MemberID != m.ID || string(r.Sealed) != "sealed-1" || !r.HasRefresh || r.ReauthNeeded ||
				!slices.Equal(r.Scopes, want.Scopes) || r.Version < 1 || !r.LeaseUntil.IsZero() {
				t.Fatalf("read back %+v, want %+v", r, want)
			}
			sameTime(t, "expiry", r.Expiry, want.Expiry)
			sameTime(t, "updated_at", r.UpdatedAt, want.UpdatedAt)
		}
		list, err := s.ListProviderTokens(c, m.ID)
		if err != nil || len(list) != 1 || list[0].Subject != id.Subject {
			t.Fatalf("list = %+v, %v; want the one grant", list, err)
		}
	})

	t.Run("no expiry reads back as zero", func(t *testing.T) {
		s, c := newStore(t), ctx(t)
		_, id := linked(t, s)
		g := grant(id, "forever")
		g.Expiry, g.HasRefresh, g.Scopes = time.Time{}, false, nil
		got, err := s.PutProviderToken(c, g)
		if err != nil {
			t.Fatal(err)
		}
		if !got.Expiry.IsZero() || got.HasRefresh || len(got.Scopes) != 0 {
			t.Fatalf("got %+v, want no expiry, no refresh, no scopes", got)
		}
	})

	t.Run("put for an identity that is not the member's: not found, nothing stored", func(t *testing.T) {
		s, c := newStore(t), ctx(t)
		_, id := linked(t, s)
		g := grant(id, "x")
		g.MemberID = randomID(t)
		if _, err := s.PutProviderToken(c, g); !errors.Is(err, store.ErrNotFound) {
			t.Fatalf("err = %v, want ErrNotFound", err)
		}
		g = grant(store.Identity{Provider: "google", Subject: randomID(t), MemberID: id.MemberID}, "y")
		if _, err := s.PutProviderToken(c, g); !errors.Is(err, store.ErrNotFound) {
			t.Fatalf("unlinked subject: err = %v, want ErrNotFound", err)
		}
		if _, err := s.GetProviderToken(c, id.Provider, id.Subject); !errors.Is(err, store.ErrNotFound) {
			t.Fatalf("get: err = %v, want ErrNotFound", err)
		}
	})

	t.Run("a second put replaces, moves the version on and clears the reconnect mark and lease", func(t *testing.T) {
		s, c := newStore(t), ctx(t)
		_, id := linked(t, s)
		first, _ := s.PutProviderToken(c, grant(id, "one"))
		if ok, err := s.LeaseProviderToken(c, id.Provider, id.Subject, first.Version, now(), now().Add(time.Minute)); !ok || err != nil {
			t.Fatalf("lease: %v %v", ok, err)
		}
		second, err := s.PutProviderToken(c, grant(id, "two"))
		if err != nil {
			t.Fatal(err)
		}
		if second.Version <= first.Version || string(second.Sealed) != "two" || !second.LeaseUntil.IsZero() || second.ReauthNeeded {
			t.Fatalf("second = %+v", second)
		}
	})

	t.Run("lease: one winner of many, none while it lives, again once it is past", func(t *testing.T) {
		s, c := newStore(t), ctx(t)
		_, id := linked(t, s)
		g, _ := s.PutProviderToken(c, grant(id, "sealed"))
		at := now()
		var wins atomic.Int32
		var wg sync.WaitGroup
		for range racers {
			wg.Add(1)
			go func() {
				defer wg.Done()
				ok, err := s.LeaseProviderToken(c, id.Provider, id.Subject, g.Version, at, at.Add(30*time.Second))
				if err != nil {
					t.Error(err)
				}
				if ok {
					wins.Add(1)
				}
			}()
		}
		wg.Wait()
		if wins.Load() != 1 {
			t.Fatalf("%d leases granted, want 1", wins.Load())
		}
		if ok, _ := s.LeaseProviderToken(c, id.Provider, id.Subject, g.Version, at.Add(29*time.Second), at.Add(time.Minute)); ok {
			t.Fatal("a second lease while the first lives")
		}
		if ok, _ := s.LeaseProviderToken(c, id.Provider, id.Subject, g.Version, at.Add(31*time.Second), at.Add(time.Minute)); !ok {
			t.Fatal("no lease once the first is past its time (its holder died)")
		}
		if ok, _ := s.LeaseProviderToken(c, id.Provider, id.Subject, g.Version+1, at.Add(2*time.Minute), at.Add(3*time.Minute)); ok {
			t.Fatal("a lease on a version the record is not at")
		}
	})

	t.Run("update is compare-and-set on the version and drops the lease", func(t *testing.T) {
		s, c := newStore(t), ctx(t)
		_, id := linked(t, s)
		g, _ := s.PutProviderToken(c, grant(id, "old"))
		if ok, _ := s.LeaseProviderToken(c, id.Provider, id.Subject, g.Version, now(), now().Add(time.Minute)); !ok {
			t.Fatal("no lease")
		}
		next := g
		next.Sealed, next.Expiry = []byte("new"), now().Add(2*time.Hour)
		got, err := s.UpdateProviderToken(c, next, g.Version)
		if err != nil {
			t.Fatal(err)
		}
		if got.Version != g.Version+1 || string(got.Sealed) != "new" || !got.LeaseUntil.IsZero() {
			t.Fatalf("updated = %+v", got)
		}
		sameTime(t, "expiry", got.Expiry, next.Expiry)
		if _, err := s.UpdateProviderToken(c, next, g.Version); !errors.Is(err, store.ErrConflict) {
			t.Fatalf("stale update: err = %v, want ErrConflict", err)
		}
		if read, _ := s.GetProviderToken(c, id.Provider, id.Subject); string(read.Sealed) != "new" {
			t.Fatal("a stale update changed the record")
		}
		gone := next
		gone.Subject = randomID(t)
		if _, err := s.UpdateProviderToken(c, gone, 1); !errors.Is(err, store.ErrNotFound) {
			t.Fatalf("update of no record: err = %v, want ErrNotFound", err)
		}
	})

	t.Run("release drops the lease and keeps the record", func(t *testing.T) {
		s, c := newStore(t), ctx(t)
		_, id := linked(t, s)
		g, _ := s.PutProviderToken(c, grant(id, "kept"))
		s.LeaseProviderToken(c, id.Provider, id.Subject, g.Version, now(), now().Add(time.Hour))
		if err := s.ReleaseProviderToken(c, id.Provider, id.Subject, g.Version); err != nil {
			t.Fatal(err)
		}
		read, _ := s.GetProviderToken(c, id.Provider, id.Subject)
		if !read.LeaseUntil.IsZero() || read.Version != g.Version || string(read.Sealed) != "kept" {
			t.Fatalf("after release %+v", read)
		}
	})

	t.Run("the grant goes with its identity and its member", func(t *testing.T) {
		s, c := newStore(t), ctx(t)
		m, id := linked(t, s)
		other := newIdentity(t, "github", m)
		if err := s.LinkIdentity(c, other); err != nil {
			t.Fatal(err)
		}
		s.PutProviderToken(c, grant(id, "a"))
		s.PutProviderToken(c, grant(other, "b"))
		if err := s.DeleteIdentity(c, m.ID, id.Provider, id.Subject); err != nil {
			t.Fatal(err)
		}
		if _, err := s.GetProviderToken(c, id.Provider, id.Subject); !errors.Is(err, store.ErrNotFound) {
			t.Fatalf("after unlink: err = %v, want ErrNotFound", err)
		}
		if err := s.DeleteMember(c, m.ID); err != nil {
			t.Fatal(err)
		}
		if list, _ := s.ListProviderTokens(c, m.ID); len(list) != 0 {
			t.Fatalf("after member deletion: %d grants left", len(list))
		}
	})

	t.Run("delete forgets; a second delete is not found", func(t *testing.T) {
		s, c := newStore(t), ctx(t)
		_, id := linked(t, s)
		s.PutProviderToken(c, grant(id, "z"))
		if err := s.DeleteProviderToken(c, id.Provider, id.Subject); err != nil {
			t.Fatal(err)
		}
		if err := s.DeleteProviderToken(c, id.Provider, id.Subject); !errors.Is(err, store.ErrNotFound) {
			t.Fatalf("second delete: err = %v, want ErrNotFound", err)
		}
	})

	t.Run("page walks every grant once, in key order, across providers", func(t *testing.T) {
		s, c := newStore(t), ctx(t)
		want := map[string]bool{}
		for i := range 7 {
			m := newMember(t, now())
			provider := []string{"github", "google", "kakao"}[i%3]
			id := newIdentity(t, provider, m)
			if err := s.CreateMember(c, m, id); err != nil {
				t.Fatal(err)
			}
			if _, err := s.PutProviderToken(c, grant(id, "p")); err != nil {
				t.Fatal(err)
			}
			want[id.Provider+"/"+id.Subject] = true
		}
		var seen []string
		afterP, afterS := "", ""
		for pages := 0; ; pages++ {
			page, err := s.PageProviderTokens(c, afterP, afterS, 3)
			if err != nil {
				t.Fatal(err)
			}
			if len(page) > 3 || pages > 10 {
				t.Fatalf("page of %d (page %d)", len(page), pages)
			}
			if len(page) == 0 {
				break
			}
			for _, r := range page {
				seen = append(seen, r.Provider+"/"+r.Subject)
			}
			afterP, afterS = page[len(page)-1].Provider, page[len(page)-1].Subject
		}
		if !slices.IsSorted(seen) {
			t.Fatalf("not in key order: %v", seen)
		}
		got := 0
		for i, k := range seen {
			if i > 0 && seen[i-1] == k {
				t.Fatalf("%s seen twice", k)
			}
			if want[k] {
				got++
			}
		}
		if got != len(want) {
			t.Fatalf("the walk saw %d of the %d grants: %v", got, len(want), seen)
		}
	})
}
