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
	// ErrReused: a refresh token older than the previous one was presented
	// outside the grace period (see Refresh). The backend has already
	// deleted the session.
	ErrReused = errors.New("refresh token reused")
	// ErrSignedIn: AdmitIfAlone found another live session of the member.
	ErrSignedIn = errors.New("member has another live session")
	// ErrRateLimited: the session used up its refreshes (see LimitError).
	ErrRateLimited = errors.New("refresh limit reached")
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
	// UpdateMember is read-modify-write of one member: it reads member id,
	// calls change with it and stores what change returns (every mutable
	// field: email, email_verified, name, avatar, role, status,
	// last_login_at), with no other write to that member in between, so a
	// login refreshing the profile and an admin disabling the member never
	// undo each other. The backend keeps the concurrency (a row lock, or
	// an optimistic retry that calls change again on a fresh read): callers
	// write no retry loop. change must be quick and touch nothing outside
	// the member it is given; its error aborts with nothing written and is
	// returned as is. A change that returns the member unchanged (apart from
	// updated_at) writes nothing. Otherwise updated_at becomes the value
	// change set when that is later than the stored one (the caller's clock,
	// stored as given), else just after the stored one (zero: the backend's
	// clock): it never stands still or goes back. It returns the member as
	// stored; ErrNotFound when there is no such member. id and created_at
	// cannot change.
	UpdateMember(ctx context.Context, id string, change func(old Member) (Member, error)) (Member, error)
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
	LinkMemberID string `json:"l,omitempty"`
	// Reauth is the subject of an identity whose provider grant is being
	// renewed (token vault): the callback keeps the new grant and starts no
	// session.
	Reauth string `json:"ra,omitempty"`
	// ProviderVersion is the version of the provider's configuration the
	// login started with: the callback finishes with the same one.
	ProviderVersion int64     `json:"pv,omitempty"`
	CreatedAt       time.Time `json:"t"`
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
	RevokeOthers bool      `json:"ro,omitempty"`
	CreatedAt    time.Time `json:"t"`
}

// LinkCode lets a signed-in member start a link flow: the one-time URL of
// POST /auth/link/{provider} carries it.
type LinkCode struct {
	MemberID  string    `json:"m"`
	Provider  string    `json:"p"`
	CreatedAt time.Time `json:"t"`
}

// PendingLink is the provider account a finished link flow parked until the
// member who started it confirms (POST /auth/link/complete).
type PendingLink struct {
	MemberID string `json:"m"`
	Provider string `json:"p"`
	// Profile is the provider profile (JSON).
	Profile json.RawMessage `json:"pf"`
	// Grant is the flow's provider grant, sealed by the token vault (never
	// in clear: this store is not encrypted).
	Grant     []byte    `json:"g,omitempty"`
	CreatedAt time.Time `json:"t"`
}

// Codes holds the one-time records of logins and links, each kind in its
// own key space: a link code can never be redeemed as a login code, nor a
// pending link taken as either. ids are hashed by the caller. Every take
// returns and deletes atomically: of many concurrent calls for one id
// exactly one succeeds, the rest (and calls after the TTL) get ErrNotFound.
type Codes interface {
	PutCode(ctx context.Context, id string, c Code, ttl time.Duration) error
	TakeCode(ctx context.Context, id string) (Code, error)
	PutLinkCode(ctx context.Context, id string, c LinkCode, ttl time.Duration) error
	TakeLinkCode(ctx context.Context, id string) (LinkCode, error)
	PutPendingLink(ctx context.Context, id string, p PendingLink, ttl time.Duration) error
	TakePendingLink(ctx context.Context, id string) (PendingLink, error)
}

// Session is one device login of a member. Besides the device, it carries
// what its access tokens say about the member (Claims), so that a refresh
// needs no member read: services keep Claims current with
// UpdateSessionClaims when an admin or a sign-in changes the member.
type Session struct {
	ID         string    `json:"id"`
	MemberID   string    `json:"member_id"`
	Provider   string    `json:"provider"`
	UserAgent  string    `json:"user_agent,omitempty"`
	IP         string    `json:"ip,omitempty"`
	CreatedAt  time.Time `json:"created_at"`
	LastUsedAt time.Time `json:"last_used_at"`
	ExpiresAt  time.Time `json:"expires_at"`
	Claims     Claims    `json:"-"`
}

// Claims is the member as a session's access tokens describe it.
type Claims struct {
	Role          string
	Email         string
	EmailVerified bool
	Name          string
}

// Admission says how a new session relates to the member's other live
// sessions (SESSION_POLICY). It is decided where the session is created,
// atomically with the creation, so two logins racing each other cannot both
// slip past single_confirm.
type Admission int

const (
	// AdmitAlongside keeps the member's other sessions (multiple).
	AdmitAlongside Admission = iota
	// AdmitAlone ends the member's other sessions (single, or
	// single_confirm with force).
	AdmitAlone
	// AdmitIfAlone refuses with ErrSignedIn while the member has another
	// live session (single_confirm).
	AdmitIfAlone
)

// Refresh asks a Sessions backend to decide on a refresh token already
// authenticated by the caller: session SessionID, counter Counter.
//
// A session's refresh tokens are numbered: the first is counter 0 and each
// rotation issues the next. The backend keeps the current counter c, the
// time of the last rotation and a floor counter, nothing per rotation:
//   - Counter >= c: rotate. c becomes Counter+1 (Counter > c only when the
//     store lost rotations, e.g. a Redis fail-over: the caller's token
//     proves they happened).
//   - Counter == c-1: the previous token, presented again because its
//     answer was lost or a tab raced another: replay, c is handed out again,
//     for as long as c has not been used.
//   - Counter < c-1 within Grace of the last rotation, and not below the
//     floor (the counter that was current when the latest burst of
//     rotations began): concurrent use, replay as above.
//   - Any other older counter: reuse (RFC 9700 §4.14.2). The session is
//     deleted and ErrReused returned; the caller denies its access tokens.
//
// Replays and rotations both count against Limit per Window; past it the
// backend changes nothing and returns an error matching ErrRateLimited
// (a *LimitError with the wait). Reuse is detected before the limit.
type Refresh struct {
	SessionID string
	Counter   uint64
	// Now decides expiry, grace and the limit window; never the backend's clock.
	Now   time.Time
	Grace time.Duration
	// IP is the client address to record; empty keeps the stored one.
	IP string
	// Limit is the most refreshes per Window; 0 means no limit.
	Limit  int
	Window time.Duration
}

// Refreshed is the outcome of an accepted Refresh.
type Refreshed struct {
	// Session is the session as it now stands (UserAgent and CreatedAt may
	// be left empty by backends that keep them apart from the refresh state).
	Session Session
	// Counter is the current counter: the refresh token to hand out.
	Counter uint64
	// Rotated is false for a replay.
	Rotated bool
}

// LimitError is returned when a session has used up its refreshes.
type LimitError struct{ RetryAfter time.Duration }

func (e *LimitError) Error() string { return "refresh limit reached" }

// Is makes errors.Is(err, ErrRateLimited) match.
func (e *LimitError) Is(target error) bool { return target == ErrRateLimited }

// Sessions stores sessions and their refresh-token counters.
type Sessions interface {
	// CreateSession stores s with refresh counter 0; the session expires at
	// s.ExpiresAt, times are stored as given. Admission is applied
	// atomically with the creation: AdmitAlone deletes and returns the
	// member's other sessions, AdmitIfAlone refuses with ErrSignedIn (and
	// stores nothing) while another is live. An id already in use is
	// ErrConflict and changes nothing.
	CreateSession(ctx context.Context, s Session, a Admission) (ended []Session, err error)
	// Refresh is the whole refresh decision in one atomic step (one round
	// trip on Redis); see Refresh for the rules. An unknown or expired
	// session is ErrNotFound. Of many concurrent calls with the current
	// counter exactly one rotates; the others replay the same new counter.
	Refresh(ctx context.Context, r Refresh) (Refreshed, error)
	// GetSession returns a live session or ErrNotFound.
	GetSession(ctx context.Context, id string) (Session, error)
	// ListSessions returns a member's live sessions, newest first.
	ListSessions(ctx context.Context, memberID string) ([]Session, error)
	// RevokeSession deletes a session and returns it; ErrNotFound if absent.
	RevokeSession(ctx context.Context, id string) (Session, error)
	// RevokeMemberSessions deletes every session of a member except keep
	// (may be empty) and returns the deleted ones.
	RevokeMemberSessions(ctx context.Context, memberID, keep string) ([]Session, error)
	// UpdateSessionClaims sets the claims of every live session of a member.
	UpdateSessionClaims(ctx context.Context, memberID string, c Claims) error
}

// SessionIndex is a durable list of sessions by member, kept in SQL for a
// Sessions backend whose own records cannot be listed by member cheaply:
// on Redis a per-member index key would cost more memory than the session
// it lists. The index holds what never changes after a login (member,
// provider, device, creation and expiry); the backend keeps the rest.
type SessionIndex interface {
	// AdmitIndexed indexes s with the member's admissions serialised:
	// holding a lock on s.MemberID it calls decide with the member's indexed
	// unexpired sessions, newest first; decide returns the ids to drop from
	// the index, or an error that aborts with nothing changed. Then s is
	// indexed and publish runs (it writes the backend's own record); the
	// index changes are kept only if publish succeeds. ErrConflict when
	// s.ID is indexed already.
	AdmitIndexed(ctx context.Context, s Session, decide func(ctx context.Context, indexed []Session) (drop []string, err error), publish func(ctx context.Context) error) error
	// IndexedSessions returns a member's indexed unexpired sessions, newest first.
	IndexedSessions(ctx context.Context, memberID string) ([]Session, error)
	// IndexedSession returns one indexed unexpired session or ErrNotFound.
	IndexedSession(ctx context.Context, id string) (Session, error)
	// Unindex removes sessions from the index; unknown ids are ignored.
	Unindex(ctx context.Context, ids ...string) error
}

// Denied is one entry of the access-token denylist: every access token of
// session SessionID is refused until Until (the latest exp such a token can have).
type Denied struct {
	SessionID string    `json:"sid"`
	Until     time.Time `json:"until"`
}

// Denylist is the shared list of revoked sessions whose access tokens may
// still be unexpired. Replicas keep an in-process copy (see session.DenyCache).
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

// RefreshState is what a Sessions backend keeps for the refresh decision
// of one session: a few numbers, whatever the number of rotations.
type RefreshState struct {
	// Counter is the current refresh counter; Floor the counter that was
	// current when the latest burst of rotations (each within Grace of the
	// one before) began.
	Counter, Floor uint64
	RotatedAt      time.Time
	ExpiresAt      time.Time
	// WindowStart and WindowCount count the refreshes of the current
	// rate-limit window.
	WindowStart time.Time
	WindowCount int
}

// Outcome is the decision Refresh.Decide takes.
type Outcome int

// Outcomes of a refresh decision.
const (
	OutcomeExpired  Outcome = iota // the session has expired: ErrNotFound
	OutcomeRotated                 // a new counter is current
	OutcomeReplayed                // the current counter is handed out again
	OutcomeReused                  // theft: delete the session, ErrReused
	OutcomeLimited                 // over Limit: nothing changes
)

// Decide applies the rules of Refresh to the stored state st. It returns the
// outcome, the state to store (for OutcomeRotated and OutcomeReplayed) and,
// for OutcomeLimited, how long until the window ends. It is the reference
// the backends implement: SQL calls it inside a transaction, Redis runs the
// same rules in a script (redisstore/refresh.lua), and the conformance
// suite holds both to it.
func (r Refresh) Decide(st RefreshState) (Outcome, RefreshState, time.Duration) {
	if !r.Now.Before(st.ExpiresAt) {
		return OutcomeExpired, st, 0
	}
	outcome := OutcomeRotated
	switch n, c := r.Counter, st.Counter; {
	case n >= c:
	case n+1 == c:
		outcome = OutcomeReplayed
	case n >= st.Floor && r.Now.Sub(st.RotatedAt) <= r.Grace:
		outcome = OutcomeReplayed
	default:
		return OutcomeReused, st, 0
	}
	next := st
	if r.Limit > 0 && r.Window > 0 {
		if r.Now.Sub(next.WindowStart) >= r.Window || r.Now.Before(next.WindowStart) {
			next.WindowStart, next.WindowCount = r.Now, 0
		}
		if next.WindowCount >= r.Limit {
			return OutcomeLimited, st, next.WindowStart.Add(r.Window).Sub(r.Now)
		}
		next.WindowCount++
	}
	if outcome == OutcomeRotated {
		switch {
		case r.Counter > st.Counter:
			// The store lost rotations the token proves: start afresh at it.
			next.Floor = r.Counter
		case r.Now.Sub(st.RotatedAt) > r.Grace:
			next.Floor = st.Counter
		}
		next.Counter = r.Counter + 1
		next.RotatedAt = r.Now
	}
	return outcome, next, 0
}

// Meta holds the broker's own small facts durably (SQL), such as the
// marker of the Redis data it last saw.
type Meta interface {
	// GetMeta returns the value under key or ErrNotFound.
	GetMeta(ctx context.Context, key string) (string, error)
	// PutMeta sets key to value.
	PutMeta(ctx context.Context, key, value string) error
}

// Replicas counts the broker's live replicas, so that a limit each replica
// enforces in-process can be its share of a global figure.
type Replicas interface {
	// Heartbeat records replica id as seen at now, forgets replicas not
	// seen within ttl, and returns how many are left (this one included).
	Heartbeat(ctx context.Context, id string, now time.Time, ttl time.Duration) (int, error)
}

// DataMarker is implemented by a store that can lose its data without an
// error (Redis without persistence restarted, a fail-over to an empty
// replica): it keeps a marker, and a marker that changed means the data
// before it is gone.
type DataMarker interface {
	// DataMarker returns the store's marker, writing fresh as the marker
	// first when there is none (created is then true).
	DataMarker(ctx context.Context, fresh string) (marker string, created bool, err error)
}

// ProviderConfig is a provider an admin configured (admin page or API).
// Providers configured by environment variables are not stored.
type ProviderConfig struct {
	// Name is the provider's path segment, /auth/{Name}.
	Name        string
	Type        string
	DisplayName string
	Order       int
	Enabled     bool
	ClientID    string
	// ClientSecret is sealed (secrets.Keyring.Seal, the provider's name as
	// associated data): the store never holds it in clear. Empty: none.
	ClientSecret []byte
	// Settings are the other settings (issuer, endpoints, scopes, app id)
	// as JSON, as the admin API takes them.
	Settings json.RawMessage
	// Version is the providers' generation at this configuration's last
	// change (see ProviderConfigs): unique across every change of every
	// provider, so a login started with one version finishes with it.
	Version   int64
	UpdatedAt time.Time
	UpdatedBy string
}

// ProviderConfigs stores admin-configured providers (SQL only). Every
// change bumps one generation counter, which replicas poll or hear about
// to reload.
type ProviderConfigs interface {
	// ListProviderConfigs returns every stored provider, by name.
	ListProviderConfigs(ctx context.Context) ([]ProviderConfig, error)
	// GetProviderConfig returns one, or ErrNotFound.
	GetProviderConfig(ctx context.Context, name string) (ProviderConfig, error)
	// PutProviderConfig creates c (prevVersion 0; ErrConflict when the name
	// exists) or replaces the stored one whose Version is prevVersion
	// (ErrConflict when it changed since it was read, ErrNotFound when it is
	// gone). The stored Version is the new generation; it is returned.
	PutProviderConfig(ctx context.Context, c ProviderConfig, prevVersion int64) (ProviderConfig, error)
	// DeleteProviderConfig deletes one (ErrNotFound when absent) and bumps
	// the generation.
	DeleteProviderConfig(ctx context.Context, name string) error
	// ProviderGeneration is the generation: it changes with every put and
	// delete (0 before the first).
	ProviderGeneration(ctx context.Context) (int64, error)
}

// Changes tells every replica that something stored elsewhere changed (Redis
// pub/sub): a hint to reload now, never the data itself, so a lost message
// only waits for the next periodic resync.
type Changes interface {
	// Announce tells the watchers of topic, on every replica.
	Announce(ctx context.Context, topic string) error
	// Watch delivers a value for every announcement of topic after it
	// returns. The channel closes when ctx ends or the subscription breaks;
	// callers then resync and watch again.
	Watch(ctx context.Context, topic string) (<-chan struct{}, error)
}

// ProviderToken is a member's grant at a provider, held by the token vault
// (internal/vault) for providers configured with STORE_TOKENS: one per
// linked identity.
type ProviderToken struct {
	Provider string
	Subject  string
	MemberID string
	// Sealed is the access and refresh tokens, sealed by the vault
	// (AES-256-GCM under SECRETS_KEY_FILE, the identity as associated
	// data): the store never holds them in clear.
	Sealed []byte
	// HasRefresh reports whether the sealed grant has a refresh token.
	HasRefresh bool
	// Expiry is when the access token expires; zero: it does not.
	Expiry time.Time
	Scopes []string
	// ReauthNeeded is set when the provider said the grant is gone: the
	// member must sign in there again before a token can be handed out.
	ReauthNeeded bool
	// Version grows with every write; a renewal is compare-and-set on it.
	Version int64
	// LeaseUntil is set while a replica renews the grant: the others wait
	// for its result instead of renewing too (single flight across
	// replicas). A lease past its time is void (the holder died).
	LeaseUntil time.Time
	UpdatedAt  time.Time
}

// ProviderTokens is the token vault's storage (SQL only). Records go with
// their identity: unlinking it or deleting the member deletes them.
type ProviderTokens interface {
	// PutProviderToken stores t as the identity's grant, replacing any
	// (a sign-in's fresh grant), with the version moved on and no lease.
	// ErrNotFound when (t.Provider, t.Subject) is not linked to t.MemberID.
	PutProviderToken(ctx context.Context, t ProviderToken) (ProviderToken, error)
	// GetProviderToken returns the identity's grant, or ErrNotFound.
	GetProviderToken(ctx context.Context, provider, subject string) (ProviderToken, error)
	// ListProviderTokens returns a member's grants, by provider and subject.
	ListProviderTokens(ctx context.Context, memberID string) ([]ProviderToken, error)
	// PageProviderTokens returns up to limit grants of every member after
	// (afterProvider, afterSubject), in (provider, subject) order: a walk
	// over all of them (re-sealing under a new secrets key).
	PageProviderTokens(ctx context.Context, afterProvider, afterSubject string, limit int) ([]ProviderToken, error)
	// LeaseProviderToken takes the renewal lease until until when the
	// record is still at version and no lease is live at now; false when
	// another replica holds it or the record moved on (read it again).
	LeaseProviderToken(ctx context.Context, provider, subject string, version int64, now, until time.Time) (bool, error)
	// UpdateProviderToken replaces the record that is at prevVersion (a
	// renewal's result, or the reconnect mark) and drops the lease;
	// ErrConflict when it moved on, ErrNotFound when it is gone.
	UpdateProviderToken(ctx context.Context, t ProviderToken, prevVersion int64) (ProviderToken, error)
	// ReleaseProviderToken drops the lease of the record at version (a
	// renewal that failed and changed nothing).
	ReleaseProviderToken(ctx context.Context, provider, subject string, version int64) error
	// DeleteProviderToken forgets the identity's grant; ErrNotFound if none.
	DeleteProviderToken(ctx context.Context, provider, subject string) error
}
