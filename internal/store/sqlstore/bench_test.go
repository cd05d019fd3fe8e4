package sqlstore_test

import (
	"crypto/sha256"
	"encoding/binary"
	"testing"
	"time"

	"github.com/authbroker/authbroker/internal/store"
	"github.com/authbroker/authbroker/internal/testenv"
)

// BenchmarkRotateRefresh is one client refreshing one session in a chain on
// each SQL backend: the latency of a refresh's store step (one transaction
// that reads the session row, checks current/previous/history hashes and
// writes the rotation). Past 1024 iterations the history is full: the
// steady state of a long-lived session.
func BenchmarkRotateRefresh(b *testing.B) {
	for name, url := range map[string]func(testing.TB) string{"sqlite": testenv.SQLiteURL, "postgres": testenv.PostgresURL} {
		b.Run(name, func(b *testing.B) {
			st := open(b, url(b))
			ctx := b.Context()
			now := time.Now().UTC()
			sid := testenv.RandomName("bench")
			s := store.Session{ID: sid, MemberID: "member", Provider: "dev", CreatedAt: now, LastUsedAt: now, ExpiresAt: now.Add(time.Hour)}
			hash := func(i int) []byte {
				h := sha256.New()
				h.Write([]byte(sid))
				_ = binary.Write(h, binary.BigEndian, int64(i))
				return h.Sum(nil)
			}
			cur := hash(0)
			if err := st.CreateSession(ctx, s, cur); err != nil {
				b.Fatal(err)
			}
			sealed := make([]byte, 12+65+16)
			i := 0
			for b.Loop() {
				i++
				next := hash(i)
				res, err := st.RotateRefresh(ctx, store.Rotation{SessionID: sid, Presented: cur, Next: next, Sealed: sealed, Now: now, Grace: 10 * time.Second, IP: "192.0.2.1"})
				if err != nil || res.Graced {
					b.Fatalf("rotation %d: graced=%v err=%v", i, res.Graced, err)
				}
				cur = next
			}
		})
	}
}
