package sqlstore_test

import (
	"context"
	"database/sql"
	"strings"
	"testing"
	"time"

	_ "github.com/jackc/pgx/v5/stdlib" // the "pgx" driver, for raw SQL on the test database

	"github.com/authbroker/authbroker/internal/store"
)

// TestEmailKeyMigration: rows written before package email existed have
// email_lower from strings.ToLower, which folded KELVIN SIGN into "k". The
// migration recomputes the ASCII-only key in SQL on both dialects, so such
// a member is no longer found (and linked to) as kim@….
func TestEmailKeyMigration(t *testing.T) {
	for _, b := range backends {
		t.Run(b.name, func(t *testing.T) {
			url := b.url(t)
			ctx := context.Background()
			s := open(t, url)
			kelvin := store.Member{ID: "kelvin-" + time.Now().Format("150405.000000"), Email: "\u212Aim@Corp.Example", EmailVerified: true,
				Role: store.RoleUser, Status: store.StatusActive, CreatedAt: time.Now().UTC().Truncate(time.Microsecond)}
			kelvin.UpdatedAt = kelvin.CreatedAt
			id := store.Identity{Provider: "google", Subject: kelvin.ID, MemberID: kelvin.ID, Email: kelvin.Email, EmailVerified: true}
			if err := s.CreateMember(ctx, kelvin, id); err != nil {
				t.Fatal(err)
			}

			// The row as the old code wrote it, and the database as it was
			// before this migration.
			driver, dsn := "sqlite", strings.TrimPrefix(url, "sqlite://")
			if b.name == "postgres" {
				driver, dsn = "pgx", url
			}
			raw, err := sql.Open(driver, dsn)
			if err != nil {
				t.Fatal(err)
			}
			defer raw.Close()
			q := func(query string) {
				if b.name == "postgres" {
					query = strings.ReplaceAll(query, "?", "$1")
				}
				if _, err := raw.ExecContext(ctx, query, kelvin.ID); err != nil {
					t.Fatalf("%s: %v", query, err)
				}
			}
			q(`UPDATE members SET email_lower = 'kim@corp.example' WHERE id = ?`)
			// Later migrations are undone too: the database is at version 5.
			for _, stmt := range []string{`DROP TABLE provider_tokens`, `DELETE FROM authbroker_schema_version WHERE version_id >= 6`} {
				if _, err := raw.ExecContext(ctx, stmt); err != nil {
					t.Fatal(err)
				}
			}
			if m, err := s.FindMemberByVerifiedEmail(ctx, "kim@corp.example"); err != nil || m.ID != kelvin.ID {
				t.Fatalf("set-up: the old key should find the look-alike: %v", err)
			}

			if err := s.Migrate(ctx); err != nil {
				t.Fatal(err)
			}
			if m, err := s.FindMemberByVerifiedEmail(ctx, "kim@corp.example"); err == nil {
				t.Fatalf("after the migration kim@corp.example still finds %s (%q)", m.ID, m.Email)
			}
			if m, err := s.FindMemberByVerifiedEmail(ctx, "\u212Aim@corp.example"); err != nil || m.ID != kelvin.ID {
				t.Fatalf("after the migration the member's own address: %v", err)
			}
		})
	}
}
