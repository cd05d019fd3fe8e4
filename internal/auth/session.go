package auth

import (
	"context"
	"errors"
	"net/http"
	"time"

	"github.com/authbroker/authbroker/internal/apierror"
	"github.com/authbroker/authbroker/internal/store"
	"github.com/authbroker/authbroker/internal/vault"
)

// MeView is GET /auth/me.
type MeView struct {
	MemberView
	Status     string           `json:"status"`
	CreatedAt  time.Time        `json:"created_at"`
	Identities []store.Identity `json:"identities"`
	SessionID  string           `json:"session_id"`
}

// Caller is who a request with a verified access token comes from.
type Caller struct {
	MemberID  string // the token's sub
	SessionID string // the token's sid
	IP        string // the client's address, for the audit log
}

// Me returns the caller's member with linked identities.
func (s *Service) Me(ctx context.Context, c Caller) (MeView, error) {
	m, err := s.d.MemberStore.GetMember(ctx, c.MemberID)
	if errors.Is(err, store.ErrNotFound) {
		return MeView{}, apierror.New(http.StatusUnauthorized, apierror.CodeInvalidToken, "the member no longer exists", nil)
	}
	if err != nil {
		return MeView{}, apierror.Unavailable("get member", err)
	}
	if m.Status != store.StatusActive {
		return MeView{}, apierror.New(http.StatusUnauthorized, apierror.CodeInvalidToken, "the account is disabled", nil)
	}
	ids, err := s.d.MemberStore.ListIdentities(ctx, m.ID)
	if err != nil {
		return MeView{}, apierror.Unavailable("list identities", err)
	}
	return MeView{MemberView: viewOf(m), Status: m.Status, CreatedAt: m.CreatedAt, Identities: ids, SessionID: c.SessionID}, nil
}

// Unlink removes one of the caller's identities (never the last one).
func (s *Service) Unlink(ctx context.Context, c Caller, provider, subject string) error {
	err := s.d.Vault.Removing(ctx, vault.Actor{MemberID: c.MemberID, IP: c.IP}, c.MemberID, provider, subject, func() error {
		return s.d.Members.Unlink(ctx, c.MemberID, provider, subject)
	})
	switch {
	case errors.Is(err, store.ErrConflict):
		return apierror.New(http.StatusConflict, apierror.CodeLastIdentity, "the last linked identity cannot be removed", nil)
	case errors.Is(err, store.ErrNotFound):
		return apierror.New(http.StatusNotFound, apierror.CodeNotFound, "no such linked identity", nil)
	case err != nil:
		return apierror.Unavailable("unlink", err)
	}
	return nil
}
