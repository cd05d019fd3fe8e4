package app

import (
	"context"
	"errors"
	"testing"
	"time"
)

// fakeClock moves only when sleep is called.
type fakeClock struct {
	t      time.Time
	pauses []time.Duration
}

func (c *fakeClock) now() time.Time { return c.t }

func (c *fakeClock) sleep(_ context.Context, d time.Duration) error {
	c.pauses = append(c.pauses, d)
	c.t = c.t.Add(d)
	return nil
}

// TestBackoff: pauses double up to the cap, the last one is cut to what
// the wait allows, and the operation's last error comes back; success ends
// the loop at once; a cancelled context ends it too.
func TestBackoff(t *testing.T) {
	down := errors.New("connection refused")
	t.Run("gives up after the wait with the last error", func(t *testing.T) {
		c := &fakeClock{t: time.Unix(1e9, 0)}
		b := backoff{first: 250 * time.Millisecond, max: 2 * time.Second, wait: 6 * time.Second, now: c.now, sleep: c.sleep}
		calls := 0
		err := b.retry(context.Background(), func(int) error { calls++; return down })
		if !errors.Is(err, down) {
			t.Fatalf("err = %v", err)
		}
		want := []time.Duration{250 * time.Millisecond, 500 * time.Millisecond, time.Second, 2 * time.Second, 2 * time.Second, 250 * time.Millisecond}
		if len(c.pauses) != len(want) || calls != len(want)+1 {
			t.Fatalf("pauses %v (%d calls), want %v", c.pauses, calls, want)
		}
		for i := range want {
			if c.pauses[i] != want[i] {
				t.Fatalf("pauses %v, want %v", c.pauses, want)
			}
		}
		if spent := c.t.Sub(time.Unix(1e9, 0)); spent != 6*time.Second {
			t.Fatalf("waited %s, want the 6s allowed", spent)
		}
	})
	t.Run("succeeds as soon as the operation does", func(t *testing.T) {
		c := &fakeClock{t: time.Unix(1e9, 0)}
		b := backoff{first: time.Second, max: time.Second, wait: time.Minute, now: c.now, sleep: c.sleep}
		err := b.retry(context.Background(), func(attempt int) error {
			if attempt < 3 {
				return down
			}
			return nil
		})
		if err != nil || len(c.pauses) != 2 {
			t.Fatalf("err %v after %d pauses", err, len(c.pauses))
		}
	})
	t.Run("a cancelled context ends the wait", func(t *testing.T) {
		ctx, cancel := context.WithCancel(context.Background())
		cancel()
		b := backoff{first: time.Second, max: time.Second, wait: time.Minute, now: time.Now, sleep: sleepCtx}
		if err := b.retry(ctx, func(int) error { return down }); !errors.Is(err, context.Canceled) {
			t.Fatalf("err = %v", err)
		}
	})
}
