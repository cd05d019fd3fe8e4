package storetest

import (
	"cmp"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/authbroker/authbroker/internal/store"
)

// MembersAndAudit is the durable, SQL-only part of the store contracts:
// members with their identities, and the admin audit log.
type MembersAndAudit interface {
	store.Members
	store.Audit
}

// RunMembers checks a members-and-audit backend: identities belong to one
// member at most (also under concurrent first logins), a member keeps at
// least one identity, lookups fold case, and the admin listing pages through
// every matching member exactly once. The audit rules run under "audit/".
//
// Like the other suites it tolerates a shared store: every subtest uses its
// own random ids, and listings are scoped by a random search term.
func RunMembers(t *testing.T, newStore func(t *testing.T) MembersAndAudit) {
	t.Run("create then get returns every field", func(t *testing.T) {
		st, c := newStore(t), ctx(t)
		m, id := createMember(t, st, now())
		got, err := st.GetMember(c, m.ID)
		if err != nil {
			t.Fatalf("get: %v", err)
		}
		checkMember(t, got, m)
		gotID, err := st.FindIdentity(c, id.Provider, id.Subject)
		if err != nil {
			t.Fatalf("find identity: %v", err)
		}
		checkIdentity(t, gotID, id)
	})

	t.Run("times come back in UTC at microsecond precision", func(t *testing.T) {
		st, c := newStore(t), ctx(t)
		seoul := time.FixedZone("KST", 9*60*60)
		m := newMember(t, time.Date(2024, 2, 29, 23, 59, 59, 123456000, seoul))
		m.UpdatedAt = time.Date(2025, 12, 31, 0, 0, 0, 999999000, seoul)
		m.LastLoginAt = time.Date(2026, 1, 1, 8, 30, 0, 1000, seoul)
		id := newIdentity(t, "google", m)
		if err := st.CreateMember(c, m, id); err != nil {
			t.Fatalf("create: %v", err)
		}
		got, err := st.GetMember(c, m.ID)
		if err != nil {
			t.Fatalf("get: %v", err)
		}
		for _, tc := range []struct {
			what      string
			got, want time.Time
		}{
			{"CreatedAt", got.CreatedAt, m.CreatedAt},
			{"UpdatedAt", got.UpdatedAt, m.UpdatedAt},
			{"LastLoginAt", got.LastLoginAt, m.LastLoginAt},
		} {
			if tc.got.Location() != time.UTC || !tc.got.Equal(tc.want) {
				t.Errorf("%s = %v, want %v in UTC, exactly", tc.what, tc.got, tc.want.UTC())
			}
		}

		// Finer than a microsecond is cut, never rounded up past the input.
		fine := newMember(t, time.Date(2024, 1, 2, 3, 4, 5, 678901234, time.UTC))
		if err := st.CreateMember(c, fine, newIdentity(t, "google", fine)); err != nil {
			t.Fatalf("create: %v", err)
		}
		got, err = st.GetMember(c, fine.ID)
		if err != nil {
			t.Fatalf("get: %v", err)
		}
		if want := fine.CreatedAt.Truncate(time.Microsecond); !got.CreatedAt.Equal(want) {
			t.Errorf("CreatedAt = %v, want %v", got.CreatedAt, want)
		}
	})

	t.Run("never signed in: zero LastLoginAt", func(t *testing.T) {
		st, c := newStore(t), ctx(t)
		m := newMember(t, now())
		m.LastLoginAt = time.Time{}
		if err := st.CreateMember(c, m, newIdentity(t, "github", m)); err != nil {
			t.Fatalf("create: %v", err)
		}
		got, err := st.GetMember(c, m.ID)
		if err != nil {
			t.Fatalf("get: %v", err)
		}
		if !got.LastLoginAt.IsZero() {
			t.Errorf("LastLoginAt = %v, want zero", got.LastLoginAt)
		}
	})

	t.Run("raw profile JSON is kept verbatim", func(t *testing.T) {
		st, c := newStore(t), ctx(t)
		m := newMember(t, now())
		id := newIdentity(t, "kakao", m)
		id.Raw = []byte(`{"id":4123456789012,  "kakao_account":{"email_needs_agreement":true},"z":1,"a":"ü"}`)
		if err := st.CreateMember(c, m, id); err != nil {
			t.Fatalf("create: %v", err)
		}
		got, err := st.FindIdentity(c, id.Provider, id.Subject)
		if err != nil {
			t.Fatalf("find: %v", err)
		}
		if string(got.Raw) != string(id.Raw) {
			t.Errorf("raw = %s, want %s", got.Raw, id.Raw)
		}
		id.Raw = nil
		id.UpdatedAt = now()
		if err := st.UpdateIdentity(c, id); err != nil {
			t.Fatalf("update: %v", err)
		}
		if got, err = st.FindIdentity(c, id.Provider, id.Subject); err != nil {
			t.Fatalf("find: %v", err)
		}
		if len(got.Raw) != 0 {
			t.Errorf("raw after clearing = %s, want empty", got.Raw)
		}
	})

	t.Run("raw that is not JSON: an error, nothing stored", func(t *testing.T) {
		st, c := newStore(t), ctx(t)
		m := newMember(t, now())
		id := newIdentity(t, "github", m)
		id.Raw = []byte(`{"login":`)
		if err := st.CreateMember(c, m, id); err == nil {
			t.Fatal("create with a truncated raw profile succeeded")
		}
		_, err := st.GetMember(c, m.ID)
		wantNotFound(t, "member of the refused create", err)
		m, id = createMember(t, st, now())
		bad := id
		bad.Raw = []byte("not json")
		if err := st.UpdateIdentity(c, bad); err == nil {
			t.Fatal("update with a raw profile that is not JSON succeeded")
		}
		got, err := st.FindIdentity(c, id.Provider, id.Subject)
		if err != nil {
			t.Fatalf("find: %v", err)
		}
		checkIdentity(t, got, id)
	})

	t.Run("not found is ErrNotFound, not a generic error", func(t *testing.T) {
		st, c := newStore(t), ctx(t)
		m, id := createMember(t, st, now())
		ghost := newMember(t, now())
		for _, tc := range []struct {
			name string
			call func() error
		}{
			{"get unknown member", func() error { _, err := st.GetMember(c, ghost.ID); return err }},
			{"find unlinked identity", func() error { _, err := st.FindIdentity(c, "github", randomID(t)); return err }},
			{"find identity of another provider", func() error { _, err := st.FindIdentity(c, "naver", id.Subject); return err }},
			{"find unknown verified email", func() error {
				_, err := st.FindMemberByVerifiedEmail(c, randomID(t)+"@example.org")
				return err
			}},
			{"find empty email", func() error { _, err := st.FindMemberByVerifiedEmail(c, ""); return err }},
			{"link to unknown member", func() error { return st.LinkIdentity(c, newIdentity(t, "github", ghost)) }},
			{"update unlinked identity", func() error { return st.UpdateIdentity(c, newIdentity(t, "github", m)) }},
			{"update unknown member", func() error {
				_, err := st.UpdateMember(c, ghost.ID, func(old store.Member) (store.Member, error) { return old, nil })
				return err
			}},
			{"unlink unlinked identity", func() error { return st.DeleteIdentity(c, m.ID, "github", randomID(t)) }},
			{"unlink from unknown member", func() error { return st.DeleteIdentity(c, ghost.ID, id.Provider, id.Subject) }},
			{"delete unknown member", func() error { return st.DeleteMember(c, ghost.ID) }},
		} {
			wantNotFound(t, tc.name, tc.call())
		}
	})

	t.Run("identity linked twice: conflict", func(t *testing.T) {
		st, c := newStore(t), ctx(t)
		owner, id := createMember(t, st, now())
		other, _ := createMember(t, st, now())

		stolen := id
		stolen.MemberID = other.ID
		wantConflict(t, "link to another member", st.LinkIdentity(c, stolen))
		wantConflict(t, "link again to its member", st.LinkIdentity(c, id))

		newcomer := newMember(t, now())
		first := id
		first.MemberID = newcomer.ID
		wantConflict(t, "create a member with it", st.CreateMember(c, newcomer, first))
		_, err := st.GetMember(c, newcomer.ID)
		wantNotFound(t, "member of the refused create", err)

		got, err := st.FindIdentity(c, id.Provider, id.Subject)
		if err != nil {
			t.Fatalf("find: %v", err)
		}
		if got.MemberID != owner.ID {
			t.Fatalf("identity belongs to %s, want its first member %s", got.MemberID, owner.ID)
		}
	})

	t.Run("member id taken: conflict, identity not inserted", func(t *testing.T) {
		st, c := newStore(t), ctx(t)
		m, _ := createMember(t, st, now())
		again := newIdentity(t, "github", m)
		wantConflict(t, "create with a taken id", st.CreateMember(c, m, again))
		_, err := st.FindIdentity(c, again.Provider, again.Subject)
		wantNotFound(t, "identity of the refused create", err)
	})

	t.Run("concurrent first logins: one member", func(t *testing.T) {
		st, c := newStore(t), ctx(t)
		provider, subject := "google", randomID(t)
		var (
			wg        sync.WaitGroup
			start     = make(chan struct{})
			winners   = make(chan string, racers)
			failures  = make(chan error, racers)
			conflicts = make(chan struct{}, racers)
		)
		for range racers {
			m := newMember(t, now())
			id := newIdentity(t, provider, m)
			id.Subject = subject
			wg.Go(func() {
				<-start
				err := st.CreateMember(c, m, id)
				switch {
				case err == nil:
					winners <- m.ID
				case errors.Is(err, store.ErrConflict):
					conflicts <- struct{}{}
				default:
					failures <- err
				}
			})
		}
		close(start)
		wg.Wait()
		close(winners)
		close(failures)
		for err := range failures {
			t.Errorf("a losing create failed with %v, want store.ErrConflict", err)
		}
		if len(winners) != 1 {
			t.Fatalf("%d creates succeeded, want exactly 1", len(winners))
		}
		winner := <-winners
		got, err := st.FindIdentity(c, provider, subject)
		if err != nil {
			t.Fatalf("find: %v", err)
		}
		if got.MemberID != winner {
			t.Fatalf("identity belongs to %s, want the winner %s", got.MemberID, winner)
		}
		if len(conflicts) != racers-1 {
			t.Fatalf("%d conflicts, want %d", len(conflicts), racers-1)
		}
	})

	t.Run("link adds an identity; identities list oldest first", func(t *testing.T) {
		st, c := newStore(t), ctx(t)
		base := now()
		m, first := createMember(t, st, base.Add(-time.Hour))
		second := newIdentity(t, "github", m)
		second.CreatedAt, second.UpdatedAt = base.Add(-time.Minute), base.Add(-time.Minute)
		third := newIdentity(t, "kakao", m)
		third.CreatedAt, third.UpdatedAt = base, base
		for _, id := range []store.Identity{third, second} {
			if err := st.LinkIdentity(c, id); err != nil {
				t.Fatalf("link %s: %v", id.Provider, err)
			}
		}
		got, err := st.ListIdentities(c, m.ID)
		if err != nil {
			t.Fatalf("list: %v", err)
		}
		want := []store.Identity{first, second, third}
		if len(got) != len(want) {
			t.Fatalf("%d identities, want %d", len(got), len(want))
		}
		for i := range want {
			checkIdentity(t, got[i], want[i])
		}
	})

	t.Run("identities of an unknown member: empty, no error", func(t *testing.T) {
		st, c := newStore(t), ctx(t)
		got, err := st.ListIdentities(c, randomID(t))
		if err != nil {
			t.Fatalf("list: %v", err)
		}
		if len(got) != 0 {
			t.Fatalf("identities = %+v, want none", got)
		}
	})

	t.Run("find by verified email: Unicode look-alikes are other addresses", func(t *testing.T) {
		st, c := newStore(t), ctx(t)
		local := "im." + randomID(t)[:8]
		kelvin := newMember(t, now())
		kelvin.Email = "\u212A" + local + "@corp.example" // KELVIN SIGN, not K
		if err := st.CreateMember(c, kelvin, newIdentity(t, "google", kelvin)); err != nil {
			t.Fatalf("create: %v", err)
		}
		_, err := st.FindMemberByVerifiedEmail(c, "k"+local+"@corp.example")
		wantNotFound(t, "find the ASCII address", err)
		got, err := st.FindMemberByVerifiedEmail(c, "\u212A"+local+"@CORP.Example")
		if err != nil || got.ID != kelvin.ID {
			t.Fatalf("find the look-alike itself (domain case folded): %v %s", err, got.ID)
		}
	})

	t.Run("find by verified email: any case, oldest first, unverified ignored", func(t *testing.T) {
		st, c := newStore(t), ctx(t)
		base := now()
		email := "Jane.Doe+" + randomID(t)[:8] + "@Example.org"
		unverified := newMember(t, base.Add(-3*time.Hour))
		unverified.Email, unverified.EmailVerified = email, false
		oldest := newMember(t, base.Add(-2*time.Hour))
		oldest.Email = strings.ToUpper(email)
		newer := newMember(t, base.Add(-time.Hour))
		newer.Email = email
		for _, m := range []store.Member{newer, unverified, oldest} {
			if err := st.CreateMember(c, m, newIdentity(t, "google", m)); err != nil {
				t.Fatalf("create: %v", err)
			}
		}
		for _, lookup := range []string{email, strings.ToLower(email), strings.ToUpper(email)} {
			got, err := st.FindMemberByVerifiedEmail(c, lookup)
			if err != nil {
				t.Fatalf("find %q: %v", lookup, err)
			}
			if got.ID != oldest.ID {
				t.Errorf("find %q = member %s, want the oldest verified %s", lookup, got.ID, oldest.ID)
			}
			if got.Email != oldest.Email {
				t.Errorf("email = %q, want it as stored: %q", got.Email, oldest.Email)
			}
		}

		alone := newMember(t, base)
		alone.EmailVerified = false
		if err := st.CreateMember(c, alone, newIdentity(t, "kakao", alone)); err != nil {
			t.Fatalf("create: %v", err)
		}
		_, err := st.FindMemberByVerifiedEmail(c, alone.Email)
		wantNotFound(t, "only an unverified member has it", err)
	})

	t.Run("update identity stores the provider's latest fields only", func(t *testing.T) {
		st, c := newStore(t), ctx(t)
		m, id := createMember(t, st, now().Add(-time.Hour))
		changed := id
		changed.Email, changed.EmailVerified = "renamed@example.org", false
		changed.Name, changed.AvatarURL = "Renamed", "https://img.example/new"
		changed.Raw = []byte(`{"login":"renamed"}`)
		changed.UpdatedAt = now()
		// Fields that are not the provider's answer stay as they are.
		changed.MemberID, changed.CreatedAt = randomID(t), now()
		if err := st.UpdateIdentity(c, changed); err != nil {
			t.Fatalf("update: %v", err)
		}
		got, err := st.FindIdentity(c, id.Provider, id.Subject)
		if err != nil {
			t.Fatalf("find: %v", err)
		}
		want := changed
		want.MemberID, want.CreatedAt = m.ID, id.CreatedAt
		checkIdentity(t, got, want)
	})

	t.Run("update member stores every mutable field", func(t *testing.T) {
		st, c := newStore(t), ctx(t)
		m, _ := createMember(t, st, now().Add(-time.Hour))
		var want store.Member
		got, err := st.UpdateMember(c, m.ID, func(old store.Member) (store.Member, error) {
			checkMember(t, old, m)
			old.Email = "New.Address+" + randomID(t)[:8] + "@Example.org"
			old.EmailVerified = true
			old.Name, old.AvatarURL = "New Name", "https://img.example/new"
			old.Role, old.Status = store.RoleAdmin, store.StatusDisabled
			old.LastLoginAt = now()
			want = old
			return old, nil
		})
		if err != nil {
			t.Fatalf("update: %v", err)
		}
		if !got.UpdatedAt.After(m.UpdatedAt) {
			t.Errorf("updated_at %s did not move past %s", got.UpdatedAt, m.UpdatedAt)
		}
		want.UpdatedAt = got.UpdatedAt
		read, err := st.GetMember(c, m.ID)
		if err != nil {
			t.Fatalf("get: %v", err)
		}
		checkMember(t, read, want)
		checkMember(t, got, read)
		// The email lookup follows the new address.
		found, err := st.FindMemberByVerifiedEmail(c, strings.ToLower(want.Email))
		if err != nil {
			t.Fatalf("find by the new email: %v", err)
		}
		if found.ID != m.ID {
			t.Errorf("find by the new email = %s, want %s", found.ID, m.ID)
		}
		if found, err := st.FindMemberByVerifiedEmail(c, m.Email); err == nil && found.ID == m.ID {
			t.Errorf("the old email still finds the member")
		}
	})

	t.Run("update: id and created_at stay; updated_at as asked when later, never backwards", func(t *testing.T) {
		st, c := newStore(t), ctx(t)
		m, _ := createMember(t, st, now().Add(-time.Hour))
		got, err := st.UpdateMember(c, m.ID, func(old store.Member) (store.Member, error) {
			old.ID, old.CreatedAt, old.UpdatedAt = "someone-else", old.CreatedAt.Add(-time.Hour), old.UpdatedAt.Add(-time.Hour)
			old.Name = "Renamed"
			return old, nil
		})
		if err != nil {
			t.Fatalf("update: %v", err)
		}
		read, err := st.GetMember(c, m.ID)
		if err != nil {
			t.Fatalf("get: %v", err)
		}
		if read.Name != "Renamed" || got.ID != m.ID || !read.CreatedAt.Equal(m.CreatedAt) || !read.UpdatedAt.After(m.UpdatedAt) {
			t.Fatalf("after an update asking for an earlier updated_at: %+v", read)
		}
		asked := read.UpdatedAt.Add(time.Hour)
		if _, err := st.UpdateMember(c, m.ID, func(old store.Member) (store.Member, error) {
			old.Name, old.UpdatedAt = "Later", asked
			return old, nil
		}); err != nil {
			t.Fatalf("update: %v", err)
		}
		if read, err = st.GetMember(c, m.ID); err != nil || !read.UpdatedAt.Equal(asked) {
			t.Fatalf("updated_at %s (%v), want the later value asked for, %s", read.UpdatedAt, err, asked)
		}
	})

	t.Run("update: change's error aborts, nothing written, the error as is", func(t *testing.T) {
		st, c := newStore(t), ctx(t)
		m, _ := createMember(t, st, now().Add(-time.Hour))
		refused := errors.New("refused by the caller")
		_, err := st.UpdateMember(c, m.ID, func(old store.Member) (store.Member, error) {
			old.Status = store.StatusDisabled
			return old, refused
		})
		if err != refused {
			t.Fatalf("update = %v, want the change's own error", err)
		}
		got, err := st.GetMember(c, m.ID)
		if err != nil {
			t.Fatalf("get: %v", err)
		}
		checkMember(t, got, m)
	})

	t.Run("update: no change, no write", func(t *testing.T) {
		st, c := newStore(t), ctx(t)
		m, _ := createMember(t, st, now().Add(-time.Hour))
		got, err := st.UpdateMember(c, m.ID, func(old store.Member) (store.Member, error) { return old, nil })
		if err != nil {
			t.Fatalf("update: %v", err)
		}
		checkMember(t, got, m)
		read, err := st.GetMember(c, m.ID)
		if err != nil {
			t.Fatalf("get: %v", err)
		}
		checkMember(t, read, m) // updated_at kept: nothing was written
	})

	t.Run("update of a deleted member: ErrNotFound, change not called", func(t *testing.T) {
		st, c := newStore(t), ctx(t)
		m, _ := createMember(t, st, now())
		if err := st.DeleteMember(c, m.ID); err != nil {
			t.Fatalf("delete: %v", err)
		}
		_, err := st.UpdateMember(c, m.ID, func(old store.Member) (store.Member, error) {
			t.Error("change called for a deleted member")
			return old, nil
		})
		wantNotFound(t, "update a deleted member", err)
	})

	t.Run("50 concurrent read-modify-writes of one member: none lost", func(t *testing.T) {
		st, c := newStore(t), ctx(t)
		m, _ := createMember(t, st, now().Add(-time.Hour))
		if _, err := st.UpdateMember(c, m.ID, func(old store.Member) (store.Member, error) {
			old.Name = "0"
			return old, nil
		}); err != nil {
			t.Fatalf("update: %v", err)
		}
		var (
			wg    sync.WaitGroup
			start = make(chan struct{})
			errs  = make([]error, racers)
		)
		for i := range racers {
			wg.Go(func() {
				<-start
				_, errs[i] = st.UpdateMember(c, m.ID, func(old store.Member) (store.Member, error) {
					n, err := strconv.Atoi(old.Name)
					if err != nil {
						return old, err
					}
					old.Name = strconv.Itoa(n + 1)
					if i%2 == 0 {
						old.Status = store.StatusDisabled
					}
					return old, nil
				})
			})
		}
		close(start)
		wg.Wait()
		for i, err := range errs {
			if err != nil {
				t.Errorf("updater %d: %v", i, err)
			}
		}
		got, err := st.GetMember(c, m.ID)
		if err != nil {
			t.Fatalf("get: %v", err)
		}
		if got.Name != strconv.Itoa(racers) || got.Status != store.StatusDisabled {
			t.Fatalf("after %d increments: name %q, status %s; want %d and disabled (an update was lost)", racers, got.Name, got.Status, racers)
		}
	})

	t.Run("last identity cannot be unlinked", func(t *testing.T) {
		st, c := newStore(t), ctx(t)
		m, id := createMember(t, st, now())
		wantConflict(t, "unlink the only identity", st.DeleteIdentity(c, m.ID, id.Provider, id.Subject))
		if _, err := st.FindIdentity(c, id.Provider, id.Subject); err != nil {
			t.Fatalf("identity after a refused unlink: %v", err)
		}
	})

	t.Run("unlink removes that identity only", func(t *testing.T) {
		st, c := newStore(t), ctx(t)
		m, first := createMember(t, st, now())
		second := newIdentity(t, "github", m)
		if err := st.LinkIdentity(c, second); err != nil {
			t.Fatalf("link: %v", err)
		}
		if err := st.DeleteIdentity(c, m.ID, second.Provider, second.Subject); err != nil {
			t.Fatalf("unlink: %v", err)
		}
		_, err := st.FindIdentity(c, second.Provider, second.Subject)
		wantNotFound(t, "unlinked identity", err)
		got, err := st.ListIdentities(c, m.ID)
		if err != nil {
			t.Fatalf("list: %v", err)
		}
		if len(got) != 1 || got[0].Subject != first.Subject {
			t.Fatalf("identities = %+v, want only the first", got)
		}
	})

	t.Run("another member's identity cannot be unlinked through this one", func(t *testing.T) {
		st, c := newStore(t), ctx(t)
		m, _ := createMember(t, st, now())
		if err := st.LinkIdentity(c, newIdentity(t, "github", m)); err != nil {
			t.Fatalf("link: %v", err)
		}
		other, theirs := createMember(t, st, now())
		if err := st.LinkIdentity(c, newIdentity(t, "naver", other)); err != nil {
			t.Fatalf("link: %v", err)
		}
		wantNotFound(t, "unlink another member's identity", st.DeleteIdentity(c, m.ID, theirs.Provider, theirs.Subject))
		if _, err := st.FindIdentity(c, theirs.Provider, theirs.Subject); err != nil {
			t.Fatalf("the other member's identity: %v", err)
		}
	})

	t.Run("concurrent unlinks keep one identity", func(t *testing.T) {
		st, c := newStore(t), ctx(t)
		m, first := createMember(t, st, now())
		ids := []store.Identity{first}
		for _, p := range []string{"github", "kakao", "naver", "oidc"} {
			id := newIdentity(t, p, m)
			if err := st.LinkIdentity(c, id); err != nil {
				t.Fatalf("link: %v", err)
			}
			ids = append(ids, id)
		}
		var (
			wg        sync.WaitGroup
			start     = make(chan struct{})
			mu        sync.Mutex
			ok, confl int
		)
		for _, id := range ids {
			wg.Go(func() {
				<-start
				err := st.DeleteIdentity(c, m.ID, id.Provider, id.Subject)
				mu.Lock()
				defer mu.Unlock()
				switch {
				case err == nil:
					ok++
				case errors.Is(err, store.ErrConflict):
					confl++
				default:
					t.Errorf("unlink %s: %v", id.Provider, err)
				}
			})
		}
		close(start)
		wg.Wait()
		left, err := st.ListIdentities(c, m.ID)
		if err != nil {
			t.Fatalf("list: %v", err)
		}
		if ok != len(ids)-1 || confl != 1 || len(left) != 1 {
			t.Fatalf("%d unlinked, %d refused, %d left; want %d, 1, 1", ok, confl, len(left), len(ids)-1)
		}
	})

	t.Run("delete member removes identities", func(t *testing.T) {
		st, c := newStore(t), ctx(t)
		m, first := createMember(t, st, now())
		second := newIdentity(t, "github", m)
		if err := st.LinkIdentity(c, second); err != nil {
			t.Fatalf("link: %v", err)
		}
		if err := st.DeleteMember(c, m.ID); err != nil {
			t.Fatalf("delete: %v", err)
		}
		_, err := st.GetMember(c, m.ID)
		wantNotFound(t, "deleted member", err)
		for _, id := range []store.Identity{first, second} {
			_, err := st.FindIdentity(c, id.Provider, id.Subject)
			wantNotFound(t, "identity of a deleted member", err)
		}
		if got, err := st.ListIdentities(c, m.ID); err != nil || len(got) != 0 {
			t.Fatalf("identities of a deleted member = %+v, %v; want none", got, err)
		}
		// The provider account is free again: signing in creates a new member.
		again := newMember(t, now())
		first.MemberID = again.ID
		if err := st.CreateMember(c, again, first); err != nil {
			t.Fatalf("create with the freed identity: %v", err)
		}
		wantNotFound(t, "second delete", st.DeleteMember(c, m.ID))
	})

	t.Run("search by email case-insensitive", func(t *testing.T) {
		st := newStore(t)
		tag := searchTag(t)
		hit := newMember(t, now())
		hit.Email = "Alice." + tag + "@Example.COM"
		miss := newMember(t, now())
		miss.Email = "bob." + tag + "@example.net"
		createAll(t, st, hit, miss)
		for _, q := range []string{"alice." + tag, "ALICE." + strings.ToUpper(tag) + "@EXAMPLE.com", tag + "@example.c"} {
			wantMembers(t, "search "+q, listAll(t, st, store.MemberQuery{Search: q}), hit)
		}
	})

	t.Run("search by email folds ASCII case only", func(t *testing.T) {
		st := newStore(t)
		tag := searchTag(t)
		kelvin := newMember(t, now())
		kelvin.Email, kelvin.Name = "\u212Aim."+tag+"@corp.example", "K"
		createAll(t, st, kelvin)
		// strings.ToLower would fold KELVIN SIGN to "k" and find it.
		wantMembers(t, "search kim."+tag, listAll(t, st, store.MemberQuery{Search: "kim." + tag}))
		wantMembers(t, "search by the look-alike itself", listAll(t, st, store.MemberQuery{Search: "\u212Aim." + tag + "@CORP"}), kelvin)
	})

	t.Run("search by name, Unicode case-insensitive", func(t *testing.T) {
		st := newStore(t)
		tag := searchTag(t)
		hit := newMember(t, now())
		hit.Name = "Jürgen Åström " + tag
		miss := newMember(t, now())
		miss.Name = "Jurgen Astrom " + tag
		createAll(t, st, hit, miss)
		wantMembers(t, "search JÜRGEN ÅSTRÖM", listAll(t, st, store.MemberQuery{Search: "JÜRGEN ÅSTRÖM " + tag}), hit)
		wantMembers(t, "search by the tag", listAll(t, st, store.MemberQuery{Search: strings.ToUpper(tag)}), hit, miss)
	})

	t.Run("search wildcards match literally", func(t *testing.T) {
		st := newStore(t)
		tag := searchTag(t)
		// Each decoy matches its search if the wildcard (or escape) were live.
		var ms []store.Member
		for _, name := range []string{"100% sure", "100 sure", "snake_case", "snakeXcase", `back\slash`, "backslash"} {
			m := newMember(t, now())
			m.Name = tag + name
			ms = append(ms, m)
		}
		createAll(t, st, ms...)
		wantMembers(t, "search %", listAll(t, st, store.MemberQuery{Search: tag + "100%"}), ms[0])
		wantMembers(t, "search _", listAll(t, st, store.MemberQuery{Search: tag + "snake_"}), ms[2])
		wantMembers(t, `search \`, listAll(t, st, store.MemberQuery{Search: tag + `back\s`}), ms[4])
	})

	t.Run("provider filter keeps members with an identity there", func(t *testing.T) {
		st, c := newStore(t), ctx(t)
		tag := searchTag(t)
		provider := "prov" + tag
		both := newMember(t, now())
		both.Name = "both " + tag
		only := newMember(t, now())
		only.Name = "only " + tag
		none := newMember(t, now())
		none.Name = "none " + tag
		createAll(t, st, both, only, none)
		for _, m := range []store.Member{both, only} {
			if err := st.LinkIdentity(c, newIdentity(t, provider, m)); err != nil {
				t.Fatalf("link: %v", err)
			}
		}
		if err := st.LinkIdentity(c, newIdentity(t, provider, both)); err != nil {
			t.Fatalf("link a second account of the provider: %v", err)
		}
		wantMembers(t, "provider filter", listAll(t, st, store.MemberQuery{Provider: provider}), both, only)
		wantMembers(t, "provider filter and search", listAll(t, st, store.MemberQuery{Provider: provider, Search: "only " + tag}), only)
	})

	t.Run("cursor pages cover every member once, newest first", func(t *testing.T) {
		st := newStore(t)
		tag := searchTag(t)
		base := now()
		var all []store.Member
		for i := range 23 {
			// Three members share each creation time: the id breaks ties.
			m := newMember(t, base.Add(-time.Duration(i/3)*time.Second))
			m.Name = fmt.Sprintf("%s %02d", tag, i)
			all = append(all, m)
		}
		createAll(t, st, all...)
		slices.SortFunc(all, newestFirst)
		for _, limit := range []int{1, 5, 23, 100} {
			var (
				got    []store.Member
				cursor string
				pages  int
			)
			for {
				p, err := st.ListMembers(ctx(t), store.MemberQuery{Search: tag, Cursor: cursor, Limit: limit})
				if err != nil {
					t.Fatalf("limit %d, page %d: %v", limit, pages+1, err)
				}
				pages++
				if len(p.Members) > limit {
					t.Fatalf("limit %d: page of %d", limit, len(p.Members))
				}
				got = append(got, p.Members...)
				if p.NextCursor == "" {
					break
				}
				if len(p.Members) == 0 || pages > len(all)+1 {
					t.Fatalf("limit %d: page %d is empty or paging does not end", limit, pages)
				}
				cursor = p.NextCursor
			}
			wantMembers(t, fmt.Sprintf("limit %d", limit), got, all...)
			if want := (len(all) + limit - 1) / limit; pages != want {
				t.Errorf("limit %d: %d pages, want %d (no empty last page)", limit, pages, want)
			}
		}
	})

	t.Run("malformed cursor: an error, not the first page", func(t *testing.T) {
		st := newStore(t)
		tag := searchTag(t)
		m := newMember(t, now())
		m.Name = tag
		createAll(t, st, m)
		for _, cursor := range []string{"not base64!", "bm90IGpzb24", "e30"} {
			p, err := st.ListMembers(ctx(t), store.MemberQuery{Search: tag, Cursor: cursor})
			if err == nil {
				t.Errorf("cursor %q: %d members, want an error", cursor, len(p.Members))
			}
		}
	})

	t.Run("audit", func(t *testing.T) { runAudit(t, newStore) })
}

// newMember returns an active, verified member with every field set,
// created at created.
func newMember(t *testing.T, created time.Time) store.Member {
	id := randomID(t)
	return store.Member{
		ID:            id,
		Email:         "Member." + id[:12] + "@Example.org",
		EmailVerified: true,
		Name:          "Member " + id[:12],
		AvatarURL:     "https://img.example/" + id,
		Role:          store.RoleUser,
		Status:        store.StatusActive,
		CreatedAt:     created,
		UpdatedAt:     created,
		LastLoginAt:   created,
	}
}

// later returns m as a writer would change it: UpdatedAt a second after
// the one read, so it differs from prev at any stored precision.
func later(m store.Member) store.Member {
	m.UpdatedAt = m.UpdatedAt.Add(time.Second)
	return m
}

// newIdentity returns a fresh identity of m at provider, every field set.
func newIdentity(t *testing.T, provider string, m store.Member) store.Identity {
	subject := randomID(t)
	at := m.CreatedAt
	if at.IsZero() {
		at = now()
	}
	return store.Identity{
		Provider:      provider,
		Subject:       subject,
		MemberID:      m.ID,
		Email:         m.Email,
		EmailVerified: m.EmailVerified,
		Name:          m.Name,
		AvatarURL:     m.AvatarURL,
		Raw:           rawProfile(subject, m.Name),
		CreatedAt:     at,
		UpdatedAt:     at,
	}
}

// rawProfile is a provider's profile JSON for subject and name.
func rawProfile(subject, name string) json.RawMessage {
	b, err := json.Marshal(map[string]string{"id": subject, "name": name})
	if err != nil {
		panic(err)
	}
	return b
}

// createMember stores a new member created at created with a google
// identity, and returns both.
func createMember(t *testing.T, st store.Members, created time.Time) (store.Member, store.Identity) {
	t.Helper()
	m := newMember(t, created)
	id := newIdentity(t, "google", m)
	if err := st.CreateMember(ctx(t), m, id); err != nil {
		t.Fatalf("create member: %v", err)
	}
	return m, id
}

func createAll(t *testing.T, st store.Members, ms ...store.Member) {
	t.Helper()
	for _, m := range ms {
		if err := st.CreateMember(ctx(t), m, newIdentity(t, "google", m)); err != nil {
			t.Fatalf("create member: %v", err)
		}
	}
}

// searchTag is a random word that only this subtest's members carry, so a
// listing sees them alone even in a shared store.
func searchTag(t *testing.T) string { return "t" + randomID(t)[:12] }

// listAll follows NextCursor through every page of q.
func listAll(t *testing.T, st store.Members, q store.MemberQuery) []store.Member {
	t.Helper()
	var out []store.Member
	for range 1000 {
		p, err := st.ListMembers(ctx(t), q)
		if err != nil {
			t.Fatalf("list %+v: %v", q, err)
		}
		out = append(out, p.Members...)
		if p.NextCursor == "" {
			return out
		}
		q.Cursor = p.NextCursor
	}
	t.Fatalf("list %+v: paging does not end", q)
	return nil
}

func newestFirst(a, b store.Member) int {
	if c := b.CreatedAt.Compare(a.CreatedAt); c != 0 {
		return c
	}
	return cmp.Compare(b.ID, a.ID)
}

// wantMembers fails unless got holds exactly want (full records), newest first.
func wantMembers(t *testing.T, what string, got []store.Member, want ...store.Member) {
	t.Helper()
	want = slices.Clone(want)
	slices.SortFunc(want, newestFirst)
	ids := func(ms []store.Member) []string {
		out := make([]string, len(ms))
		for i, m := range ms {
			out[i] = m.ID
		}
		return out
	}
	if !slices.Equal(ids(got), ids(want)) {
		t.Fatalf("%s: members %q, want %q", what, ids(got), ids(want))
	}
	for i := range want {
		checkMember(t, got[i], want[i])
	}
}

func wantConflict(t *testing.T, what string, err error) {
	t.Helper()
	if !errors.Is(err, store.ErrConflict) {
		t.Fatalf("%s: err = %v, want store.ErrConflict", what, err)
	}
}

// checkMember compares every field, times within timeTolerance.
func checkMember(t *testing.T, got, want store.Member) {
	t.Helper()
	sameTime(t, "CreatedAt", got.CreatedAt, want.CreatedAt)
	sameTime(t, "UpdatedAt", got.UpdatedAt, want.UpdatedAt)
	if want.LastLoginAt.IsZero() != got.LastLoginAt.IsZero() {
		t.Errorf("LastLoginAt = %v, want %v", got.LastLoginAt, want.LastLoginAt)
	} else if !want.LastLoginAt.IsZero() {
		sameTime(t, "LastLoginAt", got.LastLoginAt, want.LastLoginAt)
	}
	got.CreatedAt, got.UpdatedAt, got.LastLoginAt = time.Time{}, time.Time{}, time.Time{}
	want.CreatedAt, want.UpdatedAt, want.LastLoginAt = time.Time{}, time.Time{}, time.Time{}
	if got != want {
		t.Errorf("member = %+v, want %+v", got, want)
	}
}

// checkIdentity compares every field, times within timeTolerance and Raw
// byte for byte.
func checkIdentity(t *testing.T, got, want store.Identity) {
	t.Helper()
	sameTime(t, "CreatedAt", got.CreatedAt, want.CreatedAt)
	sameTime(t, "UpdatedAt", got.UpdatedAt, want.UpdatedAt)
	if string(got.Raw) != string(want.Raw) {
		t.Errorf("raw = %s, want %s", got.Raw, want.Raw)
	}
	got.CreatedAt, got.UpdatedAt, got.Raw = time.Time{}, time.Time{}, nil
	want.CreatedAt, want.UpdatedAt, want.Raw = time.Time{}, time.Time{}, nil
	if !equalIdentity(got, want) {
		t.Errorf("identity = %+v, want %+v", got, want)
	}
}

func equalIdentity(a, b store.Identity) bool {
	return a.Provider == b.Provider && a.Subject == b.Subject && a.MemberID == b.MemberID &&
		a.Email == b.Email && a.EmailVerified == b.EmailVerified && a.Name == b.Name &&
		a.AvatarURL == b.AvatarURL && a.CreatedAt.Equal(b.CreatedAt) && a.UpdatedAt.Equal(b.UpdatedAt)
}
