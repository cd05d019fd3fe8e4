package session_test

import (
	"testing"
	"time"

	"github.com/authbroker/authbroker/internal/clock"
	"github.com/authbroker/authbroker/internal/jose"
	"github.com/authbroker/authbroker/internal/session"
	"github.com/authbroker/authbroker/internal/store/redisstore"
	"github.com/authbroker/authbroker/internal/store/sqlstore"
	"github.com/authbroker/authbroker/internal/testenv"
)

// TestContinuity: when Redis loses its data (the marker vanishes), access
// tokens issued before the loss are refused by this replica and by a
// replica started later, until they would have expired anyway; tokens
// issued after the loss are accepted.
func TestContinuity(t *testing.T) {
	url, prefix := testenv.Redis(t)
	rc, err := redisstore.Connect(url)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = rc.Close() })
	rs := redisstore.New(rc, prefix)
	clk := clock.NewFake(time.Now().UTC().Truncate(time.Second))
	db, err := sqlstore.Open(t.Context(), testenv.SQLiteURL(t), sqlstore.WithClock(clk.Now))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(db.Close)
	if err := db.Migrate(t.Context()); err != nil {
		t.Fatal(err)
	}
	validFor := 15*time.Minute + jose.MaxLeeway
	c := session.NewContinuity(rs, db, validFor, clk.Now, nil)
	if c.Checked() {
		t.Fatal("checked before the first check")
	}
	if err := c.Check(t.Context()); err != nil {
		t.Fatal(err)
	}
	before := clk.Now()
	if !c.Checked() || c.IssuedBeforeLoss(before) {
		t.Fatal("a first start is no loss")
	}
	clk.Advance(time.Minute)
	if err := c.Check(t.Context()); err != nil || c.IssuedBeforeLoss(before) {
		t.Fatalf("a marker still there is no loss (%v)", err)
	}

	// Redis restarts empty.
	if err := rc.Del(t.Context(), prefix+"marker").Err(); err != nil {
		t.Fatal(err)
	}
	clk.Advance(time.Second)
	if err := c.Check(t.Context()); err != nil {
		t.Fatal(err)
	}
	if !c.IssuedBeforeLoss(before) {
		t.Fatal("a token issued before the loss is still accepted")
	}
	clk.Advance(time.Second)
	if c.IssuedBeforeLoss(clk.Now()) {
		t.Fatal("a token issued after the loss is refused")
	}
	fresh := session.NewContinuity(rs, db, validFor, clk.Now, nil)
	if err := fresh.Check(t.Context()); err != nil || !fresh.IssuedBeforeLoss(before) {
		t.Fatalf("a replica started after the loss accepts older tokens (%v)", err)
	}
	clk.Advance(validFor)
	if c.IssuedBeforeLoss(before) {
		t.Fatal("the loss still matters after every older token expired")
	}
}

// TestDenyLeewayCoversTheVerifier: a revoked session stays denied as long
// as the verifier may still accept one of its tokens.
func TestDenyLeewayCoversTheVerifier(t *testing.T) {
	if session.DenyLeeway != jose.MaxLeeway {
		t.Fatalf("deny leeway %v, verifier leeway %v", session.DenyLeeway, jose.MaxLeeway)
	}
}
