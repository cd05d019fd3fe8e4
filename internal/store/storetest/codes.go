package storetest

import (
	"reflect"
	"testing"
	"time"

	"github.com/authbroker/authbroker/internal/store"
)

// RunCodes checks a store.Codes backend: each kind of one-time record
// (login code, link code, pending link) is taken exactly once, whole, and
// never after its TTL, and no kind can be taken as another.
func RunCodes(t *testing.T, newStore func(t *testing.T) store.Codes) {
	t.Run("login codes", func(t *testing.T) {
		runSingleUse(t, func(t *testing.T) singleUse[store.Code] {
			s := newStore(t)
			return singleUse[store.Code]{put: s.PutCode, take: s.TakeCode, sample: sampleCode, check: checkCode}
		})
	})
	t.Run("link codes", func(t *testing.T) {
		runSingleUse(t, func(t *testing.T) singleUse[store.LinkCode] {
			s := newStore(t)
			return singleUse[store.LinkCode]{put: s.PutLinkCode, take: s.TakeLinkCode, sample: func(t *testing.T) store.LinkCode {
				return store.LinkCode{MemberID: randomID(t), Provider: "github", CreatedAt: now()}
			}, check: sameRecord[store.LinkCode](func(c *store.LinkCode) *time.Time { return &c.CreatedAt })}
		})
	})
	t.Run("pending links", func(t *testing.T) {
		runSingleUse(t, func(t *testing.T) singleUse[store.PendingLink] {
			s := newStore(t)
			return singleUse[store.PendingLink]{put: s.PutPendingLink, take: s.TakePendingLink, sample: func(t *testing.T) store.PendingLink {
				return store.PendingLink{MemberID: randomID(t), Provider: "github", CreatedAt: now(),
					Profile: []byte(`{"Provider":"github","Subject":"583231","Raw":{"login":"octocat"}}`), Grant: []byte{0, 1, 2, 0xff, 'x'}}
			}, check: sameRecord[store.PendingLink](func(p *store.PendingLink) *time.Time { return &p.CreatedAt })}
		})
	})
	t.Run("one kind is never taken as another", func(t *testing.T) {
		s, c := newStore(t), ctx(t)
		id := randomID(t)
		if err := s.PutLinkCode(c, id, store.LinkCode{MemberID: "m", Provider: "github", CreatedAt: now()}, time.Minute); err != nil {
			t.Fatal(err)
		}
		if err := s.PutPendingLink(c, id, store.PendingLink{MemberID: "m", Provider: "github", Profile: []byte(`{}`), CreatedAt: now()}, time.Minute); err != nil {
			t.Fatal(err)
		}
		_, err := s.TakeCode(c, id)
		wantNotFound(t, "a link code's id as a login code", err)
		if _, err := s.TakeLinkCode(c, id); err != nil {
			t.Fatalf("the link code itself: %v", err)
		}
		_, err = s.TakeLinkCode(c, id)
		wantNotFound(t, "a pending link's id as a link code", err)
		if _, err := s.TakePendingLink(c, id); err != nil {
			t.Fatalf("the pending link itself: %v", err)
		}
	})
}

// sameRecord compares a record read back with the one written, its time
// (at) to the store's precision.
func sameRecord[V any](at func(*V) *time.Time) func(t *testing.T, got, want V) {
	return func(t *testing.T, got, want V) {
		t.Helper()
		sameTime(t, "CreatedAt", *at(&got), *at(&want))
		*at(&got), *at(&want) = time.Time{}, time.Time{}
		if !reflect.DeepEqual(got, want) {
			t.Errorf("read back %+v, want %+v", got, want)
		}
	}
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
		CreatedAt:     now(),
	}
}

var checkCode = sameRecord[store.Code](func(c *store.Code) *time.Time { return &c.CreatedAt })
