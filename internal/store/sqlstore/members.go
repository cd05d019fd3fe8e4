package sqlstore

import (
	"context"
	"database/sql"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/authbroker/authbroker/internal/email"
	"github.com/authbroker/authbroker/internal/store"
)

// Paging bounds of ListMembers.
const (
	defaultMemberPage = 50
	maxMemberPage     = 500
)

const memberCols = `id, email, email_verified, name, avatar_url, role, status, created_at, updated_at, last_login_at`

const identityCols = `provider, subject, member_id, email, email_verified, name, avatar_url, raw, created_at, updated_at`

// rowScanner is *sql.Row or *sql.Rows.
type rowScanner interface{ Scan(dest ...any) error }

func scanMember(r rowScanner) (store.Member, error) {
	var m store.Member
	err := r.Scan(&m.ID, &m.Email, &m.EmailVerified, &m.Name, &m.AvatarURL, &m.Role, &m.Status,
		scanTime(&m.CreatedAt), scanTime(&m.UpdatedAt), scanTime(&m.LastLoginAt))
	return m, err
}

func scanIdentity(r rowScanner) (store.Identity, error) {
	var (
		id  store.Identity
		raw []byte
	)
	err := r.Scan(&id.Provider, &id.Subject, &id.MemberID, &id.Email, &id.EmailVerified, &id.Name, &id.AvatarURL,
		&raw, scanTime(&id.CreatedAt), scanTime(&id.UpdatedAt))
	if len(raw) > 0 {
		id.Raw = raw
	}
	return id, err
}

// GetMember returns ErrNotFound for an unknown id.
func (s *Store) GetMember(ctx context.Context, id string) (store.Member, error) {
	row := s.read.QueryRowContext(ctx, s.q(`SELECT `+memberCols+` FROM members WHERE id = ?`), id)
	m, err := scanMember(row)
	if errors.Is(err, sql.ErrNoRows) {
		return store.Member{}, fmt.Errorf("get member %s: %w", id, store.ErrNotFound)
	}
	if err != nil {
		return store.Member{}, fmt.Errorf("get member %s: %w", id, err)
	}
	return m, nil
}

// FindIdentity returns ErrNotFound when (provider, subject) is not linked.
func (s *Store) FindIdentity(ctx context.Context, provider, subject string) (store.Identity, error) {
	row := s.read.QueryRowContext(ctx, s.q(`SELECT `+identityCols+` FROM identities WHERE provider = ? AND subject = ?`), provider, subject)
	id, err := scanIdentity(row)
	if errors.Is(err, sql.ErrNoRows) {
		return store.Identity{}, fmt.Errorf("find identity %s/%s: %w", provider, subject, store.ErrNotFound)
	}
	if err != nil {
		return store.Identity{}, fmt.Errorf("find identity %s/%s: %w", provider, subject, err)
	}
	return id, nil
}

// FindMemberByVerifiedEmail returns the oldest member whose verified email
// has the same email.Key as addr, or ErrNotFound.
func (s *Store) FindMemberByVerifiedEmail(ctx context.Context, addr string) (store.Member, error) {
	if addr == "" {
		return store.Member{}, fmt.Errorf("find member by email: %w", store.ErrNotFound)
	}
	row := s.read.QueryRowContext(ctx, s.q(`SELECT `+memberCols+` FROM members
		WHERE email_lower = ? AND email_verified ORDER BY created_at, id LIMIT 1`), email.Key(addr))
	m, err := scanMember(row)
	if errors.Is(err, sql.ErrNoRows) {
		return store.Member{}, fmt.Errorf("find member by email: %w", store.ErrNotFound)
	}
	if err != nil {
		return store.Member{}, fmt.Errorf("find member by email: %w", err)
	}
	return m, nil
}

// CreateMember inserts m and its first identity in one transaction;
// ErrConflict (and nothing inserted) when the identity is already linked or
// the member id is taken. first.MemberID is set to m.ID. Empty role and
// status mean user and active; zero timestamps mean now.
func (s *Store) CreateMember(ctx context.Context, m store.Member, first store.Identity) error {
	now := s.now()
	if m.Role == "" {
		m.Role = store.RoleUser
	}
	if m.Status == "" {
		m.Status = store.StatusActive
	}
	if m.CreatedAt.IsZero() {
		m.CreatedAt = now
	}
	if m.UpdatedAt.IsZero() {
		m.UpdatedAt = m.CreatedAt
	}
	first.MemberID = m.ID
	err := s.inTx(ctx, func(tx *sql.Tx) error {
		if _, err := tx.ExecContext(ctx, s.q(`INSERT INTO members (id, email, email_lower, email_verified, name, name_lower,
			avatar_url, role, status, created_at, updated_at, last_login_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`),
			m.ID, m.Email, email.Key(m.Email), m.EmailVerified, m.Name, strings.ToLower(m.Name),
			m.AvatarURL, m.Role, m.Status, s.timeArg(m.CreatedAt), s.timeArg(m.UpdatedAt), s.timeArg(m.LastLoginAt)); err != nil {
			return err
		}
		return s.insertIdentity(ctx, tx, first, now)
	})
	if isUniqueViolation(err) {
		return fmt.Errorf("create member %s with %s/%s: %w", m.ID, first.Provider, first.Subject, store.ErrConflict)
	}
	if err != nil {
		return fmt.Errorf("create member %s: %w", m.ID, err)
	}
	return nil
}

type execer interface {
	ExecContext(ctx context.Context, query string, args ...any) (sql.Result, error)
}

func (s *Store) insertIdentity(ctx context.Context, ex execer, id store.Identity, now time.Time) error {
	if id.CreatedAt.IsZero() {
		id.CreatedAt = now
	}
	if id.UpdatedAt.IsZero() {
		id.UpdatedAt = id.CreatedAt
	}
	raw, err := jsonArg(id.Raw)
	if err != nil {
		return fmt.Errorf("raw profile: %w", err)
	}
	_, err = ex.ExecContext(ctx, s.q(`INSERT INTO identities (`+identityCols+`) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`),
		id.Provider, id.Subject, id.MemberID, id.Email, id.EmailVerified, id.Name, id.AvatarURL,
		raw, s.timeArg(id.CreatedAt), s.timeArg(id.UpdatedAt))
	return err
}

// LinkIdentity adds an identity to an existing member; ErrConflict when
// (provider, subject) is already linked, ErrNotFound for an unknown member.
func (s *Store) LinkIdentity(ctx context.Context, id store.Identity) error {
	err := s.insertIdentity(ctx, s.db, id, s.now())
	switch {
	case isUniqueViolation(err):
		return fmt.Errorf("link %s/%s to member %s: %w", id.Provider, id.Subject, id.MemberID, store.ErrConflict)
	case isForeignKeyViolation(err):
		return fmt.Errorf("link %s/%s to member %s: %w", id.Provider, id.Subject, id.MemberID, store.ErrNotFound)
	case err != nil:
		return fmt.Errorf("link %s/%s to member %s: %w", id.Provider, id.Subject, id.MemberID, err)
	}
	return nil
}

// UpdateIdentity stores the provider's latest profile fields of an existing
// identity; ErrNotFound when it is not linked.
func (s *Store) UpdateIdentity(ctx context.Context, id store.Identity) error {
	updated := id.UpdatedAt
	if updated.IsZero() {
		updated = s.now()
	}
	raw, err := jsonArg(id.Raw)
	if err != nil {
		return fmt.Errorf("update identity %s/%s: raw profile: %w", id.Provider, id.Subject, err)
	}
	res, err := s.db.ExecContext(ctx, s.q(`UPDATE identities SET email = ?, email_verified = ?, name = ?, avatar_url = ?,
		raw = ?, updated_at = ? WHERE provider = ? AND subject = ?`),
		id.Email, id.EmailVerified, id.Name, id.AvatarURL, raw, s.timeArg(updated), id.Provider, id.Subject)
	if err := affectedOne(res, err); err != nil {
		return fmt.Errorf("update identity %s/%s: %w", id.Provider, id.Subject, err)
	}
	return nil
}

// UpdateMember is read-modify-write under the row's lock (see
// store.Members): one transaction on the writer reads the member (FOR
// UPDATE on PostgreSQL; on SQLite the transaction holds the database's
// write lock from BEGIN), applies change and writes the result, so
// concurrent updaters of one member queue and each sees the previous one's
// write. change runs while the lock is held.
func (s *Store) UpdateMember(ctx context.Context, id string, change func(old store.Member) (store.Member, error)) (store.Member, error) {
	var out store.Member
	err := s.inTx(ctx, func(tx *sql.Tx) error {
		old, err := scanMember(tx.QueryRowContext(ctx, s.q(`SELECT `+memberCols+` FROM members WHERE id = ?`+s.forUpdate()), id))
		if errors.Is(err, sql.ErrNoRows) {
			return store.ErrNotFound
		}
		if err != nil {
			return err
		}
		next, err := change(old)
		if err != nil {
			return changeError{err}
		}
		asked := next.UpdatedAt
		next.ID, next.CreatedAt, next.UpdatedAt = old.ID, old.CreatedAt, old.UpdatedAt
		if next == old {
			out = old
			return nil
		}
		if asked.IsZero() {
			asked = s.now()
		}
		next.UpdatedAt = laterThan(old.UpdatedAt, asked)
		if !next.LastLoginAt.IsZero() {
			next.LastLoginAt = dbTime(next.LastLoginAt)
		}
		if _, err := tx.ExecContext(ctx, s.q(`UPDATE members SET email = ?, email_lower = ?, email_verified = ?, name = ?,
			name_lower = ?, avatar_url = ?, role = ?, status = ?, updated_at = ?, last_login_at = ?
			WHERE id = ?`),
			next.Email, email.Key(next.Email), next.EmailVerified, next.Name, strings.ToLower(next.Name), next.AvatarURL,
			next.Role, next.Status, s.timeArg(next.UpdatedAt), s.timeArg(next.LastLoginAt), next.ID); err != nil {
			return err
		}
		out = next
		return nil
	})
	var ce changeError
	if errors.As(err, &ce) {
		return store.Member{}, ce.err
	}
	if err != nil {
		return store.Member{}, fmt.Errorf("update member %s: %w", id, err)
	}
	return out, nil
}

// changeError carries the error of an UpdateMember change through the
// transaction, to be returned as is.
type changeError struct{ err error }

func (e changeError) Error() string { return e.err.Error() }

// laterThan is t at the store's precision, or one microsecond after prev
// when t is not past it: a member's updated_at only grows.
func laterThan(prev, t time.Time) time.Time {
	t = dbTime(t)
	if floor := dbTime(prev).Add(time.Microsecond); t.Before(floor) {
		return floor
	}
	return t
}

// affectedOne turns "no row matched" into ErrNotFound.
func affectedOne(res sql.Result, err error) error {
	if err != nil {
		return err
	}
	n, err := res.RowsAffected()
	if err != nil {
		return err
	}
	if n == 0 {
		return store.ErrNotFound
	}
	return nil
}

// ListIdentities returns a member's identities, oldest first (empty for an
// unknown member).
func (s *Store) ListIdentities(ctx context.Context, memberID string) ([]store.Identity, error) {
	rows, err := s.read.QueryContext(ctx, s.q(`SELECT `+identityCols+` FROM identities
		WHERE member_id = ? ORDER BY created_at, provider, subject`), memberID)
	if err != nil {
		return nil, fmt.Errorf("list identities of %s: %w", memberID, err)
	}
	defer rows.Close()
	var out []store.Identity
	for rows.Next() {
		id, err := scanIdentity(rows)
		if err != nil {
			return nil, fmt.Errorf("list identities of %s: %w", memberID, err)
		}
		out = append(out, id)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("list identities of %s: %w", memberID, err)
	}
	return out, nil
}

// DeleteIdentity unlinks one identity: ErrConflict when it is the member's
// last, ErrNotFound when it is not linked to that member.
//
// The count and the delete run in one transaction holding the member's row
// lock on PostgreSQL (SQLite's transaction holds the write lock), so two
// concurrent unlinks of a member's last two identities cannot both succeed.
func (s *Store) DeleteIdentity(ctx context.Context, memberID, provider, subject string) error {
	err := s.inTx(ctx, func(tx *sql.Tx) error {
		var locked string
		err := tx.QueryRowContext(ctx, s.q(`SELECT id FROM members WHERE id = ?`+s.forUpdate()), memberID).Scan(&locked)
		if errors.Is(err, sql.ErrNoRows) {
			return store.ErrNotFound
		}
		if err != nil {
			return err
		}
		var total, match int64
		if err := tx.QueryRowContext(ctx, s.q(`SELECT count(*),
			COALESCE(SUM(CASE WHEN provider = ? AND subject = ? THEN 1 ELSE 0 END), 0)
			FROM identities WHERE member_id = ?`), provider, subject, memberID).Scan(&total, &match); err != nil {
			return err
		}
		switch {
		case match == 0:
			return store.ErrNotFound
		case total <= 1:
			return store.ErrConflict
		}
		_, err = tx.ExecContext(ctx, s.q(`DELETE FROM identities WHERE member_id = ? AND provider = ? AND subject = ?`),
			memberID, provider, subject)
		return err
	})
	if err != nil {
		return fmt.Errorf("unlink %s/%s from member %s: %w", provider, subject, memberID, err)
	}
	return nil
}

// DeleteMember removes a member and, by cascade, its identities;
// ErrNotFound if absent.
func (s *Store) DeleteMember(ctx context.Context, id string) error {
	res, err := s.db.ExecContext(ctx, s.q(`DELETE FROM members WHERE id = ?`), id)
	if err := affectedOne(res, err); err != nil {
		return fmt.Errorf("delete member %s: %w", id, err)
	}
	return nil
}

// memberCursor is the position after the last member of a page. It is
// handed out base64url-encoded and opaque.
type memberCursor struct {
	CreatedAt time.Time `json:"t"`
	ID        string    `json:"id"`
}

func encodeCursor(m store.Member) string {
	b, _ := json.Marshal(memberCursor{CreatedAt: m.CreatedAt, ID: m.ID})
	return base64.RawURLEncoding.EncodeToString(b)
}

func decodeCursor(s string) (memberCursor, error) {
	var c memberCursor
	b, err := base64.RawURLEncoding.DecodeString(s)
	if err != nil {
		return c, err
	}
	if err := json.Unmarshal(b, &c); err != nil {
		return c, err
	}
	if c.ID == "" || c.CreatedAt.IsZero() {
		return c, errors.New("incomplete cursor")
	}
	return c, nil
}

// likeEscaper makes a search term literal inside LIKE … ESCAPE '\'.
var likeEscaper = strings.NewReplacer(`\`, `\\`, `%`, `\%`, `_`, `\_`)

// ListMembers pages through members newest first (keyset pagination on
// created_at, id). A malformed cursor is ErrNotFound: the page it names
// does not exist.
func (s *Store) ListMembers(ctx context.Context, mq store.MemberQuery) (store.MemberPage, error) {
	limit := mq.Limit
	if limit <= 0 {
		limit = defaultMemberPage
	}
	limit = min(limit, maxMemberPage)

	var (
		where []string
		args  []any
	)
	if mq.Search != "" {
		// Emails are matched under email.Key (the form email_lower holds),
		// names under Unicode lowercasing: a name search is for people, an
		// email search must not find a look-alike address.
		emailPattern := "%" + likeEscaper.Replace(email.Key(mq.Search)) + "%"
		namePattern := "%" + likeEscaper.Replace(strings.ToLower(mq.Search)) + "%"
		where = append(where, `(email_lower LIKE ? ESCAPE '\' OR name_lower LIKE ? ESCAPE '\')`)
		args = append(args, emailPattern, namePattern)
	}
	if mq.Provider != "" {
		where = append(where, `EXISTS (SELECT 1 FROM identities i WHERE i.member_id = members.id AND i.provider = ?)`)
		args = append(args, mq.Provider)
	}
	if mq.Cursor != "" {
		c, err := decodeCursor(mq.Cursor)
		if err != nil {
			return store.MemberPage{}, fmt.Errorf("list members: malformed cursor: %w", store.ErrNotFound)
		}
		where = append(where, `(created_at, id) < (?, ?)`)
		args = append(args, s.timeArg(c.CreatedAt), c.ID)
	}
	query := `SELECT ` + memberCols + ` FROM members`
	if len(where) > 0 {
		query += ` WHERE ` + strings.Join(where, ` AND `)
	}
	// One row more than the page tells whether another page follows.
	query += ` ORDER BY created_at DESC, id DESC LIMIT ?`
	args = append(args, limit+1)

	rows, err := s.read.QueryContext(ctx, s.q(query), args...)
	if err != nil {
		return store.MemberPage{}, fmt.Errorf("list members: %w", err)
	}
	defer rows.Close()
	page := store.MemberPage{Members: make([]store.Member, 0, limit)}
	for rows.Next() {
		m, err := scanMember(rows)
		if err != nil {
			return store.MemberPage{}, fmt.Errorf("list members: %w", err)
		}
		page.Members = append(page.Members, m)
	}
	if err := rows.Err(); err != nil {
		return store.MemberPage{}, fmt.Errorf("list members: %w", err)
	}
	if len(page.Members) > limit {
		page.Members = page.Members[:limit]
		page.NextCursor = encodeCursor(page.Members[limit-1])
	}
	return page, nil
}
