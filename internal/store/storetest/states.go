package storetest

import (
	"testing"
	"time"

	"github.com/authbroker/authbroker/internal/store"
)

// RunStates checks a store.States backend: a login state is taken back
// exactly once, whole, and never after its TTL.
func RunStates(t *testing.T, newStore func(t *testing.T) store.States) {
	runSingleUse(t, func(t *testing.T) singleUse[store.LoginState] {
		s := newStore(t)
		return singleUse[store.LoginState]{
			put:    s.PutState,
			take:   s.TakeState,
			sample: sampleState,
			check:  checkState,
		}
	})
}

// sampleState fills every field, so a backend that drops one fails.
func sampleState(t *testing.T) store.LoginState {
	return store.LoginState{
		Provider:      "github",
		Binding:       randomID(t),
		PKCEVerifier:  randomID(t),
		Nonce:         randomID(t),
		ReturnTo:      "https://app.example/after?x=1&y=ü",
		CodeChallenge: randomID(t),
		Force:         true,
		LinkMemberID:  randomID(t),
		CreatedAt:     now(),
	}
}

func checkState(t *testing.T, got, want store.LoginState) {
	t.Helper()
	sameTime(t, "CreatedAt", got.CreatedAt, want.CreatedAt)
	got.CreatedAt, want.CreatedAt = time.Time{}, time.Time{}
	if got != want {
		t.Errorf("state = %+v, want %+v", got, want)
	}
}
