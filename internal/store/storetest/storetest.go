// Package storetest is the conformance suite of the store contracts: every
// backend (SQLite, PostgreSQL, Redis) runs the same Run* functions against
// itself, and a backend is correct when it passes them. The subtests are
// named for the rule they check, so a failure reads as the broken promise
// ("second take: not found").
//
// Each Run* function takes a newStore constructor, called once per subtest
// with that subtest's t. It may return a fresh store (a new key prefix or
// database) or share one backend between calls: every subtest uses its own
// random ids and member ids, so the store need not be empty. newStore should
// register its cleanup with t.Cleanup.
//
// Some subtests wait for real expiry (TTLs of one second) and call
// t.Parallel, so they overlap one another; a caller that runs several
// suites can make them overlap further by running each suite in a parallel
// subtest of its own.
package storetest

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/authbroker/authbroker/internal/store"
)

// Timing of the expiry subtests: a record lives for shortTTL and is looked
// up expiryWait after it was written. The margin absorbs backends that keep
// expiry with coarse precision or purge lazily.
const (
	shortTTL   = time.Second
	expiryWait = 1500 * time.Millisecond
	// racers is the number of goroutines of the single-winner subtests.
	racers = 50
	// timeTolerance is how far a time read back may be from the one stored:
	// backends keep milliseconds (Redis) or microseconds (PostgreSQL).
	timeTolerance = time.Millisecond
)

// ctx returns a context that ends with the test, bounded so a hung backend
// fails the test instead of the whole run.
func ctx(t *testing.T) context.Context {
	t.Helper()
	c, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	t.Cleanup(cancel)
	return c
}

// randomID returns a random hex string, standing in for the hashed ids and
// the session and member ids that services generate.
func randomID(t *testing.T) string {
	t.Helper()
	var b [16]byte
	if _, err := rand.Read(b[:]); err != nil {
		t.Fatal(err)
	}
	return hex.EncodeToString(b[:])
}

// randomHash returns a random SHA-256-sized value, as services pass hashes
// of refresh tokens.
func randomHash(t *testing.T) []byte {
	t.Helper()
	sum := sha256.Sum256([]byte(randomID(t)))
	return sum[:]
}

// now is the suite's reference time: UTC, truncated to the millisecond so
// that stores keeping milliseconds read back exactly what was written.
func now() time.Time {
	return time.Now().UTC().Truncate(time.Millisecond)
}

// sameTime fails the test unless got is in UTC and within timeTolerance of want.
func sameTime(t *testing.T, what string, got, want time.Time) {
	t.Helper()
	if got.Location() != time.UTC {
		t.Errorf("%s: location %v, want UTC", what, got.Location())
	}
	d := got.Sub(want)
	if d < -timeTolerance || d > timeTolerance {
		t.Errorf("%s = %v, want %v (±%v)", what, got, want, timeTolerance)
	}
}

// wantNotFound fails the test unless err is store.ErrNotFound (possibly
// wrapped): a missing record must be distinguishable from a broken backend,
// which the service answers with 503 instead of 400.
func wantNotFound(t *testing.T, what string, err error) {
	t.Helper()
	if !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("%s: err = %v, want store.ErrNotFound", what, err)
	}
}

// singleUse is what States and Codes have in common: put a value under an
// id for a while, take it back exactly once.
type singleUse[V any] struct {
	put    func(ctx context.Context, id string, v V, ttl time.Duration) error
	take   func(ctx context.Context, id string) (V, error)
	sample func(t *testing.T) V
	check  func(t *testing.T, got, want V)
}

// runSingleUse runs the rules of a single-use store; newOps is called once
// per subtest.
func runSingleUse[V any](t *testing.T, newOps func(t *testing.T) singleUse[V]) {
	t.Run("take returns what was put", func(t *testing.T) {
		s, c := newOps(t), ctx(t)
		id, want := randomID(t), s.sample(t)
		if err := s.put(c, id, want, time.Minute); err != nil {
			t.Fatalf("put: %v", err)
		}
		got, err := s.take(c, id)
		if err != nil {
			t.Fatalf("take: %v", err)
		}
		s.check(t, got, want)
	})

	t.Run("second take: not found", func(t *testing.T) {
		s, c := newOps(t), ctx(t)
		id := randomID(t)
		if err := s.put(c, id, s.sample(t), time.Minute); err != nil {
			t.Fatalf("put: %v", err)
		}
		if _, err := s.take(c, id); err != nil {
			t.Fatalf("first take: %v", err)
		}
		_, err := s.take(c, id)
		wantNotFound(t, "second take", err)
	})

	t.Run("unknown id: ErrNotFound, not a generic error", func(t *testing.T) {
		s, c := newOps(t), ctx(t)
		_, err := s.take(c, randomID(t))
		wantNotFound(t, "take unknown", err)
	})

	t.Run("ids are independent", func(t *testing.T) {
		s, c := newOps(t), ctx(t)
		a, b := randomID(t), randomID(t)
		va, vb := s.sample(t), s.sample(t)
		if err := s.put(c, a, va, time.Minute); err != nil {
			t.Fatalf("put a: %v", err)
		}
		if err := s.put(c, b, vb, time.Minute); err != nil {
			t.Fatalf("put b: %v", err)
		}
		if _, err := s.take(c, a); err != nil {
			t.Fatalf("take a: %v", err)
		}
		got, err := s.take(c, b)
		if err != nil {
			t.Fatalf("take b after a: %v", err)
		}
		s.check(t, got, vb)
	})

	t.Run("50 goroutines racing on one key: exactly one wins", func(t *testing.T) {
		s, c := newOps(t), ctx(t)
		id, want := randomID(t), s.sample(t)
		if err := s.put(c, id, want, time.Minute); err != nil {
			t.Fatalf("put: %v", err)
		}
		var (
			wg       sync.WaitGroup
			start    = make(chan struct{})
			wins     = make(chan V, racers)
			failures = make(chan error, racers)
		)
		for range racers {
			wg.Go(func() {
				<-start
				v, err := s.take(c, id)
				switch {
				case err == nil:
					wins <- v
				case !errors.Is(err, store.ErrNotFound):
					failures <- err
				}
			})
		}
		close(start)
		wg.Wait()
		close(wins)
		close(failures)
		for err := range failures {
			t.Errorf("a losing take failed with %v, want store.ErrNotFound", err)
		}
		if len(wins) != 1 {
			t.Fatalf("%d takes succeeded, want exactly 1", len(wins))
		}
		s.check(t, <-wins, want)
	})

	t.Run("expired: not found", func(t *testing.T) {
		t.Parallel()
		s, c := newOps(t), ctx(t)
		id := randomID(t)
		if err := s.put(c, id, s.sample(t), shortTTL); err != nil {
			t.Fatalf("put: %v", err)
		}
		time.Sleep(expiryWait)
		_, err := s.take(c, id)
		wantNotFound(t, "take after expiry", err)
	})
}
