package session

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/authbroker/authbroker/internal/store"
)

// Meta keys of the continuity witness.
const (
	metaMarker = "redis_data_marker"
	metaLostAt = "redis_data_lost_at"
)

// Continuity notices that the short-lived store (Redis) lost its data and
// makes the access tokens issued before the loss invalid.
//
// Why: sessions and the denylist live in Redis. If Redis restarts without
// persistence (or fails over to an empty replica) every logout is
// forgotten, and a logged-out access token would verify again on any
// replica that did not keep its own copy of the denylist. Refusing every
// access token issued before the loss is the only safe answer; clients
// whose sessions survived refresh and carry on, the others sign in again.
//
// How: Redis keeps a marker (store.DataMarker) and SQL keeps the marker it
// last saw (store.Meta). A different marker means the data before it is
// gone; the time of the loss is written to SQL so every replica, including
// one started later, refuses the same tokens.
type Continuity struct {
	marker   store.DataMarker
	meta     store.Meta
	now      func() time.Time
	log      *slog.Logger
	lostAt   atomic.Int64 // unix seconds; 0: no loss known
	checked  atomic.Bool
	validFor time.Duration
}

// NewContinuity returns a watcher of marker with its witness in meta.
// validFor is how long an access token can be accepted after it was issued
// (ACCESS_TOKEN_TTL plus the verifier's leeway): after that a loss no
// longer matters.
func NewContinuity(marker store.DataMarker, meta store.Meta, validFor time.Duration, now func() time.Time, log *slog.Logger) *Continuity {
	if now == nil {
		now = time.Now
	}
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Continuity{marker: marker, meta: meta, now: now, log: log, validFor: validFor}
}

// Check compares the store's marker with the witness, records a loss, and
// loads the time of the latest loss.
func (c *Continuity) Check(ctx context.Context) error {
	now := c.now().UTC()
	var rnd [8]byte
	_, _ = rand.Read(rnd[:])
	fresh := hex.EncodeToString(rnd[:]) + "@" + strconv.FormatInt(now.Unix(), 10)
	marker, created, err := c.marker.DataMarker(ctx, fresh)
	if err != nil {
		return fmt.Errorf("continuity: %w", err)
	}
	witness, err := c.meta.GetMeta(ctx, metaMarker)
	if err != nil && !errors.Is(err, store.ErrNotFound) {
		return fmt.Errorf("continuity: %w", err)
	}
	switch {
	case witness == "":
		// First start of this deployment: nothing was there to lose.
	case witness != marker:
		at := markerTime(marker, now)
		c.log.Error("redis.data_lost", "lost_at", at.Format(time.RFC3339), "created_here", created,
			"outcome", "access tokens issued before the loss are refused; sessions and logouts before it are gone")
		if err := c.meta.PutMeta(ctx, metaLostAt, strconv.FormatInt(at.Unix(), 10)); err != nil {
			return fmt.Errorf("continuity: %w", err)
		}
	}
	if witness != marker {
		if err := c.meta.PutMeta(ctx, metaMarker, marker); err != nil {
			return fmt.Errorf("continuity: %w", err)
		}
	}
	lost, err := c.meta.GetMeta(ctx, metaLostAt)
	switch {
	case errors.Is(err, store.ErrNotFound):
	case err != nil:
		return fmt.Errorf("continuity: %w", err)
	default:
		if n, perr := strconv.ParseInt(lost, 10, 64); perr == nil {
			c.lostAt.Store(n)
		}
	}
	c.checked.Store(true)
	return nil
}

// markerTime is when a marker was written (its "@unix" suffix), or now.
func markerTime(m string, now time.Time) time.Time {
	if _, after, ok := strings.Cut(m, "@"); ok {
		if n, err := strconv.ParseInt(after, 10, 64); err == nil {
			return time.Unix(n, 0).UTC()
		}
	}
	return now
}

// Checked reports whether a Check has succeeded (readiness: a replica must
// not accept access tokens before it knows whether Redis lost its data).
func (c *Continuity) Checked() bool { return c.checked.Load() }

// IssuedBeforeLoss reports whether an access token issued at iat predates
// the latest loss of Redis data, while such tokens can still be valid.
func (c *Continuity) IssuedBeforeLoss(iat time.Time) bool {
	lost := c.lostAt.Load()
	if lost == 0 {
		return false
	}
	at := time.Unix(lost, 0)
	return !iat.After(at) && c.now().Before(at.Add(c.validFor))
}

// Run checks every interval until ctx ends; failures are logged and retried.
func (c *Continuity) Run(ctx context.Context, every time.Duration) {
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			if err := c.Check(ctx); err != nil && ctx.Err() == nil {
				c.log.Warn("continuity.check_failed", "error", err.Error())
			}
		}
	}
}
