package storetest

import (
	"bytes"
	"errors"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/authbroker/authbroker/internal/store"
)

// Rotation timing. Rotations move time through Rotation.Now, never by
// sleeping: the store must take the time of the request, not its own clock.
const (
	grace = 10 * time.Second
	// rotators is the number of goroutines presenting one current token at once.
	rotators = 100
	// minRetired is how many retired tokens per session store.Sessions
	// promises to recognise as reuse.
	minRetired = 1024
)

// RunSessions checks a store.Sessions backend: session records, the
// per-member listing and revocation, and the refresh-rotation decision of
// RotateRefresh, including its promise under concurrency.
func RunSessions(t *testing.T, newStore func(t *testing.T) store.Sessions) {
	t.Run("create then get returns what was stored", func(t *testing.T) {
		st, c := newStore(t), ctx(t)
		s, _ := createSession(t, st, randomID(t), now())
		got, err := st.GetSession(c, s.ID)
		if err != nil {
			t.Fatalf("get: %v", err)
		}
		checkSession(t, got, s)
	})

	t.Run("id already in use: ErrConflict, the first session untouched", func(t *testing.T) {
		st, c := newStore(t), ctx(t)
		first, h := createSession(t, st, randomID(t), now())
		second := newSession(t, randomID(t), now().Add(time.Minute))
		second.ID = first.ID
		if err := st.CreateSession(c, second, randomHash(t)); !errors.Is(err, store.ErrConflict) {
			t.Fatalf("create with a used id: err = %v, want ErrConflict", err)
		}
		got, err := st.GetSession(c, first.ID)
		if err != nil {
			t.Fatalf("get: %v", err)
		}
		checkSession(t, got, first)
		rotate(t, st, rotation(t, first.ID, h, now()))
	})

	t.Run("hash shorter than MinHashLen: refused, nothing changes", func(t *testing.T) {
		st, c := newStore(t), ctx(t)
		short := make([]byte, store.MinHashLen-1)
		s := newSession(t, randomID(t), now())
		err := st.CreateSession(c, s, short)
		if err == nil || errors.Is(err, store.ErrConflict) {
			t.Fatalf("create with a %d-byte hash: err = %v, want a plain error", len(short), err)
		}
		s, h := createSession(t, st, randomID(t), now())
		r := rotation(t, s.ID, h, now())
		r.Next = short
		_, err = st.RotateRefresh(c, r)
		if err == nil || errors.Is(err, store.ErrNotFound) || errors.Is(err, store.ErrReused) {
			t.Fatalf("rotate to a %d-byte next hash: err = %v, want a plain error", len(short), err)
		}
		rotate(t, st, rotation(t, s.ID, h, now())) // h is still current
	})

	t.Run("unknown id: ErrNotFound, not a generic error", func(t *testing.T) {
		st, c := newStore(t), ctx(t)
		id := randomID(t)
		_, err := st.GetSession(c, id)
		wantNotFound(t, "get", err)
		_, err = st.RevokeSession(c, id)
		wantNotFound(t, "revoke", err)
		_, err = st.RotateRefresh(c, rotation(t, id, randomHash(t), now()))
		wantNotFound(t, "rotate", err)
	})

	t.Run("list: the member's sessions, newest first", func(t *testing.T) {
		st, c := newStore(t), ctx(t)
		member, base := randomID(t), now()
		oldest, _ := createSession(t, st, member, base.Add(-3*time.Minute))
		newest, _ := createSession(t, st, member, base.Add(-time.Minute))
		middle, _ := createSession(t, st, member, base.Add(-2*time.Minute))
		other, _ := createSession(t, st, randomID(t), base)
		got, err := st.ListSessions(c, member)
		if err != nil {
			t.Fatalf("list: %v", err)
		}
		wantIDs(t, "list", got, newest.ID, middle.ID, oldest.ID)
		if len(got) == 3 {
			checkSession(t, got[0], newest)
		}
		gotOther, err := st.ListSessions(c, other.MemberID)
		if err != nil {
			t.Fatalf("list other member: %v", err)
		}
		wantIDs(t, "list other member", gotOther, other.ID)
	})

	t.Run("list of a member without sessions: empty, no error", func(t *testing.T) {
		st, c := newStore(t), ctx(t)
		got, err := st.ListSessions(c, randomID(t))
		if err != nil {
			t.Fatalf("list: %v", err)
		}
		wantIDs(t, "list", got)
	})

	t.Run("revoke returns the session, then it is gone", func(t *testing.T) {
		st, c := newStore(t), ctx(t)
		s, tok := createSession(t, st, randomID(t), now())
		got, err := st.RevokeSession(c, s.ID)
		if err != nil {
			t.Fatalf("revoke: %v", err)
		}
		checkSession(t, got, s)
		_, err = st.GetSession(c, s.ID)
		wantNotFound(t, "get after revoke", err)
		list, err := st.ListSessions(c, s.MemberID)
		if err != nil {
			t.Fatalf("list after revoke: %v", err)
		}
		wantIDs(t, "list after revoke", list)
		_, err = st.RevokeSession(c, s.ID)
		wantNotFound(t, "second revoke", err)
		_, err = st.RotateRefresh(c, rotation(t, s.ID, tok, now()))
		wantNotFound(t, "rotate after revoke", err)
	})

	t.Run("revoke member sessions: all but keep, other members untouched", func(t *testing.T) {
		st, c := newStore(t), ctx(t)
		member, base := randomID(t), now()
		a, tokA := createSession(t, st, member, base.Add(-3*time.Minute))
		keep, _ := createSession(t, st, member, base.Add(-2*time.Minute))
		b, _ := createSession(t, st, member, base.Add(-time.Minute))
		other, _ := createSession(t, st, randomID(t), base)

		gone, err := st.RevokeMemberSessions(c, member, keep.ID)
		if err != nil {
			t.Fatalf("revoke except keep: %v", err)
		}
		slices.SortFunc(gone, func(x, y store.Session) int { return x.CreatedAt.Compare(y.CreatedAt) })
		wantIDs(t, "revoked", gone, a.ID, b.ID)
		if len(gone) == 2 {
			checkSession(t, gone[0], a)
			checkSession(t, gone[1], b)
		}
		list, err := st.ListSessions(c, member)
		if err != nil {
			t.Fatalf("list: %v", err)
		}
		wantIDs(t, "left", list, keep.ID)
		if _, err := st.GetSession(c, other.ID); err != nil {
			t.Fatalf("other member's session: %v", err)
		}
		_, err = st.RotateRefresh(c, rotation(t, a.ID, tokA, base))
		wantNotFound(t, "rotate a revoked session", err)

		gone, err = st.RevokeMemberSessions(c, member, "")
		if err != nil {
			t.Fatalf("revoke all: %v", err)
		}
		wantIDs(t, "revoked without keep", gone, keep.ID)
		gone, err = st.RevokeMemberSessions(c, member, "")
		if err != nil {
			t.Fatalf("revoke all again: %v", err)
		}
		wantIDs(t, "revoked again", gone)
	})

	t.Run("rotate current: next becomes current, last use and IP updated", func(t *testing.T) {
		st, c := newStore(t), ctx(t)
		base := now()
		s, t0 := createSession(t, st, randomID(t), base)
		r := rotation(t, s.ID, t0, base.Add(time.Minute))
		r.IP = "198.51.100.7"
		res := rotate(t, st, r)
		if res.Graced {
			t.Fatal("first use of the current token was graced, want rotated")
		}
		want := s
		want.LastUsedAt, want.IP = r.Now, r.IP
		checkSession(t, res.Session, want)
		got, err := st.GetSession(c, s.ID)
		if err != nil {
			t.Fatalf("get: %v", err)
		}
		checkSession(t, got, want)

		// The new token is current: it rotates in turn.
		if res := rotate(t, st, rotation(t, s.ID, r.Next, base.Add(2*time.Minute))); res.Graced {
			t.Fatal("rotating the new current token was graced, want rotated")
		}
	})

	t.Run("previous within grace: graced with the stored Sealed, nothing changes", func(t *testing.T) {
		st, c := newStore(t), ctx(t)
		base := now()
		s, t0 := createSession(t, st, randomID(t), base)
		first := rotation(t, s.ID, t0, base.Add(time.Minute))
		first.IP = "198.51.100.7"
		rotate(t, st, first)
		before, err := st.GetSession(c, s.ID)
		if err != nil {
			t.Fatalf("get: %v", err)
		}

		for i, at := range []time.Duration{grace / 2, grace - time.Second} {
			again := rotation(t, s.ID, t0, first.Now.Add(at))
			again.IP = "203.0.113.9"
			res := rotate(t, st, again)
			if !res.Graced {
				t.Fatalf("use %d of the previous token within grace: not graced", i+2)
			}
			if !bytes.Equal(res.Sealed, first.Sealed) {
				t.Fatalf("graced Sealed = %x, want the first rotation's %x", res.Sealed, first.Sealed)
			}
			checkSession(t, res.Session, before)
			// The graced call's Next was not stored.
			_, err := st.RotateRefresh(c, rotation(t, s.ID, again.Next, again.Now))
			wantNotFound(t, "graced call's Next", err)
		}
		after, err := st.GetSession(c, s.ID)
		if err != nil {
			t.Fatalf("get: %v", err)
		}
		checkSession(t, after, before)
		if res := rotate(t, st, rotation(t, s.ID, first.Next, first.Now.Add(grace/2))); res.Graced {
			t.Fatal("the first rotation's Next was graced, want rotated: it is still current")
		}
	})

	t.Run("previous after grace: ErrReused and the session is gone", func(t *testing.T) {
		st, c := newStore(t), ctx(t)
		base := now()
		s, t0 := createSession(t, st, randomID(t), base)
		first := rotation(t, s.ID, t0, base.Add(time.Minute))
		rotate(t, st, first)
		_, err := st.RotateRefresh(c, rotation(t, s.ID, t0, first.Now.Add(grace+time.Second)))
		if !errors.Is(err, store.ErrReused) {
			t.Fatalf("reuse after grace: err = %v, want store.ErrReused", err)
		}
		assertGone(t, st, s, first.Next, first.Now.Add(grace+2*time.Second))
	})

	t.Run("unknown hash: ErrNotFound, session intact", func(t *testing.T) {
		st, c := newStore(t), ctx(t)
		base := now()
		s, t0 := createSession(t, st, randomID(t), base)
		_, err := st.RotateRefresh(c, rotation(t, s.ID, randomHash(t), base.Add(time.Minute)))
		wantNotFound(t, "rotate with an unknown hash", err)
		got, err := st.GetSession(c, s.ID)
		if err != nil {
			t.Fatalf("get: %v", err)
		}
		checkSession(t, got, s)
		if res := rotate(t, st, rotation(t, s.ID, t0, base.Add(2*time.Minute))); res.Graced {
			t.Fatal("current token graced after an unknown hash, want rotated")
		}
	})

	t.Run("token two rotations old: ErrReused and the session is gone", func(t *testing.T) {
		st, c := newStore(t), ctx(t)
		base := now()
		s, t0 := createSession(t, st, randomID(t), base)
		r1 := rotation(t, s.ID, t0, base.Add(time.Minute))
		rotate(t, st, r1)
		r2 := rotation(t, s.ID, r1.Next, base.Add(2*time.Minute))
		rotate(t, st, r2)
		// Within the grace of the last rotation: only the previous token
		// is graced, an older one is reuse all the same.
		_, err := st.RotateRefresh(c, rotation(t, s.ID, t0, r2.Now.Add(time.Second)))
		if !errors.Is(err, store.ErrReused) {
			t.Fatalf("token two rotations old: err = %v, want store.ErrReused", err)
		}
		assertGone(t, st, s, r2.Next, r2.Now.Add(2*time.Second))
	})

	t.Run("token 5 rotations old after more rotations than the history holds: ErrReused", func(t *testing.T) {
		st, c := newStore(t), ctx(t)
		s, chain, last := rotateChain(t, st, minRetired+50)
		_, err := st.RotateRefresh(c, rotation(t, s.ID, chain[len(chain)-1-5], last.Add(time.Minute)))
		if !errors.Is(err, store.ErrReused) {
			t.Fatalf("token 5 rotations old: err = %v, want store.ErrReused", err)
		}
		assertGone(t, st, s, chain[len(chain)-1], last.Add(2*time.Minute))
	})

	t.Run("token 1024 rotations old: ErrReused", func(t *testing.T) {
		st, c := newStore(t), ctx(t)
		s, chain, last := rotateChain(t, st, minRetired)
		_, err := st.RotateRefresh(c, rotation(t, s.ID, chain[0], last.Add(time.Minute)))
		if !errors.Is(err, store.ErrReused) {
			t.Fatalf("token %d rotations old: err = %v, want store.ErrReused", minRetired, err)
		}
		assertGone(t, st, s, chain[len(chain)-1], last.Add(2*time.Minute))
	})

	t.Run("garbage hash with a valid session id: ErrNotFound, session intact", func(t *testing.T) {
		st, c := newStore(t), ctx(t)
		s, chain, last := rotateChain(t, st, 20)
		before, err := st.GetSession(c, s.ID)
		if err != nil {
			t.Fatalf("get: %v", err)
		}
		cur := chain[len(chain)-1]
		for _, garbage := range [][]byte{
			randomHash(t),
			// Retired prefixes misaligned: a match across two entries of a
			// history kept back to back is no match.
			slices.Concat(chain[3][4:8], chain[4][:4], randomHash(t)[:24]),
			// Shorter than a prefix, and a prefix of the current token.
			cur[:4],
			{0},
		} {
			_, err := st.RotateRefresh(c, rotation(t, s.ID, garbage, last.Add(time.Minute)))
			wantNotFound(t, "rotate with garbage", err)
		}
		got, err := st.GetSession(c, s.ID)
		if err != nil {
			t.Fatalf("get after garbage: %v", err)
		}
		checkSession(t, got, before)
		if res := rotate(t, st, rotation(t, s.ID, cur, last.Add(2*time.Minute))); res.Graced {
			t.Fatal("current token graced after garbage, want rotated")
		}
	})

	t.Run("rotation at a Now past ExpiresAt: ErrNotFound", func(t *testing.T) {
		st, c := newStore(t), ctx(t)
		s, t0 := createSession(t, st, randomID(t), now())
		_, err := st.RotateRefresh(c, rotation(t, s.ID, t0, s.ExpiresAt.Add(time.Second)))
		wantNotFound(t, "rotate after ExpiresAt", err)
	})

	t.Run("100 goroutines rotating the current token: one rotates, the rest are graced with its Sealed", func(t *testing.T) {
		st, c := newStore(t), ctx(t)
		base := now()
		s, t0 := createSession(t, st, randomID(t), base)
		at := base.Add(time.Minute)
		winner, losers := raceRotations(t, st, s.ID, t0, at)
		// The losers' Next values were never stored: one chain survives.
		for _, l := range losers {
			_, err := st.RotateRefresh(c, rotation(t, s.ID, l.Next, at))
			wantNotFound(t, "a graced racer's Next", err)
		}
		if res := rotate(t, st, rotation(t, s.ID, winner.Next, at.Add(time.Second))); res.Graced {
			t.Fatal("the winner's Next was graced, want rotated")
		}
	})

	t.Run("after a rotation race, replaying the original token past grace revokes the session", func(t *testing.T) {
		st, c := newStore(t), ctx(t)
		base := now()
		s, t0 := createSession(t, st, randomID(t), base)
		at := base.Add(time.Minute)
		winner, _ := raceRotations(t, st, s.ID, t0, at)
		_, err := st.RotateRefresh(c, rotation(t, s.ID, t0, at.Add(grace+time.Second)))
		if !errors.Is(err, store.ErrReused) {
			t.Fatalf("replay after grace: err = %v, want store.ErrReused", err)
		}
		assertGone(t, st, s, winner.Next, at.Add(grace+2*time.Second))
	})

	t.Run("expired session: not found by get, list or rotation", func(t *testing.T) {
		t.Parallel()
		st, c := newStore(t), ctx(t)
		s := newSession(t, randomID(t), now())
		s.ExpiresAt = now().Add(shortTTL)
		t0 := randomHash(t)
		if err := st.CreateSession(c, s, t0); err != nil {
			t.Fatalf("create: %v", err)
		}
		time.Sleep(expiryWait)
		_, err := st.GetSession(c, s.ID)
		wantNotFound(t, "get after expiry", err)
		list, err := st.ListSessions(c, s.MemberID)
		if err != nil {
			t.Fatalf("list after expiry: %v", err)
		}
		wantIDs(t, "list after expiry", list)
		_, err = st.RotateRefresh(c, rotation(t, s.ID, t0, time.Now().UTC()))
		wantNotFound(t, "rotate after expiry", err)
	})
}

// rotateChain creates a session and rotates it n times, a second apart,
// each time presenting the token the last rotation made current. It returns
// the session, every token hash in order (chain[0] is the first, chain[n]
// the current one) and the time of the last rotation.
func rotateChain(t *testing.T, st store.Sessions, n int) (store.Session, [][]byte, time.Time) {
	t.Helper()
	base := now()
	s, cur := createSession(t, st, randomID(t), base)
	chain := [][]byte{cur}
	at := base
	for i := range n {
		at = base.Add(time.Duration(i+1) * time.Second)
		r := rotation(t, s.ID, cur, at)
		if res := rotate(t, st, r); res.Graced {
			t.Fatalf("rotation %d graced, want rotated", i+1)
		}
		cur = r.Next
		chain = append(chain, cur)
	}
	return s, chain, at
}

// newSession returns a session of member created at created. It expires
// an hour from the real now: Redis expires records on its own clock.
func newSession(t *testing.T, member string, created time.Time) store.Session {
	return store.Session{
		ID:         randomID(t),
		MemberID:   member,
		Provider:   "google",
		UserAgent:  "Mozilla/5.0 (Macintosh) \"test\"",
		IP:         "192.0.2.1",
		CreatedAt:  created,
		LastUsedAt: created,
		ExpiresAt:  now().Add(time.Hour),
	}
}

// createSession stores a new session and returns it with the hash of its
// first refresh token.
func createSession(t *testing.T, st store.Sessions, member string, created time.Time) (store.Session, []byte) {
	t.Helper()
	s := newSession(t, member, created)
	h := randomHash(t)
	if err := st.CreateSession(ctx(t), s, h); err != nil {
		t.Fatalf("create session: %v", err)
	}
	return s, h
}

// rotation presents the token hashed as presented, with a fresh Next and Sealed.
func rotation(t *testing.T, sid string, presented []byte, at time.Time) store.Rotation {
	return store.Rotation{
		SessionID: sid,
		Presented: presented,
		Next:      randomHash(t),
		Sealed:    []byte("sealed:" + randomID(t)),
		Now:       at,
		Grace:     grace,
		IP:        "192.0.2.1",
	}
}

// rotate runs r and fails the test on any error.
func rotate(t *testing.T, st store.Sessions, r store.Rotation) store.Rotated {
	t.Helper()
	res, err := st.RotateRefresh(ctx(t), r)
	if err != nil {
		t.Fatalf("rotate at %v: %v", r.Now, err)
	}
	if res.Session.ID != r.SessionID {
		t.Fatalf("rotated session id = %q, want %q", res.Session.ID, r.SessionID)
	}
	return res
}

// raceRotations presents the current token presented from rotators
// goroutines at once, all at time at, and checks that exactly one rotated
// and every other one was graced with the winner's Sealed. It returns the
// winner's and the losers' rotations.
func raceRotations(t *testing.T, st store.Sessions, sid string, presented []byte, at time.Time) (store.Rotation, []store.Rotation) {
	t.Helper()
	c := ctx(t)
	var (
		wg      sync.WaitGroup
		start   = make(chan struct{})
		reqs    = make([]store.Rotation, rotators)
		results = make([]store.Rotated, rotators)
		errs    = make([]error, rotators)
	)
	for i := range reqs {
		reqs[i] = rotation(t, sid, presented, at)
		wg.Go(func() {
			<-start
			results[i], errs[i] = st.RotateRefresh(c, reqs[i])
		})
	}
	close(start)
	wg.Wait()

	winner := -1
	for i, err := range errs {
		switch {
		case err != nil:
			t.Errorf("racer %d: %v, want rotated or graced", i, err)
		case !results[i].Graced && winner >= 0:
			t.Errorf("racers %d and %d both rotated, want exactly one", winner, i)
		case !results[i].Graced:
			winner = i
		}
	}
	if winner < 0 {
		t.Fatalf("no racer rotated, want exactly one")
	}
	if t.Failed() {
		t.FailNow()
	}
	var losers []store.Rotation
	for i, res := range results {
		if i == winner {
			continue
		}
		losers = append(losers, reqs[i])
		if !bytes.Equal(res.Sealed, reqs[winner].Sealed) {
			t.Fatalf("racer %d graced with Sealed %q, want the winner's %q", i, res.Sealed, reqs[winner].Sealed)
		}
		if res.Session.ID != sid {
			t.Fatalf("racer %d: session id %q, want %q", i, res.Session.ID, sid)
		}
	}
	return reqs[winner], losers
}

// assertGone checks that session s no longer exists anywhere: not by id,
// not in its member's list, and its current token (hashed as current) no
// longer rotates.
func assertGone(t *testing.T, st store.Sessions, s store.Session, current []byte, at time.Time) {
	t.Helper()
	c := ctx(t)
	_, err := st.GetSession(c, s.ID)
	wantNotFound(t, "get a revoked session", err)
	list, err := st.ListSessions(c, s.MemberID)
	if err != nil {
		t.Fatalf("list: %v", err)
	}
	wantIDs(t, "list after revocation", list)
	_, err = st.RotateRefresh(c, rotation(t, s.ID, current, at))
	wantNotFound(t, "rotate the current token of a revoked session", err)
}

// checkSession compares every field, times within timeTolerance.
func checkSession(t *testing.T, got, want store.Session) {
	t.Helper()
	sameTime(t, "CreatedAt", got.CreatedAt, want.CreatedAt)
	sameTime(t, "LastUsedAt", got.LastUsedAt, want.LastUsedAt)
	sameTime(t, "ExpiresAt", got.ExpiresAt, want.ExpiresAt)
	got.CreatedAt, got.LastUsedAt, got.ExpiresAt = time.Time{}, time.Time{}, time.Time{}
	want.CreatedAt, want.LastUsedAt, want.ExpiresAt = time.Time{}, time.Time{}, time.Time{}
	if got != want {
		t.Errorf("session = %+v, want %+v", got, want)
	}
}

// wantIDs fails unless sessions has exactly the ids, in that order.
func wantIDs(t *testing.T, what string, sessions []store.Session, ids ...string) {
	t.Helper()
	got := make([]string, 0, len(sessions))
	for _, s := range sessions {
		got = append(got, s.ID)
	}
	if !slices.Equal(got, ids) {
		t.Errorf("%s: session ids %q, want %q", what, got, ids)
	}
}
