// Package store defines the storage contracts of authbroker: durable members
// and identities (SQL), and the short-lived records of a login (state,
// one-time codes, sessions with refresh rotation, the access-token denylist).
//
// Every interface here has one conformance suite in store/storetest that
// each backend (SQLite, PostgreSQL, Redis) runs against itself: a backend is
// correct when it passes the suite, so no backend-specific behaviour leaks
// into the services above. Atomicity promises are written on the methods.
//
// Keys and secrets: services hash one-time values (state ids, codes,
// refresh tokens) before they reach a store, so a read of the database or
// of Redis never yields a value that can be presented back to the broker.
package store

import (
	"context"
	"encoding/json"
	"errors"
	"time"
)

// Sentinel errors. Backends wrap them with context; callers use errors.Is.
var (
	// ErrNotFound: the record does not exist, has expired, or was already taken.
	ErrNotFound = errors.New("not found")
	// ErrConflict: a uniqueness rule would be broken (identity already linked,
	// last identity of a member).
	ErrConflict = errors.New("conflict")
	// ErrReused: a refresh token was presented after it had been rotated and
	// outside the grace period. The backend has already revoked the session.
	ErrReused = errors.New("refresh token reused")
)

// Member roles and statuses.
const (
	RoleUser       = "user"
	RoleAdmin      = "admin"
	StatusActive   = "active"
	StatusDisabled = "disabled"
)

// Member is a person known to the application, independent of how they signed in.
type Member struct {
	ID            string    `json:"id"`
	Email         string    `json:"email,omitempty"`
	EmailVerified bool      `json:"email_verified"`
	Name          string    `json:"name,omitempty"`
	AvatarURL     string    `json:"avatar,omitempty"`
	Role          string    `json:"role"`
	Status        string    `json:"status"`
	CreatedAt     time.Time `json:"created_at"`
	UpdatedAt     time.Time `json:"updated_at"`
	LastLoginAt   time.Time `json:"last_login_at,omitzero"`
}

// Identity links a provider account (provider, subject) to a member.
// Email, name, avatar and Raw are the provider's latest answer, refreshed on
// every login.
type Identity struct {
	Provider      string          `json:"provider"`
	Subject       string          `json:"subject"`
	MemberID      string          `json:"member_id"`
	Email         string          `json:"email,omitempty"`
	EmailVerified bool            `json:"email_verified"`
	Name          string          `json:"name,omitempty"`
	AvatarURL     string          `json:"avatar,omitempty"`
	Raw           json.RawMessage `json:"-"`
	CreatedAt     time.Time       `json:"created_at"`
	UpdatedAt     time.Time       `json:"updated_at"`
}

// MemberQuery selects a page of members for the admin API.
// Search matches email (substring under email.Key: ASCII case folded only)
// or name (case-insensitive substring); Provider keeps
// members with an identity at that provider. Cursor is the opaque NextCursor
// of the previous page; members are ordered by creation, newest first.
type MemberQuery struct {
	Search   string
	Provider string
	Cursor   string
	Limit    int
}

// MemberPage is one page of members; NextCursor is empty on the last page.
type MemberPage struct {
	Members    []Member
	NextCursor string
}

// Members is the durable member and identity store (SQL only).
type Members interface {
	// GetMember returns ErrNotFound for an unknown id.
	GetMember(ctx context.Context, id string) (Member, error)
	// FindIdentity returns ErrNotFound when (provider, subject) is not linked.
	FindIdentity(ctx context.Context, provider, subject string) (Identity, error)
	// FindMemberByVerifiedEmail returns the oldest member whose verified
	// email has the same email.Key as email (ASCII case folded, nothing
	// else: see package email), or ErrNotFound.
	FindMemberByVerifiedEmail(ctx context.Context, email string) (Member, error)
	// CreateMember inserts m and its first identity in one transaction. If
	// the identity is already linked it returns ErrConflict and inserts
	// nothing: of many concurrent first logins of one identity exactly one
	// creates a member.
	CreateMember(ctx context.Context, m Member, first Identity) error
	// LinkIdentity adds an identity to an existing member; ErrConflict when
	// (provider, subject) is already linked, ErrNotFound for an unknown member.
	LinkIdentity(ctx context.Context, id Identity) error
	// UpdateIdentity stores the provider's latest profile fields for an
	// existing identity (email, verified, name, avatar, raw, updated_at).
	UpdateIdentity(ctx context.Context, id Identity) error
	// UpdateMember stores every mutable field of m (email, email_verified,
	// name, avatar, role, status, updated_at, last_login_at) only if the
	// stored row's updated_at still equals prev, the value read before the
	// change (optimistic concurrency: a login refreshing the profile and an
	// admin disabling the member never silently overwrite each other).
	// ErrConflict when the row changed since it was read; ErrNotFound when
	// it is gone. m.UpdatedAt is the new value and must differ from prev.
	UpdateMember(ctx context.Context, m Member, prev time.Time) error
	// ListIdentities returns a member's identities, oldest first.
	ListIdentities(ctx context.Context, memberID string) ([]Identity, error)
	// DeleteIdentity unlinks one identity. It returns ErrConflict when it is
	// the member's last identity (a member must keep a way to sign in) and
	// ErrNotFound when it is not linked to that member.
	DeleteIdentity(ctx context.Context, memberID, provider, subject string) error
	// ListMembers pages through members (see MemberQuery).
	ListMembers(ctx context.Context, q MemberQuery) (MemberPage, error)
	// DeleteMember removes a member and its identities; ErrNotFound if absent.
	DeleteMember(ctx context.Context, id string) error
	// Ping reports whether the database answers (readiness).
	Ping(ctx context.Context) error
}

// AuditEntry records one administrative action.
type AuditEntry struct {
	ID       int64           `json:"id"`
	At       time.Time       `json:"at"`
	ActorID  string          `json:"actor_id"`
	Action   string          `json:"action"`
	TargetID string          `json:"target_id,omitempty"`
	IP       string          `json:"ip,omitempty"`
	Detail   json.RawMessage `json:"detail,omitempty"`
}

// Audit is the append-only admin audit log (SQL only).
type Audit interface {
	AppendAudit(ctx context.Context, e AuditEntry) error
	// ListAudit returns entries newest first, at most limit, with id < before
	// when before > 0.
	ListAudit(ctx context.Context, before int64, limit int) ([]AuditEntry, error)
}

// LoginState is what the broker remembers between sending a browser to a
// provider and the provider sending it back.
type LoginState struct {
	Provider string `json:"p"`
	// Binding is the SHA-256 (hex) of the random value in the browser's
	// state-binding cookie: the callback must come from the same browser.
	Binding      string `json:"b"`
	PKCEVerifier string `json:"v,omitempty"`
	Nonce        string `json:"n,omitempty"`
	ReturnTo     string `json:"r,omitempty"`
	// CodeChallenge is the SPA's own PKCE S256 challenge for the one-time code.
	CodeChallenge string `json:"cc,omitempty"`
	Force         bool   `json:"f,omitempty"`
	// LinkMemberID is set when a signed-in member is linking another provider.
	LinkMemberID string    `json:"l,omitempty"`
	CreatedAt    time.Time `json:"t"`
}

// States holds login states. ids are hashed by the caller.
type States interface {
	// PutState stores s under id until ttl elapses.
	PutState(ctx context.Context, id string, s LoginState, ttl time.Duration) error
	// TakeState returns and deletes the state in one atomic step: of any
	// number of concurrent calls for one id exactly one succeeds; the others,
	// and calls after expiry, get ErrNotFound.
	TakeState(ctx context.Context, id string) (LoginState, error)
}

// Code is what a one-time authorization code stands for: a finished login
// whose session is created when the code is redeemed.
type Code struct {
	MemberID      string `json:"m"`
	Provider      string `json:"p"`
	CodeChallenge string `json:"cc,omitempty"`
	UserAgent     string `json:"ua,omitempty"`
	IP            string `json:"ip,omitempty"`
	// RevokeOthers asks the redeemer to end the member's other sessions
	// (SESSION_POLICY single, or single_confirm with force).
	RevokeOthers bool `json:"ro,omitempty"`
	// Profile is the provider profile (JSON) of a finished link flow,
	// waiting for the member to confirm it (see auth.Service.CompleteLink).
	Profile   json.RawMessage `json:"pf,omitempty"`
	CreatedAt time.Time       `json:"t"`
}

// Codes holds one-time codes. ids are hashed by the caller.
type Codes interface {
	// PutCode stores c under id until ttl elapses.
	PutCode(ctx context.Context, id string, c Code, ttl time.Duration) error
	// TakeCode returns and deletes the code atomically; exactly one of many
	// concurrent calls succeeds, the rest get ErrNotFound.
	TakeCode(ctx context.Context, id string) (Code, error)
}

// Session is one device login of a member.
type Session struct {
	ID         string    `json:"id"`
	MemberID   string    `json:"member_id"`
	Provider   string    `json:"provider"`
	UserAgent  string    `json:"user_agent,omitempty"`
	IP         string    `json:"ip,omitempty"`
	CreatedAt  time.Time `json:"created_at"`
	LastUsedAt time.Time `json:"last_used_at"`
	ExpiresAt  time.Time `json:"expires_at"`
}

// MinHashLen is the shortest refresh-token hash a Sessions backend accepts
// (services pass SHA-256, 32 bytes). Backends remember an 8-byte prefix of
// every retired hash; a shorter hash would misalign that history.
const MinHashLen = 8

// Rotation asks a Sessions backend to rotate a session's refresh token.
//
// The refresh token itself never reaches the store: Presented and Next are
// SHA-256 hashes, and Sealed is the new token encrypted under a key derived
// from the presented one, so only a holder of the previous token can read it
// back during the grace period.
type Rotation struct {
	SessionID string
	Presented []byte
	Next      []byte
	Sealed    []byte
	Now       time.Time
	// Grace is how long after a rotation the previous token still yields the
	// same new token (concurrent tabs, a lost response).
	Grace time.Duration
	IP    string
}

// Rotated is the outcome of a successful Rotation.
type Rotated struct {
	Session Session
	// Graced is true when Presented was the previous token, used again within
	// the grace period; Sealed is then the stored sealed new token and
	// Next was not stored.
	Graced bool
	Sealed []byte
}

// Sessions stores sessions and their refresh-token state.
type Sessions interface {
	// CreateSession stores s with the hash of its first refresh token; the
	// session expires at s.ExpiresAt. Times are stored as given (the caller
	// sets them). An id already in use is ErrConflict and leaves the
	// existing session untouched; a hash shorter than MinHashLen is refused
	// with a plain error.
	CreateSession(ctx context.Context, s Session, refreshHash []byte) error
	// RotateRefresh is the whole refresh decision in one atomic step (one
	// round trip on Redis):
	//   - Presented is current: Next becomes current, Presented previous,
	//     Sealed is kept for graced callers, last-used time and IP are updated.
	//   - Presented is previous and Now is within Grace of the last rotation:
	//     Graced result carrying the stored Sealed value; nothing changes.
	//   - Presented is previous after Grace, or any older retired token of
	//     the session: the session is deleted, ErrReused (RFC 9700 §4.14.2:
	//     a replayed refresh token means it was stolen). Backends remember at
	//     least the last 1024 retired hashes per session (a truncated 8-byte
	//     prefix of each is enough: matching one needs a 64-bit preimage).
	//   - unknown or expired session, or a hash matching none: ErrNotFound,
	//     the session is untouched (garbage must not let anyone who knows a
	//     session id end it).
	// Of many concurrent calls with the current token exactly one rotates;
	// the others are graced. Now is required: expiry and grace are judged by
	// it, never by the backend's clock. A Next shorter than MinHashLen is
	// refused with a plain error and nothing changes.
	RotateRefresh(ctx context.Context, r Rotation) (Rotated, error)
	// GetSession returns a live session or ErrNotFound.
	GetSession(ctx context.Context, id string) (Session, error)
	// ListSessions returns a member's live sessions, newest first.
	ListSessions(ctx context.Context, memberID string) ([]Session, error)
	// RevokeSession deletes a session and returns it; ErrNotFound if absent.
	RevokeSession(ctx context.Context, id string) (Session, error)
	// RevokeMemberSessions deletes every session of a member except keep
	// (may be empty) and returns the deleted ones.
	RevokeMemberSessions(ctx context.Context, memberID, keep string) ([]Session, error)
}

// Denied is one entry of the access-token denylist: every access token of
// session SessionID is refused until Until (the latest exp such a token can have).
type Denied struct {
	SessionID string    `json:"sid"`
	Until     time.Time `json:"until"`
}

// Denylist is the shared list of revoked sessions whose access tokens may
// still be unexpired. Replicas keep an in-process copy (see token.DenyCache).
type Denylist interface {
	// Deny adds or extends an entry.
	Deny(ctx context.Context, d Denied) error
	// LiveDenied returns every entry with Until after now.
	LiveDenied(ctx context.Context, now time.Time) ([]Denied, error)
}

// DenyWatcher is implemented by denylist backends that can push new entries
// to every replica as they happen (Redis pub/sub). The channel closes when
// ctx ends or the subscription breaks; callers resync with LiveDenied.
type DenyWatcher interface {
	WatchDenied(ctx context.Context) (<-chan Denied, error)
}

// Pinger is implemented by backends that can report readiness.
type Pinger interface {
	Ping(ctx context.Context) error
}
