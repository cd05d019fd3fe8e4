// Package clock has the broker's notion of time for tests: a Fake clock
// that moves only when told. Production code takes a func() time.Time
// (time.Now) so that expiry, grace periods and rate windows can be tested
// without sleeping.
package clock

import (
	"sync"
	"time"
)

// Fake is a clock that moves only by Advance. It is safe for concurrent use.
type Fake struct {
	mu sync.Mutex
	t  time.Time
}

// NewFake returns a clock standing at t.
func NewFake(t time.Time) *Fake { return &Fake{t: t} }

// Now returns the clock's time.
func (f *Fake) Now() time.Time {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.t
}

// Advance moves the clock forward by d.
func (f *Fake) Advance(d time.Duration) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.t = f.t.Add(d)
}
