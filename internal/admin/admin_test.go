package admin_test

import (
	"encoding/json"
	"errors"
	"log/slog"
	"net/http"
	"testing"
	"time"

	"github.com/authbroker/authbroker/internal/admin"
	"github.com/authbroker/authbroker/internal/apierror"
	"github.com/authbroker/authbroker/internal/clock"
	"github.com/authbroker/authbroker/internal/member"
	"github.com/authbroker/authbroker/internal/secrets"
	"github.com/authbroker/authbroker/internal/session"
	"github.com/authbroker/authbroker/internal/store"
	"github.com/authbroker/authbroker/internal/store/sqlstore"
	"github.com/authbroker/authbroker/internal/testenv"
	"github.com/authbroker/authbroker/internal/token"
)

// fixture is the admin service over a real SQLite store and session
// service, on a test clock.
type fixture struct {
	svc  *admin.Service
	db   *sqlstore.Store
	sess *session.Service
	clk  *clock.Fake
}

var boss = admin.Actor{MemberID: "boss", IP: "192.0.2.7"}

func newFixture(t *testing.T, adminEmails ...string) *fixture {
	t.Helper()
	clk := clock.NewFake(time.Date(2026, 12, 5, 9, 0, 0, 0, time.UTC))
	db, err := sqlstore.Open(t.Context(), testenv.SQLiteURL(t), sqlstore.WithClock(clk.Now))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(db.Close)
	if err := db.Migrate(t.Context()); err != nil {
		t.Fatal(err)
	}
	pemKey, _ := token.GenerateKeyPEM("ES256")
	keys, err := token.ParseKeys("ES256", pemKey, "https://auth.example.com")
	if err != nil {
		t.Fatal(err)
	}
	kr, _ := secrets.Parse([]byte(secrets.NewKeyLine()))
	sess := session.New(session.Deps{
		Store: db, Denylist: db, Deny: session.NewDenyCache(db, time.Minute, nil, clk.Now), Members: db, Codec: session.NewCodec(kr),
		Issuer: token.NewIssuer(keys, "https://auth.example.com", "app", 15*time.Minute, clk.Now),
		Policy: session.Policy{RefreshTTL: 24 * time.Hour, ReuseGrace: 10 * time.Second}, Now: clk.Now, Logger: slog.New(slog.DiscardHandler),
	})
	members := &member.Service{Members: db, AdminEmails: adminEmails, Now: clk.Now}
	return &fixture{svc: &admin.Service{Members: db, Audit: db, Sessions: sess, Now: clk.Now, IsAdminEmail: members.IsAdminEmail},
		db: db, sess: sess, clk: clk}
}

func (f *fixture) member(t *testing.T, id, email, role string) store.Member {
	t.Helper()
	now := f.clk.Now()
	m := store.Member{ID: id, Email: email, EmailVerified: true, Role: role, Status: store.StatusActive, CreatedAt: now, UpdatedAt: now}
	if err := f.db.CreateMember(t.Context(), m, store.Identity{Provider: "dev", Subject: id, MemberID: id, CreatedAt: now, UpdatedAt: now}); err != nil {
		t.Fatal(err)
	}
	return m
}

// live is how many live sessions the member has.
func (f *fixture) live(t *testing.T, id string) int {
	t.Helper()
	ss, err := f.sess.Sessions(t.Context(), id)
	if err != nil {
		t.Fatal(err)
	}
	return len(ss)
}

func (f *fixture) signIn(t *testing.T, id string) {
	t.Helper()
	if _, err := f.sess.Start(t.Context(), session.Start{MemberID: id, Provider: "dev"}); err != nil {
		t.Fatal(err)
	}
}

func wantCode(t *testing.T, err error, status int, code string) {
	t.Helper()
	var ae *apierror.Error
	if !errors.As(err, &ae) || ae.Status != status || ae.Code != code {
		t.Fatalf("err = %v, want %d %s", err, status, code)
	}
}

// lastAudit is the newest audit entry.
func (f *fixture) lastAudit(t *testing.T) store.AuditEntry {
	t.Helper()
	entries, err := f.svc.AuditLog(t.Context(), 0, 1)
	if err != nil || len(entries) != 1 {
		t.Fatalf("audit: %v %d", err, len(entries))
	}
	return entries[0]
}

func TestAdminsCannotLockThemselvesOut(t *testing.T) {
	f := newFixture(t)
	f.member(t, "boss", "boss@example.com", store.RoleAdmin)
	_, err := f.svc.SetRole(t.Context(), boss, "boss", store.RoleUser)
	wantCode(t, err, http.StatusBadRequest, apierror.CodeInvalidRequest)
	_, err = f.svc.SetStatus(t.Context(), boss, "boss", store.StatusDisabled)
	wantCode(t, err, http.StatusBadRequest, apierror.CodeInvalidRequest)
	wantCode(t, f.svc.Delete(t.Context(), boss, "boss"), http.StatusBadRequest, apierror.CodeInvalidRequest)
	if m, _ := f.db.GetMember(t.Context(), "boss"); m.Role != store.RoleAdmin || m.Status != store.StatusActive {
		t.Fatalf("boss changed: %+v", m)
	}
}

func TestRoleChanges(t *testing.T) {
	f := newFixture(t, "listed@example.com")
	f.member(t, "ann", "ann@example.com", store.RoleUser)
	f.signIn(t, "ann")

	_, err := f.svc.SetRole(t.Context(), boss, "ann", "root")
	wantCode(t, err, http.StatusBadRequest, apierror.CodeInvalidRequest)

	// A promotion keeps the sessions (their claims change at the next refresh).
	f.clk.Advance(time.Minute)
	m, err := f.svc.SetRole(t.Context(), boss, "ann", store.RoleAdmin)
	if err != nil || m.Role != store.RoleAdmin || !m.UpdatedAt.Equal(f.clk.Now()) || f.live(t, "ann") != 1 {
		t.Fatalf("promote: %+v %v, %d sessions", m, err, f.live(t, "ann"))
	}
	var detail map[string]string
	e := f.lastAudit(t)
	_ = json.Unmarshal(e.Detail, &detail)
	if e.Action != "member.role" || e.ActorID != "boss" || e.IP != "192.0.2.7" || e.TargetID != "ann" || detail["from"] != "user" || detail["to"] != "admin" {
		t.Fatalf("audit %+v %v", e, detail)
	}
	// A demotion ends them: the tokens carried the admin role.
	if _, err := f.svc.SetRole(t.Context(), boss, "ann", store.RoleUser); err != nil || f.live(t, "ann") != 0 {
		t.Fatalf("demote: %v, %d sessions left", err, f.live(t, "ann"))
	}

	// ADMIN_EMAILS wins: a listed member is not demoted, whichever
	// identity verified the address.
	f.member(t, "lee", "lee@example.com", store.RoleAdmin)
	now := f.clk.Now()
	if err := f.db.LinkIdentity(t.Context(), store.Identity{Provider: "github", Subject: "9", MemberID: "lee", Email: "listed@example.com", EmailVerified: true, CreatedAt: now, UpdatedAt: now}); err != nil {
		t.Fatal(err)
	}
	_, err = f.svc.SetRole(t.Context(), boss, "lee", store.RoleUser)
	wantCode(t, err, http.StatusConflict, apierror.CodeAdminByConfig)
	if m, _ := f.db.GetMember(t.Context(), "lee"); m.Role != store.RoleAdmin {
		t.Fatal("the listed admin was demoted")
	}
}

func TestDisableEndsSessionsAndEnableDoesNot(t *testing.T) {
	f := newFixture(t)
	f.member(t, "ann", "ann@example.com", store.RoleUser)
	f.signIn(t, "ann")
	f.signIn(t, "ann")
	_, err := f.svc.SetStatus(t.Context(), boss, "ann", "gone")
	wantCode(t, err, http.StatusBadRequest, apierror.CodeInvalidRequest)
	if m, err := f.svc.SetStatus(t.Context(), boss, "ann", store.StatusDisabled); err != nil || m.Status != store.StatusDisabled || f.live(t, "ann") != 0 {
		t.Fatalf("disable: %v, %d sessions", err, f.live(t, "ann"))
	}
	if f.lastAudit(t).Action != "member.disable" {
		t.Fatal("no audit entry for the disable")
	}
	if m, err := f.svc.SetStatus(t.Context(), boss, "ann", store.StatusActive); err != nil || m.Status != store.StatusActive {
		t.Fatalf("enable: %v", err)
	}
	if f.lastAudit(t).Action != "member.enable" {
		t.Fatal("no audit entry for the enable")
	}
	_, err = f.svc.SetStatus(t.Context(), boss, "nobody", store.StatusDisabled)
	wantCode(t, err, http.StatusNotFound, apierror.CodeNotFound)
}

func TestDeleteAndDetail(t *testing.T) {
	f := newFixture(t)
	f.member(t, "ann", "ann@example.com", store.RoleUser)
	f.signIn(t, "ann")
	d, err := f.svc.Get(t.Context(), "ann")
	if err != nil || d.Member.ID != "ann" || len(d.Identities) != 1 || len(d.Sessions) != 1 || d.ProviderTokens == nil {
		t.Fatalf("detail %+v %v", d, err)
	}
	// Without a vault no grant is held: revoking one is not found.
	wantCode(t, f.svc.RevokeProviderToken(t.Context(), boss, "ann", "google", "1"), http.StatusNotFound, apierror.CodeNotFound)

	if err := f.svc.Delete(t.Context(), boss, "ann"); err != nil {
		t.Fatal(err)
	}
	if _, err := f.db.GetMember(t.Context(), "ann"); !errors.Is(err, store.ErrNotFound) || f.live(t, "ann") != 0 {
		t.Fatalf("after delete: %v, %d sessions", err, f.live(t, "ann"))
	}
	if e := f.lastAudit(t); e.Action != "member.delete" || e.TargetID != "ann" {
		t.Fatalf("audit %+v", e)
	}
	wantCode(t, f.svc.Delete(t.Context(), boss, "ann"), http.StatusNotFound, apierror.CodeNotFound)
	_, err = f.svc.Get(t.Context(), "ann")
	wantCode(t, err, http.StatusNotFound, apierror.CodeNotFound)
}
