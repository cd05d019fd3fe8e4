package storetest

import (
	"reflect"
	"testing"
	"time"

	"github.com/authbroker/authbroker/internal/store"
)

// RunCodes checks a store.Codes backend: a one-time code is redeemed
// exactly once, whole, and never after its TTL.
func RunCodes(t *testing.T, newStore func(t *testing.T) store.Codes) {
	runSingleUse(t, func(t *testing.T) singleUse[store.Code] {
		s := newStore(t)
		return singleUse[store.Code]{
			put:    s.PutCode,
			take:   s.TakeCode,
			sample: sampleCode,
			check:  checkCode,
		}
	})
}

// sampleCode fills every field, so a backend that drops one fails.
func sampleCode(t *testing.T) store.Code {
	return store.Code{
		MemberID:      randomID(t),
		Provider:      "kakao",
		CodeChallenge: randomID(t),
		UserAgent:     "Mozilla/5.0 (X11; Linux x86_64) \"quoted\"",
		IP:            "2001:db8::1",
		RevokeOthers:  true,
		Profile:       []byte(`{"Provider":"github","Subject":"583231","Raw":{"login":"octocat"}}`),
		CreatedAt:     now(),
	}
}

func checkCode(t *testing.T, got, want store.Code) {
	t.Helper()
	sameTime(t, "CreatedAt", got.CreatedAt, want.CreatedAt)
	got.CreatedAt, want.CreatedAt = time.Time{}, time.Time{}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("code = %+v, want %+v", got, want)
	}
}
