package session_test

import (
	"context"
	"errors"
	"log/slog"
	"net/http"
	"sync/atomic"
	"testing"
	"time"

	"github.com/authbroker/authbroker/internal/apierror"
	"github.com/authbroker/authbroker/internal/clock"
	"github.com/authbroker/authbroker/internal/secrets"
	"github.com/authbroker/authbroker/internal/session"
	"github.com/authbroker/authbroker/internal/store"
	"github.com/authbroker/authbroker/internal/store/sqlstore"
	"github.com/authbroker/authbroker/internal/testenv"
	"github.com/authbroker/authbroker/internal/token"
)

// fixture is a session service over a real SQLite store on a fake clock.
type fixture struct {
	svc     *session.Service
	db      *sqlstore.Store
	clk     *clock.Fake
	deny    *session.DenyCache
	members *memberReads
	codec   *session.Codec
}

// memberReads is the real member store, counting reads and able to run an
// action (what a concurrent admin does) right after a given read.
type memberReads struct {
	store.Members
	n     atomic.Int64
	after func(n int64)
}

func (m *memberReads) GetMember(ctx context.Context, id string) (store.Member, error) {
	got, err := m.Members.GetMember(ctx, id)
	if n := m.n.Add(1); m.after != nil {
		m.after(n)
	}
	return got, err
}

func newFixture(t *testing.T, p session.Policy) *fixture {
	t.Helper()
	clk := clock.NewFake(time.Date(2026, 11, 24, 9, 0, 0, 0, time.UTC))
	db, err := sqlstore.Open(t.Context(), testenv.SQLiteURL(t), sqlstore.WithClock(clk.Now))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(db.Close)
	if err := db.Migrate(t.Context()); err != nil {
		t.Fatal(err)
	}
	pemKey, err := token.GenerateKeyPEM("ES256")
	if err != nil {
		t.Fatal(err)
	}
	keys, err := token.ParseKeys("ES256", pemKey, "https://auth.example.com")
	if err != nil {
		t.Fatal(err)
	}
	kr, err := secrets.Parse([]byte(secrets.NewKeyLine()))
	if err != nil {
		t.Fatal(err)
	}
	if p.RefreshTTL == 0 {
		p.RefreshTTL = 14 * 24 * time.Hour
	}
	if p.ReuseGrace == 0 {
		p.ReuseGrace = 10 * time.Second
	}
	f := &fixture{db: db, clk: clk, members: &memberReads{Members: db}, codec: session.NewCodec(kr)}
	f.deny = session.NewDenyCache(db, time.Minute, nil, clk.Now)
	f.svc = session.New(session.Deps{
		Store: db, Denylist: db, Deny: f.deny, Members: f.members, Codec: f.codec,
		Issuer: token.NewIssuer(keys, "https://auth.example.com", "app", 15*time.Minute, clk.Now),
		Policy: p, Now: clk.Now, Logger: slog.New(slog.DiscardHandler),
	})
	return f
}

func (f *fixture) member(t *testing.T, email string) store.Member {
	t.Helper()
	now := f.clk.Now()
	m := store.Member{ID: testenv.RandomName("m-"), Email: email, EmailVerified: true, Name: "Ada", Role: store.RoleUser,
		Status: store.StatusActive, CreatedAt: now, UpdatedAt: now}
	id := store.Identity{Provider: "dev", Subject: m.ID, MemberID: m.ID, CreatedAt: now, UpdatedAt: now}
	if err := f.db.CreateMember(t.Context(), m, id); err != nil {
		t.Fatal(err)
	}
	return m
}

func (f *fixture) start(t *testing.T, m store.Member, force bool) session.Tokens {
	t.Helper()
	tr, err := f.svc.Start(t.Context(), session.Start{MemberID: m.ID, Provider: "dev", UserAgent: "test", IP: "192.0.2.1", Force: force})
	if err != nil {
		t.Fatalf("start: %v", err)
	}
	return tr
}

func (f *fixture) refresh(t *testing.T, rt string) (session.Tokens, error) {
	t.Helper()
	tok, err := f.svc.ParseRefresh(rt)
	if err != nil {
		return session.Tokens{}, err
	}
	return f.svc.Refresh(t.Context(), tok, "192.0.2.2")
}

func apiCode(err error) string {
	var e *apierror.Error
	if errors.As(err, &e) {
		return e.Code
	}
	return ""
}

func TestStartUnderEachSessionPolicy(t *testing.T) {
	tests := []struct {
		policy    string
		force     bool
		wantErr   string
		wantFirst bool // the first session survives
	}{
		{session.PolicyMultiple, false, "", true},
		{session.PolicySingle, false, "", false},
		{session.PolicySingleConfirm, false, apierror.CodeAlreadySignedIn, true},
		{session.PolicySingleConfirm, true, "", false},
	}
	for _, tc := range tests {
		t.Run(tc.policy+map[bool]string{true: " with force", false: ""}[tc.force], func(t *testing.T) {
			f := newFixture(t, session.Policy{Admission: tc.policy})
			m := f.member(t, "policy@example.com")
			first := f.start(t, m, false)
			_, err := f.svc.Start(t.Context(), session.Start{MemberID: m.ID, Provider: "dev", Force: tc.force})
			if apiCode(err) != tc.wantErr {
				t.Fatalf("second login: %v, want %q", err, tc.wantErr)
			}
			_, err = f.refresh(t, first.RefreshToken)
			if survived := err == nil; survived != tc.wantFirst {
				t.Fatalf("first session survived = %v, want %v (%v)", survived, tc.wantFirst, err)
			}
			if !tc.wantFirst && !f.deny.Contains(first.SessionID) {
				t.Error("the ended session's access tokens are not denied")
			}
		})
	}
}

func TestStartRefusesDisabledOrDeletedMembers(t *testing.T) {
	f := newFixture(t, session.Policy{})
	m := f.member(t, "off@example.com")
	if _, err := f.db.UpdateMember(t.Context(), m.ID, func(cur store.Member) (store.Member, error) {
		cur.Status = store.StatusDisabled
		return cur, nil
	}); err != nil {
		t.Fatal(err)
	}
	if _, err := f.svc.Start(t.Context(), session.Start{MemberID: m.ID}); apiCode(err) != apierror.CodeAccountDisabled {
		t.Fatalf("disabled member: %v", err)
	}
	if _, err := f.svc.Start(t.Context(), session.Start{MemberID: "nobody"}); apiCode(err) != apierror.CodeInvalidGrant {
		t.Fatalf("unknown member: %v", err)
	}
}

// TestStartSeesAnAdminActingMeanwhile: an admin disabling or promoting the
// member while its session is being created is never lost: the session is
// ended, or carries the new claims.
func TestStartSeesAnAdminActingMeanwhile(t *testing.T) {
	change := func(t *testing.T, f *fixture, m store.Member, edit func(*store.Member)) {
		f.members.after = func(n int64) {
			if n != 1 {
				return
			}
			if _, err := f.db.UpdateMember(context.Background(), m.ID, func(cur store.Member) (store.Member, error) {
				edit(&cur)
				return cur, nil
			}); err != nil {
				t.Error(err)
			}
		}
	}
	t.Run("disabled: no session", func(t *testing.T) {
		f := newFixture(t, session.Policy{})
		m := f.member(t, "race@example.com")
		change(t, f, m, func(m *store.Member) { m.Status = store.StatusDisabled })
		if _, err := f.svc.Start(t.Context(), session.Start{MemberID: m.ID}); apiCode(err) != apierror.CodeAccountDisabled {
			t.Fatalf("start: %v, want account_disabled", err)
		}
		if live, _ := f.db.ListSessions(t.Context(), m.ID); len(live) != 0 {
			t.Fatalf("%d sessions left for a disabled member", len(live))
		}
	})
	t.Run("promoted: the new session says admin", func(t *testing.T) {
		f := newFixture(t, session.Policy{})
		m := f.member(t, "promo@example.com")
		change(t, f, m, func(m *store.Member) { m.Role = store.RoleAdmin })
		tr := f.start(t, m, false)
		if tr.Member.Role != store.RoleAdmin {
			t.Fatalf("role in the answer: %s", tr.Member.Role)
		}
		f.members.after = nil
		next, err := f.refresh(t, tr.RefreshToken)
		if err != nil || next.Member.Role != store.RoleAdmin {
			t.Fatalf("refresh: role %s, %v", next.Member.Role, err)
		}
	})
}

func TestRefreshReadsNoMember(t *testing.T) {
	f := newFixture(t, session.Policy{})
	m := f.member(t, "noread@example.com")
	tr := f.start(t, m, false)
	before := f.members.n.Load()
	for range 5 {
		f.clk.Advance(15 * time.Minute)
		var err error
		if tr, err = f.refresh(t, tr.RefreshToken); err != nil {
			t.Fatal(err)
		}
	}
	if n := f.members.n.Load() - before; n != 0 {
		t.Fatalf("%d member reads during 5 refreshes, want 0", n)
	}
	if tr.Member.ID != m.ID || tr.Member.Email != m.Email || !tr.Member.EmailVerified || tr.Member.Role != store.RoleUser {
		t.Fatalf("member in a refresh answer: %+v", tr.Member)
	}
}

// TestRefreshOutcomes: what each store decision becomes for the client.
func TestRefreshOutcomes(t *testing.T) {
	t.Run("a lost answer retried an hour later: the same current token", func(t *testing.T) {
		f := newFixture(t, session.Policy{})
		tr := f.start(t, f.member(t, "lost@example.com"), false)
		f.clk.Advance(15 * time.Minute)
		next, err := f.refresh(t, tr.RefreshToken) // the answer the client never got
		if err != nil {
			t.Fatal(err)
		}
		f.clk.Advance(time.Hour)
		again, err := f.refresh(t, tr.RefreshToken)
		if err != nil || again.RefreshToken != next.RefreshToken {
			t.Fatalf("retry an hour later: %v, same token %v", err, again.RefreshToken == next.RefreshToken)
		}
	})
	t.Run("reuse: invalid_grant, the session ends and its access tokens are denied", func(t *testing.T) {
		f := newFixture(t, session.Policy{})
		first := f.start(t, f.member(t, "stolen@example.com"), false)
		tr := first
		for range 3 {
			f.clk.Advance(time.Minute)
			tr, _ = f.refresh(t, tr.RefreshToken)
		}
		f.clk.Advance(time.Minute)
		_, err := f.refresh(t, first.RefreshToken)
		if apiCode(err) != apierror.CodeInvalidGrant || !f.deny.Contains(first.SessionID) {
			t.Fatalf("replay of the first token: %v, denied %v", err, f.deny.Contains(first.SessionID))
		}
		if _, err := f.refresh(t, tr.RefreshToken); apiCode(err) != apierror.CodeInvalidGrant {
			t.Fatalf("the thief's victim's current token after reuse: %v", err)
		}
	})
	t.Run("over the per-session limit: 429 with Retry-After, the token stays good", func(t *testing.T) {
		f := newFixture(t, session.Policy{RefreshLimit: 2})
		tr := f.start(t, f.member(t, "busy@example.com"), false)
		tr, _ = f.refresh(t, tr.RefreshToken)
		tr, _ = f.refresh(t, tr.RefreshToken)
		_, err := f.refresh(t, tr.RefreshToken)
		var e *apierror.Error
		if !errors.As(err, &e) || e.Status != http.StatusTooManyRequests || e.RetryAfterHeader() != "60" {
			t.Fatalf("third refresh in a minute: %v", err)
		}
		f.clk.Advance(time.Minute)
		if _, err := f.refresh(t, tr.RefreshToken); err != nil {
			t.Fatalf("the refused token after the window: %v", err)
		}
	})
	t.Run("a token of the hashed design: invalid_grant saying to sign in again", func(t *testing.T) {
		f := newFixture(t, session.Policy{})
		_, err := f.refresh(t, session.NewSessionID()+"."+"AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA")
		var e *apierror.Error
		if !errors.As(err, &e) || e.Code != apierror.CodeInvalidGrant || e.Description != "this refresh token was issued before the broker's upgrade; sign in again" {
			t.Fatalf("legacy token: %v", err)
		}
	})
	t.Run("a forged token for a live session changes nothing", func(t *testing.T) {
		f := newFixture(t, session.Policy{RefreshLimit: 1})
		tr := f.start(t, f.member(t, "forged@example.com"), false)
		forged := tr.RefreshToken[:len(tr.RefreshToken)-2] + "AA"
		if forged == tr.RefreshToken {
			forged = tr.RefreshToken[:len(tr.RefreshToken)-2] + "BA"
		}
		for range 5 {
			if _, err := f.refresh(t, forged); apiCode(err) != apierror.CodeInvalidGrant {
				t.Fatalf("forged: %v", err)
			}
		}
		if _, err := f.refresh(t, tr.RefreshToken); err != nil {
			t.Fatalf("the real token after forgeries (limit 1): %v", err)
		}
	})
}

func TestRevokeAcceptsAnyTokenOfTheSession(t *testing.T) {
	f := newFixture(t, session.Policy{})
	first := f.start(t, f.member(t, "revoke@example.com"), false)
	f.clk.Advance(time.Minute)
	tr, _ := f.refresh(t, first.RefreshToken)
	f.clk.Advance(time.Minute)
	tr, _ = f.refresh(t, tr.RefreshToken)
	if err := f.svc.Revoke(t.Context(), first.RefreshToken); err != nil {
		t.Fatal(err)
	}
	if _, err := f.refresh(t, tr.RefreshToken); apiCode(err) != apierror.CodeInvalidGrant || !f.deny.Contains(tr.SessionID) {
		t.Fatalf("after revoking with an old token of the session: %v", err)
	}
	if err := f.svc.Revoke(t.Context(), "garbage"); err != nil {
		t.Fatalf("garbage: %v (RFC 7009 answers 200)", err)
	}
}

// newBenchService is a session service over the given stores, for benchmarks.
func newBenchService(b *testing.B, st store.Sessions, dl store.Denylist, deny *session.DenyCache) *session.Service {
	b.Helper()
	pemKey, _ := token.GenerateKeyPEM("ES256")
	keys, _ := token.ParseKeys("ES256", pemKey, "https://auth.example.com")
	kr, _ := secrets.Parse([]byte(secrets.NewKeyLine()))
	return session.New(session.Deps{Store: st, Denylist: dl, Deny: deny, Codec: session.NewCodec(kr),
		Issuer: token.NewIssuer(keys, "https://auth.example.com", "app", 15*time.Minute, nil),
		Policy: session.Policy{RefreshTTL: time.Hour, ReuseGrace: 10 * time.Second}})
}
