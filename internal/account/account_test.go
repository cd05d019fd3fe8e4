package account_test

import (
	"context"
	"errors"
	"net/http"
	"testing"
	"time"

	"github.com/authbroker/authbroker/internal/account"
	"github.com/authbroker/authbroker/internal/apierror"
	"github.com/authbroker/authbroker/internal/member"
	"github.com/authbroker/authbroker/internal/store"
	"github.com/authbroker/authbroker/internal/store/sqlstore"
	"github.com/authbroker/authbroker/internal/testenv"
	"github.com/authbroker/authbroker/internal/vault"
)

// remover records what the vault was asked to revoke after a removal.
type remover struct{ revoked []string }

func (r *remover) Removing(_ context.Context, a vault.Actor, memberID, provider, subject string, remove func() error) error {
	if err := remove(); err != nil {
		return err
	}
	r.revoked = append(r.revoked, a.MemberID+" "+memberID+" "+provider+"/"+subject)
	return nil
}

func setup(t *testing.T) (*sqlstore.Store, *account.Service, *remover, store.Member) {
	t.Helper()
	db, err := sqlstore.Open(t.Context(), testenv.SQLiteURL(t))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(db.Close)
	if err := db.Migrate(t.Context()); err != nil {
		t.Fatal(err)
	}
	now := time.Now().UTC()
	m := store.Member{ID: "m-1", Email: "ada@example.com", EmailVerified: true, Role: store.RoleUser, Status: store.StatusActive, CreatedAt: now, UpdatedAt: now}
	if err := db.CreateMember(t.Context(), m, store.Identity{Provider: "google", Subject: "g-1", MemberID: m.ID, CreatedAt: now, UpdatedAt: now}); err != nil {
		t.Fatal(err)
	}
	if err := db.LinkIdentity(t.Context(), store.Identity{Provider: "github", Subject: "h-1", MemberID: m.ID, CreatedAt: now, UpdatedAt: now}); err != nil {
		t.Fatal(err)
	}
	r := &remover{}
	return db, account.New(db, &member.Service{Members: db}, r), r, m
}

func wantCode(t *testing.T, err error, status int, code string) {
	t.Helper()
	var ae *apierror.Error
	if !errors.As(err, &ae) || ae.Status != status || ae.Code != code {
		t.Fatalf("err = %v, want %d %s", err, status, code)
	}
}

func TestMe(t *testing.T) {
	db, svc, _, m := setup(t)
	me, err := svc.Me(t.Context(), account.Caller{MemberID: m.ID, SessionID: "s-1"})
	if err != nil || me.ID != m.ID || me.Email != m.Email || len(me.Identities) != 2 || me.SessionID != "s-1" || me.Status != store.StatusActive {
		t.Fatalf("me = %+v, %v", me, err)
	}
	_, err = svc.Me(t.Context(), account.Caller{MemberID: "nobody"})
	wantCode(t, err, http.StatusUnauthorized, apierror.CodeInvalidToken)
	if _, err := db.UpdateMember(t.Context(), m.ID, func(old store.Member) (store.Member, error) {
		old.Status = store.StatusDisabled
		return old, nil
	}); err != nil {
		t.Fatal(err)
	}
	_, err = svc.Me(t.Context(), account.Caller{MemberID: m.ID})
	wantCode(t, err, http.StatusUnauthorized, apierror.CodeInvalidToken)
}

func TestUnlink(t *testing.T) {
	_, svc, r, m := setup(t)
	caller := account.Caller{MemberID: m.ID, IP: "192.0.2.1"}
	wantCode(t, svc.Unlink(t.Context(), caller, "github", "not-mine"), http.StatusNotFound, apierror.CodeNotFound)
	wantCode(t, svc.Unlink(t.Context(), account.Caller{MemberID: "m-2"}, "github", "h-1"), http.StatusNotFound, apierror.CodeNotFound)
	if len(r.revoked) != 0 {
		t.Fatalf("revoked after failed unlinks: %v", r.revoked)
	}
	if err := svc.Unlink(t.Context(), caller, "github", "h-1"); err != nil {
		t.Fatal(err)
	}
	if len(r.revoked) != 1 || r.revoked[0] != "m-1 m-1 github/h-1" {
		t.Fatalf("revoked %v, want the unlinked identity's grant", r.revoked)
	}
	wantCode(t, svc.Unlink(t.Context(), caller, "google", "g-1"), http.StatusConflict, apierror.CodeLastIdentity)
	if len(r.revoked) != 1 {
		t.Fatal("the last identity's grant was revoked although it stays")
	}
}
