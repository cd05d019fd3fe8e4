package session

import (
	"context"
	"errors"
	"net/http"
	"time"

	"github.com/authbroker/authbroker/internal/apierror"
	"github.com/authbroker/authbroker/internal/store"
)

// DenyLeeway covers verifiers that accept a token slightly past its exp:
// the most leeway the broker's verifier allows (jose.MaxLeeway, which handlers/bearer uses too; held equal
// by a test).
const DenyLeeway = 30 * time.Second

// deny puts sessions on the access-token denylist until every access token
// they may hold has expired: here at once, and for every other replica
// through the shared denylist.
func (s *Service) deny(ctx context.Context, sids ...string) error {
	if len(sids) == 0 {
		return nil
	}
	until := s.d.Now().UTC().Add(s.d.Issuer.TTL() + DenyLeeway)
	ds := make([]store.Denied, 0, len(sids))
	for _, sid := range sids {
		ds = append(ds, store.Denied{SessionID: sid, Until: until})
	}
	if s.d.Deny != nil {
		s.d.Deny.AddAll(ds)
	}
	for _, d := range ds {
		if err := s.d.Denylist.Deny(ctx, d); err != nil {
			return apierror.Unavailable("deny session", err)
		}
	}
	return nil
}

// End ends one session (already gone is fine: the outcome is the same) and
// denies its access tokens.
func (s *Service) End(ctx context.Context, sid string) error {
	if _, err := s.d.Store.RevokeSession(ctx, sid); err != nil && !errors.Is(err, store.ErrNotFound) {
		return apierror.Unavailable("revoke session", err)
	}
	return s.deny(ctx, sid)
}

// EndMember ends every session of memberID except keep (may be empty):
// logout elsewhere, an admin disabling, demoting or deleting a member.
func (s *Service) EndMember(ctx context.Context, memberID, keep string) error {
	gone, err := s.d.Store.RevokeMemberSessions(ctx, memberID, keep)
	// Deny what was deleted even when the revoke failed part-way (a Redis
	// Cluster node down): those sessions are gone, their tokens must be too.
	if derr := s.deny(ctx, ids(gone)...); derr != nil && err == nil {
		err = derr
	}
	if err != nil {
		return apierror.As(apierror.Unavailable("revoke sessions", err))
	}
	return nil
}

// EndOwned ends session sid of memberID; another member's session is
// reported as not found so ids cannot be probed. An empty memberID (an
// admin) may end any session.
func (s *Service) EndOwned(ctx context.Context, memberID, sid string) error {
	ss, err := s.d.Store.GetSession(ctx, sid)
	if errors.Is(err, store.ErrNotFound) || (err == nil && memberID != "" && ss.MemberID != memberID) {
		return apierror.New(http.StatusNotFound, apierror.CodeNotFound, "no such session", nil)
	}
	if err != nil {
		return apierror.Unavailable("get session", err)
	}
	return s.End(ctx, sid)
}

// Logout scopes (BRIEF §2).
const (
	ScopeLocal  = "local"
	ScopeOthers = "others"
	ScopeGlobal = "global"
)

// Logout ends the caller's session (local), every other session of the
// member (others) or all of them (global). Access tokens of ended sessions
// are refused at once by every replica.
func (s *Service) Logout(ctx context.Context, memberID, sid, scope string) error {
	switch scope {
	case "", ScopeLocal:
		if err := s.End(ctx, sid); err != nil {
			return err
		}
		s.d.Logger.InfoContext(ctx, "session.logout", "member_id", memberID, "session_id", sid, "scope", ScopeLocal)
		return nil
	case ScopeOthers:
		return s.EndMember(ctx, memberID, sid)
	case ScopeGlobal:
		return s.EndMember(ctx, memberID, "")
	default:
		return apierror.InvalidRequest("scope must be local, others or global")
	}
}

// View is a session as its member sees it.
type View struct {
	store.Session
	Current bool `json:"current"`
}

// List lists the member's live sessions, marking current.
func (s *Service) List(ctx context.Context, memberID, current string) ([]View, error) {
	list, err := s.Sessions(ctx, memberID)
	if err != nil {
		return nil, err
	}
	out := make([]View, 0, len(list))
	for _, ss := range list {
		out = append(out, View{Session: ss, Current: ss.ID == current})
	}
	return out, nil
}

// Sessions lists the member's live sessions, newest first.
func (s *Service) Sessions(ctx context.Context, memberID string) ([]store.Session, error) {
	list, err := s.d.Store.ListSessions(ctx, memberID)
	if err != nil {
		return nil, apierror.Unavailable("list sessions", err)
	}
	return list, nil
}

// HasLive reports whether the member has a live session: the early,
// advisory check of single_confirm at the provider callback, so the app
// hears already_signed_in on its return URL. Start decides for real.
func (s *Service) HasLive(ctx context.Context, memberID string) (bool, error) {
	list, err := s.Sessions(ctx, memberID)
	return len(list) > 0, err
}

// AdmitsAlone reports whether SESSION_POLICY refuses a second live session
// without force.
func (s *Service) AdmitsAlone() bool { return s.d.Policy.Admission == PolicySingleConfirm }

// UpdateClaims makes the member's live sessions describe m: their next
// refresh issues access tokens with m's role, email and name.
func (s *Service) UpdateClaims(ctx context.Context, m store.Member) error {
	if err := s.d.Store.UpdateSessionClaims(ctx, m.ID, ClaimsOf(m)); err != nil {
		return apierror.Unavailable("update session claims", err)
	}
	return nil
}

// Revoke implements RFC 7009: a refresh token of ours (any of its counters:
// the MAC proves we issued it) or an access token ends its session;
// anything else is ignored (the endpoint answers 200 either way, §2.2).
// token_type_hint is not needed: the two kinds cannot be mistaken for each
// other, so both are simply tried (§2.1).
func (s *Service) Revoke(ctx context.Context, tok string) error {
	if tok == "" {
		return apierror.InvalidRequest("token is required")
	}
	if rt, err := s.d.Codec.Parse(tok); err == nil {
		return s.End(ctx, rt.SessionID)
	}
	if s.d.Verify != nil {
		if _, sid, err := s.d.Verify(ctx, tok); err == nil {
			return s.End(ctx, sid)
		}
	}
	return nil
}
