package storetest

import (
	"errors"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/authbroker/authbroker/internal/clock"
	"github.com/authbroker/authbroker/internal/store"
)

// Refresh timing. Time moves through the fixture's clock, never by
// sleeping: the store must take the time of the request, not its own clock.
const (
	grace = 10 * time.Second
	// rotators is the number of goroutines presenting one current counter at once.
	rotators = 100
	// admitters is the number of logins racing under a single-session rule.
	admitters = 20
	// sessionTTL is how long the suite's sessions live.
	sessionTTL = 14 * 24 * time.Hour
)

// Sessions is what RunSessions tests: a store and the clock it runs on.
type Sessions struct {
	Store store.Sessions
	// Clock is the store's clock. Advance moves it (and, for a backend
	// whose records expire on its own server's clock, those expiries too:
	// see testenv.Advance).
	Clock   *clock.Fake
	Advance func(d time.Duration)
}

// RunSessions checks a store.Sessions backend: session records, listing,
// revocation, claims, admission under concurrency, and the refresh decision
// (store.Refresh) with its promises under concurrency. newFixture is called
// once per subtest.
func RunSessions(t *testing.T, newFixture func(t *testing.T) Sessions) {
	t.Run("create then get returns what was stored", func(t *testing.T) {
		f, c := newFixture(t), ctx(t)
		s := createSession(t, f, randomID(t))
		got, err := f.Store.GetSession(c, s.ID)
		if err != nil {
			t.Fatalf("get: %v", err)
		}
		checkSession(t, got, s)
	})

	t.Run("id already in use: ErrConflict, the first session untouched", func(t *testing.T) {
		f, c := newFixture(t), ctx(t)
		first := createSession(t, f, randomID(t))
		second := newSession(t, f, randomID(t))
		second.ID = first.ID
		if _, err := f.Store.CreateSession(c, second, store.AdmitAlongside); !errors.Is(err, store.ErrConflict) {
			t.Fatalf("create with a used id: err = %v, want ErrConflict", err)
		}
		got, err := f.Store.GetSession(c, first.ID)
		if err != nil {
			t.Fatalf("get: %v", err)
		}
		checkSession(t, got, first)
		wantIDs(t, "list of the second member", list(t, f, second.MemberID))
	})

	t.Run("unknown id: ErrNotFound, not a generic error", func(t *testing.T) {
		f, c := newFixture(t), ctx(t)
		id := randomID(t)
		_, err := f.Store.GetSession(c, id)
		wantNotFound(t, "get", err)
		_, err = f.Store.RevokeSession(c, id)
		wantNotFound(t, "revoke", err)
		_, err = f.Store.Refresh(c, refresh(f, id, 0))
		wantNotFound(t, "refresh", err)
	})

	t.Run("list: the member's sessions, newest first", func(t *testing.T) {
		f := newFixture(t)
		member := randomID(t)
		oldest := createSession(t, f, member)
		f.Advance(time.Minute)
		middle := createSession(t, f, member)
		f.Advance(time.Minute)
		newest := createSession(t, f, member)
		other := createSession(t, f, randomID(t))
		got := list(t, f, member)
		wantIDs(t, "list", got, newest.ID, middle.ID, oldest.ID)
		if len(got) == 3 {
			checkSession(t, got[0], newest)
		}
		wantIDs(t, "list other member", list(t, f, other.MemberID), other.ID)
		wantIDs(t, "list of a member without sessions", list(t, f, randomID(t)))
	})

	t.Run("revoke returns the session, then it is gone everywhere", func(t *testing.T) {
		f, c := newFixture(t), ctx(t)
		s := createSession(t, f, randomID(t))
		got, err := f.Store.RevokeSession(c, s.ID)
		if err != nil {
			t.Fatalf("revoke: %v", err)
		}
		if got.ID != s.ID || got.MemberID != s.MemberID {
			t.Errorf("revoke returned %s of %s, want %s of %s", got.ID, got.MemberID, s.ID, s.MemberID)
		}
		assertGone(t, f, s, 0)
		_, err = f.Store.RevokeSession(c, s.ID)
		wantNotFound(t, "second revoke", err)
	})

	t.Run("revoke member sessions: all but keep, other members untouched", func(t *testing.T) {
		f, c := newFixture(t), ctx(t)
		member := randomID(t)
		a := createSession(t, f, member)
		keep := createSession(t, f, member)
		b := createSession(t, f, member)
		other := createSession(t, f, randomID(t))
		gone, err := f.Store.RevokeMemberSessions(c, member, keep.ID)
		if err != nil {
			t.Fatalf("revoke member sessions: %v", err)
		}
		wantIDSet(t, "revoked", gone, a.ID, b.ID)
		wantIDs(t, "left", list(t, f, member), keep.ID)
		wantIDs(t, "other member", list(t, f, other.MemberID), other.ID)
		assertGone(t, f, a, 0)
		refreshOK(t, f, refresh(f, keep.ID, 0))
		gone, err = f.Store.RevokeMemberSessions(c, member, "")
		if err != nil {
			t.Fatalf("revoke all: %v", err)
		}
		wantIDs(t, "revoked with no keep", gone, keep.ID)
		wantIDs(t, "left after revoking all", list(t, f, member))
	})

	t.Run("update claims: every live session of the member, the next refresh carries them", func(t *testing.T) {
		f, c := newFixture(t), ctx(t)
		member := randomID(t)
		a := createSession(t, f, member)
		b := createSession(t, f, member)
		other := createSession(t, f, randomID(t))
		want := store.Claims{Role: store.RoleAdmin, Email: "new@example.com", EmailVerified: true, Name: "Nouveau Nom"}
		if err := f.Store.UpdateSessionClaims(c, member, want); err != nil {
			t.Fatalf("update claims: %v", err)
		}
		for _, s := range []store.Session{a, b} {
			got, err := f.Store.GetSession(c, s.ID)
			if err != nil {
				t.Fatalf("get %s: %v", s.ID, err)
			}
			if got.Claims != want {
				t.Errorf("claims of %s = %+v, want %+v", s.ID, got.Claims, want)
			}
		}
		if r := refreshOK(t, f, refresh(f, a.ID, 0)); r.Session.Claims != want {
			t.Errorf("claims after refresh = %+v, want %+v", r.Session.Claims, want)
		}
		if got, _ := f.Store.GetSession(c, other.ID); got.Claims != other.Claims {
			t.Errorf("other member's claims changed to %+v", got.Claims)
		}
		if err := f.Store.UpdateSessionClaims(c, randomID(t), want); err != nil {
			t.Errorf("update claims of a member without sessions: %v", err)
		}
	})

	t.Run("refresh the current counter: rotates to the next, last use and IP updated", func(t *testing.T) {
		f := newFixture(t)
		s := createSession(t, f, randomID(t))
		f.Advance(time.Minute)
		r := refresh(f, s.ID, 0)
		r.IP = "2001:db8::42"
		got := refreshOK(t, f, r)
		if !got.Rotated || got.Counter != 1 {
			t.Fatalf("refresh of counter 0: rotated=%v counter=%d, want a rotation to 1", got.Rotated, got.Counter)
		}
		if got.Session.MemberID != s.MemberID || got.Session.Claims != s.Claims {
			t.Errorf("refresh returned member %s claims %+v, want %s %+v", got.Session.MemberID, got.Session.Claims, s.MemberID, s.Claims)
		}
		sameTime(t, "last used", got.Session.LastUsedAt, f.Clock.Now())
		sameTime(t, "expires", got.Session.ExpiresAt, s.ExpiresAt)
		if got.Session.IP != "2001:db8::42" {
			t.Errorf("IP = %q, want the new one", got.Session.IP)
		}
		stored, err := f.Store.GetSession(ctx(t), s.ID)
		if err != nil {
			t.Fatal(err)
		}
		sameTime(t, "stored last used", stored.LastUsedAt, f.Clock.Now())
		if stored.IP != "2001:db8::42" {
			t.Errorf("stored IP = %q", stored.IP)
		}
		f.Advance(time.Minute)
		if kept := refreshOK(t, f, refresh(f, s.ID, 1)); kept.Session.IP != "2001:db8::42" || kept.Counter != 2 {
			t.Errorf("refresh without an IP: IP %q counter %d, want the stored IP and 2", kept.Session.IP, kept.Counter)
		}
	})

	t.Run("previous counter: the current one again, nothing rotates, even an hour later", func(t *testing.T) {
		f := newFixture(t)
		s := createSession(t, f, randomID(t))
		refreshOK(t, f, refresh(f, s.ID, 0))
		for _, wait := range []time.Duration{0, time.Second, time.Hour} {
			f.Advance(wait)
			got := refreshOK(t, f, refresh(f, s.ID, 0))
			if got.Rotated || got.Counter != 1 {
				t.Fatalf("previous counter %v after the rotation: rotated=%v counter=%d, want a replay of 1", wait, got.Rotated, got.Counter)
			}
		}
		if got := refreshOK(t, f, refresh(f, s.ID, 1)); !got.Rotated || got.Counter != 2 {
			t.Fatalf("current counter after replays: rotated=%v counter=%d, want a rotation to 2", got.Rotated, got.Counter)
		}
	})

	t.Run("two behind within the grace: replay; after the grace: reuse, session gone", func(t *testing.T) {
		f := newFixture(t)
		s := createSession(t, f, randomID(t))
		f.Advance(time.Hour)
		refreshOK(t, f, refresh(f, s.ID, 0))
		f.Advance(time.Second)
		refreshOK(t, f, refresh(f, s.ID, 1))
		f.Advance(grace - time.Second)
		if got := refreshOK(t, f, refresh(f, s.ID, 0)); got.Rotated || got.Counter != 2 {
			t.Fatalf("straggler within the grace: rotated=%v counter=%d, want a replay of 2", got.Rotated, got.Counter)
		}
		f.Advance(time.Second + time.Millisecond)
		_, err := f.Store.Refresh(ctx(t), refresh(f, s.ID, 0))
		if !errors.Is(err, store.ErrReused) {
			t.Fatalf("two behind after the grace: err = %v, want ErrReused", err)
		}
		assertGone(t, f, s, 2)
	})

	t.Run("a token older than the latest burst of rotations is reuse even within the grace", func(t *testing.T) {
		f := newFixture(t)
		s := createSession(t, f, randomID(t))
		refreshChain(t, f, s.ID, 3) // counters 0..3, each a minute apart
		f.Advance(grace + time.Second)
		refreshOK(t, f, refresh(f, s.ID, 3)) // a burst begins: 3 -> 4
		f.Advance(time.Second)
		refreshOK(t, f, refresh(f, s.ID, 4)) // 4 -> 5 within the grace
		if got := refreshOK(t, f, refresh(f, s.ID, 3)); got.Counter != 5 || got.Rotated {
			t.Fatalf("counter 3, current when the burst began: counter=%d rotated=%v, want a replay of 5", got.Counter, got.Rotated)
		}
		_, err := f.Store.Refresh(ctx(t), refresh(f, s.ID, 2))
		if !errors.Is(err, store.ErrReused) {
			t.Fatalf("counter 2, retired before the burst, within the grace: err = %v, want ErrReused", err)
		}
		assertGone(t, f, s, 5)
	})

	t.Run("a token five rotations old: reuse, session gone", func(t *testing.T) {
		f := newFixture(t)
		s := createSession(t, f, randomID(t))
		refreshChain(t, f, s.ID, 6)
		f.Advance(grace + time.Second)
		_, err := f.Store.Refresh(ctx(t), refresh(f, s.ID, 1))
		if !errors.Is(err, store.ErrReused) {
			t.Fatalf("counter 1 with 6 current: err = %v, want ErrReused", err)
		}
		assertGone(t, f, s, 6)
	})

	t.Run("a counter ahead of the store (rotations it lost): rotates from it", func(t *testing.T) {
		f := newFixture(t)
		s := createSession(t, f, randomID(t))
		got := refreshOK(t, f, refresh(f, s.ID, 7))
		if !got.Rotated || got.Counter != 8 {
			t.Fatalf("counter 7 with 0 stored: rotated=%v counter=%d, want a rotation to 8", got.Rotated, got.Counter)
		}
		if got := refreshOK(t, f, refresh(f, s.ID, 7)); got.Counter != 8 || got.Rotated {
			t.Fatalf("counter 7 again: counter=%d rotated=%v, want a replay of 8", got.Counter, got.Rotated)
		}
		f.Advance(grace + time.Second)
		if _, err := f.Store.Refresh(ctx(t), refresh(f, s.ID, 6)); !errors.Is(err, store.ErrReused) {
			t.Fatalf("counter 6 after the fast-forward: err = %v, want ErrReused", err)
		}
	})

	t.Run("limit: replays and rotations count, over it nothing changes, the window passes", func(t *testing.T) {
		f := newFixture(t)
		s := createSession(t, f, randomID(t))
		limited := func(n uint64) store.Refresh {
			r := refresh(f, s.ID, n)
			r.Limit, r.Window = 3, time.Minute
			return r
		}
		refreshOK(t, f, limited(0)) // 0 -> 1
		refreshOK(t, f, limited(0)) // replay
		f.Advance(10 * time.Second) //
		refreshOK(t, f, limited(1)) // 1 -> 2
		_, err := f.Store.Refresh(ctx(t), limited(2))
		var le *store.LimitError
		if !errors.Is(err, store.ErrRateLimited) || !errors.As(err, &le) {
			t.Fatalf("fourth refresh in the window: err = %v, want a LimitError", err)
		}
		if le.RetryAfter < 49*time.Second || le.RetryAfter > 50*time.Second {
			t.Errorf("RetryAfter = %v, want the 50 s left of the window", le.RetryAfter)
		}
		f.Advance(50 * time.Second)
		if got := refreshOK(t, f, limited(2)); !got.Rotated || got.Counter != 3 {
			t.Fatalf("after the window: rotated=%v counter=%d, want the refused rotation to happen now (2 -> 3)", got.Rotated, got.Counter)
		}
	})

	t.Run("reuse is detected before the limit", func(t *testing.T) {
		f := newFixture(t)
		s := createSession(t, f, randomID(t))
		refreshChain(t, f, s.ID, 4)
		f.Advance(grace + time.Second)
		r := refresh(f, s.ID, 4)
		r.Limit, r.Window = 1, time.Hour
		refreshOK(t, f, r)
		r.Counter = 1
		if _, err := f.Store.Refresh(ctx(t), r); !errors.Is(err, store.ErrReused) {
			t.Fatalf("old counter over the limit: err = %v, want ErrReused", err)
		}
		assertGone(t, f, s, 5)
	})

	t.Run("100 concurrent refreshes of the current counter: one rotation, all get the same counter", func(t *testing.T) {
		f := newFixture(t)
		s := createSession(t, f, randomID(t))
		f.Advance(time.Hour)
		results := raceRefresh(t, f, refresh(f, s.ID, 0))
		rotated := 0
		for _, r := range results {
			if r.Rotated {
				rotated++
			}
			if r.Counter != 1 {
				t.Fatalf("a racer got counter %d, want 1", r.Counter)
			}
		}
		if rotated != 1 {
			t.Fatalf("%d racers rotated, want exactly 1", rotated)
		}
		if got := refreshOK(t, f, refresh(f, s.ID, 1)); got.Counter != 2 {
			t.Fatalf("the chain after the race: counter %d, want 2", got.Counter)
		}
		f.Advance(grace + time.Second)
		if got := refreshOK(t, f, refresh(f, s.ID, 2)); got.Counter != 3 {
			t.Fatalf("counter %d, want 3", got.Counter)
		}
		if _, err := f.Store.Refresh(ctx(t), refresh(f, s.ID, 0)); !errors.Is(err, store.ErrReused) {
			t.Fatalf("the raced counter after the grace: err = %v, want ErrReused", err)
		}
	})

	t.Run("expired session: not found by get, list or refresh, and not left behind", func(t *testing.T) {
		f, c := newFixture(t), ctx(t)
		s := newSession(t, f, randomID(t))
		s.ExpiresAt = f.Clock.Now().Add(time.Hour)
		if _, err := f.Store.CreateSession(c, s, store.AdmitAlongside); err != nil {
			t.Fatal(err)
		}
		refreshOK(t, f, refresh(f, s.ID, 0))
		f.Advance(time.Hour)
		assertGone(t, f, s, 1)
	})

	t.Run("admission: alongside keeps, alone ends the others, if-alone refuses while one is live", func(t *testing.T) {
		f, c := newFixture(t), ctx(t)
		member := randomID(t)
		a := createSession(t, f, member)
		b := createSession(t, f, member)
		refused := newSession(t, f, member)
		if _, err := f.Store.CreateSession(c, refused, store.AdmitIfAlone); !errors.Is(err, store.ErrSignedIn) {
			t.Fatalf("if-alone with two live sessions: err = %v, want ErrSignedIn", err)
		}
		_, err := f.Store.GetSession(c, refused.ID)
		wantNotFound(t, "the refused session", err)
		alone := newSession(t, f, member)
		ended, err := f.Store.CreateSession(c, alone, store.AdmitAlone)
		if err != nil {
			t.Fatalf("alone: %v", err)
		}
		wantIDSet(t, "ended by alone", ended, a.ID, b.ID)
		wantIDs(t, "left", list(t, f, member), alone.ID)
		assertGone(t, f, a, 0)
		if _, err := f.Store.RevokeSession(c, alone.ID); err != nil {
			t.Fatal(err)
		}
		if _, err := f.Store.CreateSession(c, newSession(t, f, member), store.AdmitIfAlone); err != nil {
			t.Fatalf("if-alone once the others ended: %v", err)
		}
	})

	t.Run("admission: an expired session does not count as signed in", func(t *testing.T) {
		f, c := newFixture(t), ctx(t)
		member := randomID(t)
		old := newSession(t, f, member)
		old.ExpiresAt = f.Clock.Now().Add(time.Minute)
		if _, err := f.Store.CreateSession(c, old, store.AdmitAlongside); err != nil {
			t.Fatal(err)
		}
		f.Advance(2 * time.Minute)
		if _, err := f.Store.CreateSession(c, newSession(t, f, member), store.AdmitIfAlone); err != nil {
			t.Fatalf("if-alone with only an expired session: %v", err)
		}
	})

	t.Run("20 concurrent if-alone logins of one member: exactly one session", func(t *testing.T) {
		f, c := newFixture(t), ctx(t)
		member := randomID(t)
		var (
			wg      sync.WaitGroup
			mu      sync.Mutex
			created int
			others  []error
		)
		for range admitters {
			s := newSession(t, f, member)
			wg.Go(func() {
				_, err := f.Store.CreateSession(c, s, store.AdmitIfAlone)
				mu.Lock()
				defer mu.Unlock()
				switch {
				case err == nil:
					created++
				case !errors.Is(err, store.ErrSignedIn):
					others = append(others, err)
				}
			})
		}
		wg.Wait()
		if len(others) > 0 {
			t.Fatalf("unexpected errors: %v", others)
		}
		if created != 1 || len(list(t, f, member)) != 1 {
			t.Fatalf("%d created, %d listed, want exactly one", created, len(list(t, f, member)))
		}
	})

	t.Run("20 concurrent alone logins of one member: one session left", func(t *testing.T) {
		f, c := newFixture(t), ctx(t)
		member := randomID(t)
		var wg sync.WaitGroup
		errs := make(chan error, admitters)
		for range admitters {
			s := newSession(t, f, member)
			wg.Go(func() {
				if _, err := f.Store.CreateSession(c, s, store.AdmitAlone); err != nil {
					errs <- err
				}
			})
		}
		wg.Wait()
		close(errs)
		for err := range errs {
			t.Fatalf("alone login: %v", err)
		}
		if n := len(list(t, f, member)); n != 1 {
			t.Fatalf("%d sessions left, want 1", n)
		}
	})
}

// newSession returns a session of member created now on the fixture's
// clock, with claims and a device.
func newSession(t *testing.T, f Sessions, member string) store.Session {
	t.Helper()
	at := f.Clock.Now()
	return store.Session{
		ID:         randomID(t)[:22],
		MemberID:   member,
		Provider:   "github",
		UserAgent:  "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0 Safari/537.36",
		IP:         "203.0.113.7",
		CreatedAt:  at,
		LastUsedAt: at,
		ExpiresAt:  at.Add(sessionTTL),
		Claims:     store.Claims{Role: store.RoleUser, Email: "kim.jiwoo@example.com", EmailVerified: true, Name: "김지우"},
	}
}

func createSession(t *testing.T, f Sessions, member string) store.Session {
	t.Helper()
	s := newSession(t, f, member)
	if _, err := f.Store.CreateSession(ctx(t), s, store.AdmitAlongside); err != nil {
		t.Fatalf("create session: %v", err)
	}
	return s
}

func refresh(f Sessions, sid string, counter uint64) store.Refresh {
	return store.Refresh{SessionID: sid, Counter: counter, Now: f.Clock.Now(), Grace: grace}
}

func refreshOK(t *testing.T, f Sessions, r store.Refresh) store.Refreshed {
	t.Helper()
	got, err := f.Store.Refresh(ctx(t), r)
	if err != nil {
		t.Fatalf("refresh %s counter %d: %v", r.SessionID, r.Counter, err)
	}
	return got
}

// refreshChain rotates from counter 0 to n, a minute apart.
func refreshChain(t *testing.T, f Sessions, sid string, n uint64) {
	t.Helper()
	for i := range n {
		f.Advance(time.Minute)
		if got := refreshOK(t, f, refresh(f, sid, i)); got.Counter != i+1 {
			t.Fatalf("chain: counter %d, want %d", got.Counter, i+1)
		}
	}
}

func list(t *testing.T, f Sessions, member string) []store.Session {
	t.Helper()
	got, err := f.Store.ListSessions(ctx(t), member)
	if err != nil {
		t.Fatalf("list: %v", err)
	}
	return got
}

// raceRefresh presents r from rotators goroutines at once.
func raceRefresh(t *testing.T, f Sessions, r store.Refresh) []store.Refreshed {
	t.Helper()
	c := ctx(t)
	var (
		wg    sync.WaitGroup
		mu    sync.Mutex
		out   []store.Refreshed
		errs  []error
		start = make(chan struct{})
	)
	for range rotators {
		wg.Go(func() {
			<-start
			got, err := f.Store.Refresh(c, r)
			mu.Lock()
			defer mu.Unlock()
			if err != nil {
				errs = append(errs, err)
				return
			}
			out = append(out, got)
		})
	}
	close(start)
	wg.Wait()
	if len(errs) > 0 {
		t.Fatalf("%d of %d racers failed, first: %v", len(errs), rotators, errs[0])
	}
	return out
}

// assertGone checks that s is found by nothing: get, list, refresh with the
// counter that was current.
func assertGone(t *testing.T, f Sessions, s store.Session, current uint64) {
	t.Helper()
	c := ctx(t)
	_, err := f.Store.GetSession(c, s.ID)
	wantNotFound(t, "get", err)
	if slices.ContainsFunc(list(t, f, s.MemberID), func(x store.Session) bool { return x.ID == s.ID }) {
		t.Errorf("session %s still listed", s.ID)
	}
	_, err = f.Store.Refresh(c, refresh(f, s.ID, current))
	wantNotFound(t, "refresh with the current counter", err)
}

func checkSession(t *testing.T, got, want store.Session) {
	t.Helper()
	if got.ID != want.ID || got.MemberID != want.MemberID || got.Provider != want.Provider ||
		got.UserAgent != want.UserAgent || got.IP != want.IP || got.Claims != want.Claims {
		t.Errorf("session = %+v, want %+v", got, want)
	}
	sameTime(t, "created", got.CreatedAt, want.CreatedAt)
	sameTime(t, "last used", got.LastUsedAt, want.LastUsedAt)
	sameTime(t, "expires", got.ExpiresAt, want.ExpiresAt)
}

func wantIDs(t *testing.T, what string, sessions []store.Session, ids ...string) {
	t.Helper()
	got := make([]string, len(sessions))
	for i, s := range sessions {
		got[i] = s.ID
	}
	if !slices.Equal(got, ids) {
		t.Errorf("%s: ids %v, want %v", what, got, ids)
	}
}

func wantIDSet(t *testing.T, what string, sessions []store.Session, ids ...string) {
	t.Helper()
	got := make([]string, len(sessions))
	for i, s := range sessions {
		got[i] = s.ID
	}
	slices.Sort(got)
	ids = slices.Clone(ids)
	slices.Sort(ids)
	if !slices.Equal(got, ids) {
		t.Errorf("%s: ids %v, want %v", what, got, ids)
	}
}
