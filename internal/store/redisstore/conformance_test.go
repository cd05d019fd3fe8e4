package redisstore_test

import (
	"testing"

	"github.com/redis/go-redis/v9"

	"github.com/authbroker/authbroker/internal/store"
	"github.com/authbroker/authbroker/internal/store/redisstore"
	"github.com/authbroker/authbroker/internal/store/storetest"
	"github.com/authbroker/authbroker/internal/testenv"
)

// newStore returns a Store on the test Redis under a key prefix of its own,
// with its own client, both cleaned up with the test.
func newStore(t testing.TB) (*redisstore.Store, redis.UniversalClient) {
	t.Helper()
	url, prefix := testenv.Redis(t)
	c, err := redisstore.Connect(url)
	if err != nil {
		t.Fatalf("connect: %v", err)
	}
	t.Cleanup(func() { _ = c.Close() })
	return redisstore.New(c, prefix), c
}

func TestConformance(t *testing.T) {
	t.Run("redis", func(t *testing.T) {
		// The suites run in parallel so their expiry waits overlap.
		t.Run("states", func(t *testing.T) {
			t.Parallel()
			storetest.RunStates(t, func(t *testing.T) store.States { s, _ := newStore(t); return s })
		})
		t.Run("codes", func(t *testing.T) {
			t.Parallel()
			storetest.RunCodes(t, func(t *testing.T) store.Codes { s, _ := newStore(t); return s })
		})
		t.Run("sessions", func(t *testing.T) {
			t.Parallel()
			storetest.RunSessions(t, func(t *testing.T) store.Sessions { s, _ := newStore(t); return s })
		})
		t.Run("denylist", func(t *testing.T) {
			t.Parallel()
			storetest.RunDenylist(t, func(t *testing.T) store.Denylist { s, _ := newStore(t); return s })
		})
	})
}
