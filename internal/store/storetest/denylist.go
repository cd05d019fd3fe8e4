package storetest

import (
	"testing"
	"time"

	"github.com/authbroker/authbroker/internal/store"
)

// RunDenylist checks a store.Denylist backend: entries are live until their
// Until, judged by the caller's now, and a session is denied at least as long
// as the latest Deny asked for it.
func RunDenylist(t *testing.T, newStore func(t *testing.T) store.Denylist) {
	t.Run("deny: LiveDenied contains it", func(t *testing.T) {
		dl, c := newStore(t), ctx(t)
		base := now()
		a := store.Denied{SessionID: randomID(t), Until: base.Add(15 * time.Minute)}
		b := store.Denied{SessionID: randomID(t), Until: base.Add(20 * time.Minute)}
		for _, d := range []store.Denied{a, b} {
			if err := dl.Deny(c, d); err != nil {
				t.Fatalf("deny: %v", err)
			}
		}
		live := liveDenied(t, dl, base)
		wantDenied(t, live, a)
		wantDenied(t, live, b)
	})

	t.Run("entry past Until: not returned", func(t *testing.T) {
		dl, c := newStore(t), ctx(t)
		base := now()
		d := store.Denied{SessionID: randomID(t), Until: base.Add(time.Minute)}
		if err := dl.Deny(c, d); err != nil {
			t.Fatalf("deny: %v", err)
		}
		wantDenied(t, liveDenied(t, dl, base.Add(59*time.Second)), d)
		if got, ok := liveDenied(t, dl, base.Add(2*time.Minute))[d.SessionID]; ok {
			t.Fatalf("entry until %v returned at %v: %+v", d.Until, base.Add(2*time.Minute), got)
		}
	})

	t.Run("re-deny extends: one entry with the later Until", func(t *testing.T) {
		dl, c := newStore(t), ctx(t)
		base := now()
		sid := randomID(t)
		first := store.Denied{SessionID: sid, Until: base.Add(time.Minute)}
		later := store.Denied{SessionID: sid, Until: base.Add(10 * time.Minute)}
		for _, d := range []store.Denied{first, later} {
			if err := dl.Deny(c, d); err != nil {
				t.Fatalf("deny: %v", err)
			}
		}
		wantDenied(t, liveDenied(t, dl, base), later)
		wantDenied(t, liveDenied(t, dl, base.Add(5*time.Minute)), later)
	})

	t.Run("re-deny with an earlier Until does not shorten", func(t *testing.T) {
		dl, c := newStore(t), ctx(t)
		base := now()
		sid := randomID(t)
		long := store.Denied{SessionID: sid, Until: base.Add(10 * time.Minute)}
		short := store.Denied{SessionID: sid, Until: base.Add(time.Minute)}
		for _, d := range []store.Denied{long, short} {
			if err := dl.Deny(c, d); err != nil {
				t.Fatalf("deny: %v", err)
			}
		}
		wantDenied(t, liveDenied(t, dl, base.Add(5*time.Minute)), long)
	})
}

// liveDenied calls LiveDenied at now and indexes the answer by session id,
// failing on a session listed twice.
func liveDenied(t *testing.T, dl store.Denylist, now time.Time) map[string]store.Denied {
	t.Helper()
	list, err := dl.LiveDenied(ctx(t), now)
	if err != nil {
		t.Fatalf("live denied: %v", err)
	}
	out := make(map[string]store.Denied, len(list))
	for _, d := range list {
		if _, dup := out[d.SessionID]; dup {
			t.Errorf("session %s listed twice", d.SessionID)
		}
		if !d.Until.After(now) {
			t.Errorf("entry %+v returned at %v: Until is not after now", d, now)
		}
		out[d.SessionID] = d
	}
	return out
}

// wantDenied fails unless live holds want's session with want's Until.
func wantDenied(t *testing.T, live map[string]store.Denied, want store.Denied) {
	t.Helper()
	got, ok := live[want.SessionID]
	if !ok {
		t.Fatalf("session %s not in LiveDenied", want.SessionID)
	}
	sameTime(t, "Until", got.Until, want.Until)
}
