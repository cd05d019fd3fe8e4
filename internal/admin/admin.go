// Package admin is what administrators do to members and sessions: list and
// search, change roles, disable, revoke, delete. Every action is recorded in
// the audit log before it returns.
package admin

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"time"

	"github.com/authbroker/authbroker/internal/apierror"
	"github.com/authbroker/authbroker/internal/session"
	"github.com/authbroker/authbroker/internal/store"
	"github.com/authbroker/authbroker/internal/vault"
	"github.com/authbroker/authbroker/providers"
)

// Actor is the admin performing an action.
type Actor struct {
	MemberID string
	IP       string
}

// Service runs admin actions.
type Service struct {
	Members   store.Members
	Audit     store.Audit
	Sessions  *session.Service
	Providers *providers.Registry
	// Vault keeps members' provider tokens: shown per identity (never a
	// value), revoked on request and when a member is deleted.
	Vault *vault.Service
	Now   func() time.Time
	// IsAdminEmail reports whether an address is in ADMIN_EMAILS (the
	// member service's rule); nil means none is.
	IsAdminEmail func(addr string) bool
}

// MemberDetail is one member with identities and live sessions.
type MemberDetail struct {
	Member     store.Member     `json:"member"`
	Identities []store.Identity `json:"identities"`
	Sessions   []store.Session  `json:"sessions"`
	// ProviderTokens are the provider grants the vault holds for the
	// member's identities: expiry, scopes, refresh token held, reconnect
	// needed; never a token.
	ProviderTokens []vault.Status `json:"provider_tokens"`
}

func notFound(what string) *apierror.Error {
	return &apierror.Error{Status: http.StatusNotFound, Code: apierror.CodeNotFound, Description: "no such " + what}
}

func badRequest(desc string) *apierror.Error {
	return &apierror.Error{Status: http.StatusBadRequest, Code: apierror.CodeInvalidRequest, Description: desc}
}

func storeErr(op string, err error) error {
	if errors.Is(err, store.ErrNotFound) {
		return notFound("member")
	}
	return &apierror.Error{Status: http.StatusServiceUnavailable, Code: apierror.CodeUnavailable, Description: "the service is temporarily unavailable", Err: fmt.Errorf("%s: %w", op, err)}
}

// List pages through members.
func (s *Service) List(ctx context.Context, q store.MemberQuery) (store.MemberPage, error) {
	if q.Limit <= 0 || q.Limit > 200 {
		q.Limit = 50
	}
	p, err := s.Members.ListMembers(ctx, q)
	if err != nil {
		return store.MemberPage{}, storeErr("list members", err)
	}
	return p, nil
}

// Get returns a member with identities and sessions.
func (s *Service) Get(ctx context.Context, id string) (MemberDetail, error) {
	m, err := s.Members.GetMember(ctx, id)
	if err != nil {
		return MemberDetail{}, storeErr("get member", err)
	}
	ids, err := s.Members.ListIdentities(ctx, id)
	if err != nil {
		return MemberDetail{}, storeErr("list identities", err)
	}
	ss, err := s.Sessions.Sessions(ctx, id)
	if err != nil {
		return MemberDetail{}, err
	}
	if ids == nil {
		ids = []store.Identity{}
	}
	if ss == nil {
		ss = []store.Session{}
	}
	pts := []vault.Status{}
	if s.Vault != nil {
		if pts, err = s.Vault.Statuses(ctx, id); err != nil {
			return MemberDetail{}, err
		}
	}
	return MemberDetail{Member: m, Identities: ids, Sessions: ss, ProviderTokens: pts}, nil
}

// record appends an audit entry; an action whose audit entry cannot be
// written is reported as failed (the log must not have holes).
func (s *Service) record(ctx context.Context, a Actor, action, target string, detail any) error {
	var raw json.RawMessage
	if detail != nil {
		b, err := json.Marshal(detail)
		if err != nil {
			return err
		}
		raw = b
	}
	if err := s.Audit.AppendAudit(ctx, store.AuditEntry{At: s.Now().UTC(), ActorID: a.MemberID, Action: action, TargetID: target, IP: a.IP, Detail: raw}); err != nil {
		return storeErr("append audit", err)
	}
	return nil
}

// SetRole changes a member's role. An admin cannot change their own role,
// so the last admin cannot lock everyone out by accident.
//
// ADMIN_EMAILS wins over a demotion: a member whose verified address (its
// own, or one a linked provider verified) is listed there would be promoted
// again at the next sign-in, so the demotion is refused with the reason
// instead of silently lasting until then. To take the role away, remove the
// address from ADMIN_EMAILS (and disable the member meanwhile if it is
// urgent: disabling ends every session at once).
func (s *Service) SetRole(ctx context.Context, a Actor, id, role string) (store.Member, error) {
	if role != store.RoleUser && role != store.RoleAdmin {
		return store.Member{}, badRequest("role must be user or admin")
	}
	if id == a.MemberID {
		return store.Member{}, badRequest("you cannot change your own role")
	}
	if role != store.RoleAdmin {
		listed, err := s.listedAdmin(ctx, id)
		if err != nil {
			return store.Member{}, err
		}
		if listed != "" {
			return store.Member{}, &apierror.Error{Status: http.StatusConflict, Code: apierror.CodeAdminByConfig,
				Description: "this member is an admin through ADMIN_EMAILS (" + listed + "); remove the address there to demote them, or disable the account"}
		}
	}
	var old string
	m, err := s.update(ctx, id, func(m *store.Member) { old, m.Role = m.Role, role })
	if err != nil {
		return store.Member{}, err
	}
	// Access tokens carry the role: a demoted admin's tokens must stop now,
	// not when they expire. A promotion reaches the member's sessions at
	// their next refresh.
	if old == store.RoleAdmin && role != store.RoleAdmin {
		err = s.Sessions.EndMember(ctx, id, "")
	} else {
		err = s.Sessions.UpdateClaims(ctx, m)
	}
	if err != nil {
		return store.Member{}, err
	}
	return m, s.record(ctx, a, "member.role", id, map[string]string{"from": old, "to": role})
}

// listedAdmin returns the member's verified address that ADMIN_EMAILS
// lists, or "" when none is: the addresses a sign-in would promote by.
func (s *Service) listedAdmin(ctx context.Context, id string) (string, error) {
	if s.IsAdminEmail == nil {
		return "", nil
	}
	m, err := s.Members.GetMember(ctx, id)
	if err != nil {
		return "", storeErr("get member", err)
	}
	if m.EmailVerified && s.IsAdminEmail(m.Email) {
		return m.Email, nil
	}
	ids, err := s.Members.ListIdentities(ctx, id)
	if err != nil {
		return "", storeErr("list identities", err)
	}
	for _, i := range ids {
		if i.EmailVerified && s.IsAdminEmail(i.Email) {
			return i.Email, nil
		}
	}
	return "", nil
}

// SetStatus disables or enables a member. Disabling ends every session at
// once (refresh fails, access tokens are denied on every replica).
func (s *Service) SetStatus(ctx context.Context, a Actor, id, status string) (store.Member, error) {
	if status != store.StatusActive && status != store.StatusDisabled {
		return store.Member{}, badRequest("status must be active or disabled")
	}
	if id == a.MemberID && status == store.StatusDisabled {
		return store.Member{}, badRequest("you cannot disable yourself")
	}
	m, err := s.update(ctx, id, func(m *store.Member) { m.Status = status })
	if err != nil {
		return store.Member{}, err
	}
	if status == store.StatusDisabled {
		if err := s.Sessions.EndMember(ctx, id, ""); err != nil {
			return store.Member{}, err
		}
	}
	action := "member.enable"
	if status == store.StatusDisabled {
		action = "member.disable"
	}
	return m, s.record(ctx, a, action, id, nil)
}

// update applies change to the stored member in one read-modify-write of
// the store (store.Members.UpdateMember), so a login writing the profile
// at the same moment and this change never undo each other.
func (s *Service) update(ctx context.Context, id string, change func(*store.Member)) (store.Member, error) {
	m, err := s.Members.UpdateMember(ctx, id, func(cur store.Member) (store.Member, error) {
		change(&cur)
		cur.UpdatedAt = s.Now().UTC()
		return cur, nil
	})
	if err != nil {
		return store.Member{}, storeErr("update member", err)
	}
	return m, nil
}

// RevokeSessions ends every session of a member.
func (s *Service) RevokeSessions(ctx context.Context, a Actor, id string) error {
	if _, err := s.Members.GetMember(ctx, id); err != nil {
		return storeErr("get member", err)
	}
	if err := s.Sessions.EndMember(ctx, id, ""); err != nil {
		return err
	}
	return s.record(ctx, a, "member.revoke_sessions", id, nil)
}

// EndSession ends one session of any member.
func (s *Service) EndSession(ctx context.Context, a Actor, sid string) error {
	if err := s.Sessions.EndOwned(ctx, "", sid); err != nil {
		return err
	}
	return s.record(ctx, a, "session.revoke", sid, nil)
}

// Delete removes a member, its identities and its sessions.
func (s *Service) Delete(ctx context.Context, a Actor, id string) error {
	if id == a.MemberID {
		return badRequest("you cannot delete yourself")
	}
	if _, err := s.Members.GetMember(ctx, id); err != nil {
		return storeErr("get member", err)
	}
	if err := s.Sessions.EndMember(ctx, id, ""); err != nil {
		return err
	}
	remove := func() error {
		if err := s.Members.DeleteMember(ctx, id); err != nil {
			return storeErr("delete member", err)
		}
		return nil
	}
	if s.Vault != nil {
		// The member's provider grants are revoked at each provider once
		// the member is gone (each with its own audit entry).
		if err := s.Vault.Removing(ctx, vault.Actor(a), id, "", "", remove); err != nil {
			return err
		}
	} else if err := remove(); err != nil {
		return err
	}
	return s.record(ctx, a, "member.delete", id, nil)
}

// RevokeProviderToken revokes the member's grant at provider for subject
// (at the provider, best effort) and forgets it; the member signs in there
// again for a new one.
func (s *Service) RevokeProviderToken(ctx context.Context, a Actor, memberID, provider, subject string) error {
	if s.Vault == nil {
		return notFound("provider token")
	}
	return s.Vault.Revoke(ctx, vault.Actor(a), memberID, provider, subject)
}

// AuditLog lists audit entries newest first.
func (s *Service) AuditLog(ctx context.Context, before int64, limit int) ([]store.AuditEntry, error) {
	if limit <= 0 || limit > 200 {
		limit = 50
	}
	out, err := s.Audit.ListAudit(ctx, before, limit)
	if err != nil {
		return nil, storeErr("list audit", err)
	}
	if out == nil {
		out = []store.AuditEntry{}
	}
	return out, nil
}
