package vault

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"time"

	"github.com/authbroker/authbroker/internal/apierror"
	"github.com/authbroker/authbroker/internal/store"
	"github.com/authbroker/authbroker/providers"
)

// Status is what the admin page and API show of a held grant: never a
// token.
type Status struct {
	Provider        string    `json:"provider"`
	Subject         string    `json:"subject"`
	ExpiresAt       time.Time `json:"expires_at,omitzero"`
	Scopes          []string  `json:"scopes"`
	HasRefreshToken bool      `json:"has_refresh_token"`
	ReauthNeeded    bool      `json:"reconnect_needed"`
	UpdatedAt       time.Time `json:"updated_at"`
}

// Statuses lists the grants held for a member.
func (s *Service) Statuses(ctx context.Context, memberID string) ([]Status, error) {
	recs, err := s.d.Store.ListProviderTokens(ctx, memberID)
	if err != nil {
		return nil, apierror.Unavailable("list provider tokens", err)
	}
	out := make([]Status, 0, len(recs))
	for _, r := range recs {
		scopes := r.Scopes
		if scopes == nil {
			scopes = []string{}
		}
		out = append(out, Status{Provider: r.Provider, Subject: r.Subject, ExpiresAt: r.Expiry, Scopes: scopes,
			HasRefreshToken: r.HasRefresh, ReauthNeeded: r.ReauthNeeded, UpdatedAt: r.UpdatedAt})
	}
	return out, nil
}

// Actor is who causes a revocation, for the audit log.
type Actor struct {
	MemberID string
	IP       string
}

// Revoke ends one held grant at the provider (best effort) and forgets it:
// an admin's "revoke".
func (s *Service) Revoke(ctx context.Context, a Actor, memberID, provider, subject string) error {
	rec, err := s.d.Store.GetProviderToken(ctx, provider, subject)
	if errors.Is(err, store.ErrNotFound) || (err == nil && rec.MemberID != memberID) {
		return apierror.New(http.StatusNotFound, apierror.CodeNotFound, "no provider token is held for that identity", nil)
	}
	if err != nil {
		return apierror.Unavailable("get provider token", err)
	}
	if err := s.d.Store.DeleteProviderToken(ctx, provider, subject); err != nil && !errors.Is(err, store.ErrNotFound) {
		return apierror.Unavailable("delete provider token", err)
	}
	s.revokeAtProvider(ctx, a, rec, "admin")
	return nil
}

// Removing runs remove (an unlink of provider/subject, or with provider ""
// the deletion of the member) and then revokes at the provider, best
// effort, every grant the removal took away: each outcome goes to the
// audit log. Grants are read before the removal (the rows go with the
// identity); nothing is revoked when remove fails.
func (s *Service) Removing(ctx context.Context, a Actor, memberID, provider, subject string, remove func() error) error {
	recs, err := s.d.Store.ListProviderTokens(ctx, memberID)
	if err != nil {
		return apierror.Unavailable("list provider tokens", err)
	}
	if err := remove(); err != nil {
		return err
	}
	reason := "member_deleted"
	if provider != "" {
		reason = "unlinked"
	}
	for _, rec := range recs {
		if provider != "" && (rec.Provider != provider || rec.Subject != subject) {
			continue
		}
		s.revokeAtProvider(ctx, a, rec, reason)
	}
	return nil
}

// revokeAtProvider tells the provider (bounded by its timeout) and
// records the outcome. Kakao, Naver and GitHub revoke with the access
// token, so an expired one is renewed first when a refresh token is held.
func (s *Service) revokeAtProvider(ctx context.Context, a Actor, rec store.ProviderToken, reason string) {
	ctx = context.WithoutCancel(ctx)
	result := "revoked"
	var cause error
	e, ok := s.d.Providers.Entry(rec.Provider)
	var keeper providers.TokenKeeper
	if ok && e.Provider != nil {
		keeper, ok = e.Provider.(providers.TokenKeeper)
	}
	g, err := s.open(rec)
	switch {
	case !ok || keeper == nil:
		result, cause = "skipped", errors.New("the provider is no longer configured")
	case err != nil:
		result, cause = "failed", err
	default:
		if !s.valid(rec) && g.RefreshToken != "" && !rec.ReauthNeeded {
			if ng, rerr := keeper.Renew(ctx, g.RefreshToken); rerr == nil {
				g.AccessToken = ng.AccessToken
				if ng.RefreshToken != "" {
					g.RefreshToken = ng.RefreshToken
				}
			}
		}
		if cause = keeper.Revoke(ctx, g); cause != nil {
			result = "failed"
		}
	}
	level := slogLevel(cause)
	attrs := []any{"provider", rec.Provider, "member_id", rec.MemberID, "reason", reason, "result", result}
	if cause != nil {
		attrs = append(attrs, "error", cause.Error())
	}
	s.d.Logger.Log(ctx, level, "vault.revoke", attrs...)
	if s.d.Audit == nil {
		return
	}
	detail, _ := json.Marshal(map[string]string{"provider": rec.Provider, "subject": rec.Subject, "reason": reason, "result": result})
	actor := a.MemberID
	if actor == "" {
		actor = rec.MemberID
	}
	if err := s.d.Audit.AppendAudit(ctx, store.AuditEntry{At: s.d.Now().UTC(), ActorID: actor, Action: "provider_token.revoke",
		TargetID: rec.MemberID, IP: a.IP, Detail: detail}); err != nil {
		s.d.Logger.WarnContext(ctx, "vault.audit_failed", "error", err.Error())
	}
}

func slogLevel(err error) slog.Level {
	if err != nil {
		return slog.LevelWarn
	}
	return slog.LevelInfo
}

// Reseal re-seals every kept grant not sealed under the current secrets
// key (`authbroker secrets rotate`, after a new key was put first) and
// returns how many. A grant a renewal rewrites meanwhile is sealed under
// the current key already and is left alone.
func (s *Service) Reseal(ctx context.Context) (int, error) {
	n, afterP, afterS := 0, "", ""
	for {
		page, err := s.d.Store.PageProviderTokens(ctx, afterP, afterS, 200)
		if err != nil {
			return n, err
		}
		if len(page) == 0 {
			return n, nil
		}
		for _, rec := range page {
			if s.d.Keys.IsCurrent(rec.Sealed) {
				continue
			}
			g, err := s.open(rec)
			if err != nil {
				return n, fmt.Errorf("provider token %s/%s: %w", rec.Provider, rec.Subject, err)
			}
			prev := rec.Version
			if rec.Sealed, err = s.seal(rec.Provider, rec.Subject, g); err != nil {
				return n, err
			}
			_, err = s.d.Store.UpdateProviderToken(ctx, rec, prev)
			switch {
			case errors.Is(err, store.ErrConflict), errors.Is(err, store.ErrNotFound):
				continue // renewed (under the current key) or removed meanwhile
			case err != nil:
				return n, fmt.Errorf("provider token %s/%s: %w", rec.Provider, rec.Subject, err)
			}
			n++
		}
		last := page[len(page)-1]
		afterP, afterS = last.Provider, last.Subject
	}
}
