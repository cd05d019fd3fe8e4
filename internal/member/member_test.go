package member_test

import (
	"context"
	"errors"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/authbroker/authbroker/internal/member"
	"github.com/authbroker/authbroker/internal/store"
	"github.com/authbroker/authbroker/internal/store/sqlstore"
	"github.com/authbroker/authbroker/internal/testenv"
	"github.com/authbroker/authbroker/providers"
)

// The rules run on real stores of both dialects: the race-safety of
// oauth2Process rests on the database's uniqueness, which a fake would
// only imitate.
var backends = []struct {
	name string
	url  func(testing.TB) string
}{
	{sqlstore.DialectSQLite, testenv.SQLiteURL},
	{sqlstore.DialectPostgres, testenv.PostgresURL},
}

var base = time.Date(2025, 6, 1, 9, 30, 0, 123456000, time.UTC)

// fixture is one backend's store and a way to build services on it. Cases
// share the store and keep apart by random subjects and emails.
type fixture struct {
	st *sqlstore.Store
}

// service returns a Service on the fixture's store, at clock time at.
func (f fixture) service(at time.Time, opts ...func(*member.Service)) *member.Service {
	s := &member.Service{Members: f.st, LinkByEmail: "verified", Now: func() time.Time { return at }}
	for _, o := range opts {
		o(s)
	}
	return s
}

func withAdmins(emails ...string) func(*member.Service) {
	return func(s *member.Service) { s.AdminEmails = emails }
}

func withLinkByEmail(mode string) func(*member.Service) {
	return func(s *member.Service) { s.LinkByEmail = mode }
}

// profile is a fresh provider account with a verified, unique email.
func profile(provider string) providers.Profile {
	sub := testenv.RandomName("")
	return providers.Profile{
		Provider:      provider,
		Subject:       sub,
		Email:         "User." + sub + "@Example.org",
		EmailVerified: true,
		Name:          "User " + sub,
		AvatarURL:     "https://img.example/" + sub,
		Raw:           []byte(`{"sub":"` + sub + `"}`),
	}
}

func ctx(t *testing.T) context.Context {
	c, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	t.Cleanup(cancel)
	return c
}

func process(t *testing.T, s *member.Service, p providers.Profile) member.Result {
	t.Helper()
	res, err := s.OAuth2Process(ctx(t), p)
	if err != nil {
		t.Fatalf("oauth2Process %s/%s: %v", p.Provider, p.Subject, err)
	}
	return res
}

func (f fixture) member(t *testing.T, id string) store.Member {
	t.Helper()
	m, err := f.st.GetMember(ctx(t), id)
	if err != nil {
		t.Fatalf("get member: %v", err)
	}
	return m
}

func (f fixture) identities(t *testing.T, memberID string) []store.Identity {
	t.Helper()
	ids, err := f.st.ListIdentities(ctx(t), memberID)
	if err != nil {
		t.Fatalf("list identities: %v", err)
	}
	return ids
}

// disable marks a member disabled, as an admin would.
func (f fixture) disable(t *testing.T, m store.Member) {
	t.Helper()
	if err := f.admin(ctx(t), m.ID, func(m *store.Member) { m.Status = store.StatusDisabled }); err != nil {
		t.Fatalf("disable: %v", err)
	}
}

// admin changes a member as the admin service does: one read-modify-write
// of the store. It returns errors rather than failing the test, for use off
// the test's goroutine.
func (f fixture) admin(c context.Context, id string, change func(*store.Member)) error {
	_, err := f.st.UpdateMember(c, id, func(m store.Member) (store.Member, error) {
		change(&m)
		return m, nil
	})
	return err
}

// interleaved is the fixture's store with a step run just before every
// UpdateMember through it, given the call's number (from 1): an admin or
// another login acting after the service decided what to write and before
// the store's read-modify-write of the member.
type interleaved struct {
	store.Members
	between func(call int64)
	calls   atomic.Int64
}

func (i *interleaved) UpdateMember(ctx context.Context, id string, change func(store.Member) (store.Member, error)) (store.Member, error) {
	i.between(i.calls.Add(1))
	return i.Members.UpdateMember(ctx, id, change)
}

// first runs step before the first call only.
func first(step func()) func(int64) {
	return func(call int64) {
		if call == 1 {
			step()
		}
	}
}

func withMembers(st store.Members) func(*member.Service) {
	return func(s *member.Service) { s.Members = st }
}

// ticking is a clock that moves a millisecond forward at every reading, so
// concurrent logins each have a time of their own, as on a real clock.
func ticking(from time.Time) func() time.Time {
	var n atomic.Int64
	return func() time.Time { return from.Add(time.Duration(n.Add(1)) * time.Millisecond) }
}

func TestOAuth2Process(t *testing.T) {
	for _, b := range backends {
		t.Run(b.name, func(t *testing.T) {
			t.Parallel()
			st, err := sqlstore.Open(context.Background(), b.url(t))
			if err != nil {
				t.Fatalf("open: %v", err)
			}
			t.Cleanup(st.Close)
			if err := st.Migrate(context.Background()); err != nil {
				t.Fatalf("migrate: %v", err)
			}
			f := fixture{st: st}
			for _, tc := range oauth2ProcessRules {
				t.Run(tc.name, func(t *testing.T) { tc.run(t, f) })
			}
		})
	}
}

var oauth2ProcessRules = []struct {
	name string
	run  func(t *testing.T, f fixture)
}{
	{"first login creates a member from the profile", func(t *testing.T, f fixture) {
		p := profile("google")
		res := process(t, f.service(base), p)
		if !res.Created || res.Linked {
			t.Fatalf("created=%v linked=%v, want a created member", res.Created, res.Linked)
		}
		m := res.Member
		if m.Email != p.Email || !m.EmailVerified || m.Name != p.Name || m.AvatarURL != p.AvatarURL ||
			m.Role != store.RoleUser || m.Status != store.StatusActive || !m.LastLoginAt.Equal(base) {
			t.Fatalf("member = %+v, want the profile's fields, user, active, signed in at %v", m, base)
		}
		if got := f.member(t, m.ID); got != m {
			t.Fatalf("stored member = %+v, want the returned %+v", got, m)
		}
		ids := f.identities(t, m.ID)
		if len(ids) != 1 || ids[0].Provider != p.Provider || ids[0].Subject != p.Subject || string(ids[0].Raw) != string(p.Raw) {
			t.Fatalf("identities = %+v, want the profile's", ids)
		}
	}},

	{"next login finds the identity and refreshes it", func(t *testing.T, f fixture) {
		p := profile("github")
		first := process(t, f.service(base), p).Member
		later := base.Add(time.Hour)
		p.Name, p.AvatarURL, p.Raw = "Renamed At GitHub", "https://img.example/new", []byte(`{"login":"renamed"}`)
		res := process(t, f.service(later), p)
		if res.Created || res.Linked || res.Member.ID != first.ID {
			t.Fatalf("result = %+v, want the same member signed in", res)
		}
		if !res.Member.LastLoginAt.Equal(later) || res.Member.Name != first.Name {
			t.Fatalf("member = %+v, want last login %v and its own name kept", res.Member, later)
		}
		id := f.identities(t, first.ID)[0]
		if id.Name != p.Name || id.AvatarURL != p.AvatarURL || string(id.Raw) != string(p.Raw) || !id.UpdatedAt.Equal(later) {
			t.Fatalf("identity = %+v, want the provider's latest answer", id)
		}
		if !id.CreatedAt.Equal(base) {
			t.Fatalf("identity created %v, want %v kept", id.CreatedAt, base)
		}
	}},

	{"login without email (Kakao) succeeds", func(t *testing.T, f fixture) {
		p := profile("kakao")
		p.Email, p.EmailVerified = "", false
		p.Raw = []byte(`{"id":4123456789,"kakao_account":{"email_needs_agreement":true}}`)
		res := process(t, f.service(base), p)
		if !res.Created || res.Member.Email != "" || res.Member.EmailVerified {
			t.Fatalf("result = %+v, want a new member without email", res)
		}
		again := process(t, f.service(base.Add(time.Minute)), p)
		if again.Created || again.Member.ID != res.Member.ID {
			t.Fatalf("second login = %+v, want the same member", again)
		}
	}},

	{"verified email links to the member that verified it", func(t *testing.T, f fixture) {
		g := profile("google")
		m := process(t, f.service(base), g).Member
		gh := profile("github")
		gh.Email = strings.ToUpper(g.Email)
		res := process(t, f.service(base.Add(time.Minute)), gh)
		if !res.Linked || res.Created || res.Member.ID != m.ID {
			t.Fatalf("result = %+v, want a link to %s", res, m.ID)
		}
		if n := len(f.identities(t, m.ID)); n != 2 {
			t.Fatalf("%d identities, want 2", n)
		}
	}},

	{"a Unicode look-alike email is another address: no link", func(t *testing.T, f fixture) {
		g := profile("google")
		g.Email = "kim." + g.Subject + "@corp.example"
		m := process(t, f.service(base), g).Member
		for _, lookAlike := range []string{"\u212Aim.", "\u212AIM."} { // KELVIN SIGN: strings.ToLower makes it "k"
			gh := profile("github")
			gh.Email = lookAlike + g.Subject + "@corp.example"
			res := process(t, f.service(base.Add(time.Minute)), gh)
			if res.Member.ID == m.ID {
				t.Fatalf("%+q linked to the member of %q", gh.Email, g.Email)
			}
		}
	}},

	{"email unverified by the provider: new member", func(t *testing.T, f fixture) {
		g := profile("google")
		m := process(t, f.service(base), g).Member
		k := profile("kakao")
		k.Email, k.EmailVerified = g.Email, false
		res := process(t, f.service(base), k)
		if !res.Created || res.Member.ID == m.ID || res.Member.EmailVerified {
			t.Fatalf("result = %+v, want a new member with an unverified email", res)
		}
	}},

	{"email unverified by the member: no link", func(t *testing.T, f fixture) {
		k := profile("kakao")
		k.EmailVerified = false
		m := process(t, f.service(base), k).Member
		g := profile("google")
		g.Email = k.Email
		res := process(t, f.service(base), g)
		if !res.Created || res.Member.ID == m.ID {
			t.Fatalf("result = %+v, want a new member: nobody verified the address before", res)
		}
	}},

	{"LINK_BY_EMAIL=never never links", func(t *testing.T, f fixture) {
		g := profile("google")
		m := process(t, f.service(base), g).Member
		gh := profile("github")
		gh.Email = g.Email
		res := process(t, f.service(base, withLinkByEmail("never")), gh)
		if !res.Created || res.Linked || res.Member.ID == m.ID {
			t.Fatalf("result = %+v, want a new member", res)
		}
	}},

	{"provider verifies the member's email later: member verified", func(t *testing.T, f fixture) {
		p := profile("naver")
		p.EmailVerified = false
		m := process(t, f.service(base), p).Member
		if m.EmailVerified {
			t.Fatal("new member verified without the provider saying so")
		}
		p.EmailVerified = true
		p.Email = strings.ToLower(p.Email)
		res := process(t, f.service(base.Add(time.Minute)), p)
		if !res.Member.EmailVerified || !f.member(t, m.ID).EmailVerified {
			t.Fatalf("member = %+v, want the email verified", res.Member)
		}
		if res.Member.Email != m.Email {
			t.Fatalf("email = %q, want it kept as first given: %q", res.Member.Email, m.Email)
		}
	}},

	{"blanks are filled from the provider, set fields kept", func(t *testing.T, f fixture) {
		k := profile("kakao")
		k.Email, k.EmailVerified, k.AvatarURL = "", false, ""
		m := process(t, f.service(base), k).Member
		g := profile("google")
		if err := f.st.LinkIdentity(ctx(t), store.Identity{
			Provider: g.Provider, Subject: g.Subject, MemberID: m.ID, CreatedAt: base, UpdatedAt: base,
		}); err != nil {
			t.Fatalf("link: %v", err)
		}
		res := process(t, f.service(base.Add(time.Minute)), g)
		got := res.Member
		if got.ID != m.ID || got.Email != g.Email || !got.EmailVerified || got.AvatarURL != g.AvatarURL || got.Name != k.Name {
			t.Fatalf("member = %+v, want email and avatar from google, name from kakao", got)
		}
	}},

	{"admin email grants admin", func(t *testing.T, f fixture) {
		p := profile("google")
		res := process(t, f.service(base, withAdmins("someone@else.example", "  "+strings.ToLower(p.Email)+" ")), p)
		if res.Member.Role != store.RoleAdmin {
			t.Fatalf("role = %q, want admin", res.Member.Role)
		}
	}},

	{"admin email look-alikes grant nothing", func(t *testing.T, f fixture) {
		for i, lookAlike := range []string{"\u212Aim", "\u017Fam", "k\u0131m"} { // KELVIN SIGN, LONG S, dotless i
			p := profile("google")
			p.Email = lookAlike + "@corp.example"
			p.Subject += string(rune('a' + i))
			res := process(t, f.service(base, withAdmins("kim@corp.example", "sam@corp.example")), p)
			if res.Member.Role != store.RoleUser {
				t.Fatalf("%+q got role %q from ADMIN_EMAILS", p.Email, res.Member.Role)
			}
		}
	}},

	{"admin email unverified: no admin", func(t *testing.T, f fixture) {
		p := profile("kakao")
		p.EmailVerified = false
		res := process(t, f.service(base, withAdmins(p.Email)), p)
		if res.Member.Role != store.RoleUser {
			t.Fatalf("role = %q, want user", res.Member.Role)
		}
	}},

	{"ADMIN_EMAILS promotes an existing member on sign-in", func(t *testing.T, f fixture) {
		p := profile("google")
		m := process(t, f.service(base), p).Member
		if m.Role != store.RoleUser {
			t.Fatalf("role = %q before the list names them, want user", m.Role)
		}
		// Even through a provider that shares no email.
		k := profile("kakao")
		k.Email, k.EmailVerified = "", false
		if _, err := f.service(base).Link(ctx(t), m.ID, k); err != nil {
			t.Fatalf("link: %v", err)
		}
		res := process(t, f.service(base.Add(time.Minute), withAdmins(p.Email)), k)
		if res.Member.Role != store.RoleAdmin || f.member(t, m.ID).Role != store.RoleAdmin {
			t.Fatalf("role = %q, want admin", res.Member.Role)
		}
	}},

	{"sign-in in the microsecond of the member's last write: still written", func(t *testing.T, f fixture) {
		// A coarse or stepped-back clock: the write must still change the
		// version, or the store refuses it.
		p := profile("google")
		m := process(t, f.service(base), p).Member
		res := process(t, f.service(base, withAdmins(p.Email)), p)
		got := f.member(t, m.ID)
		if res.Member.Role != store.RoleAdmin || got.Role != store.RoleAdmin || !got.UpdatedAt.After(m.UpdatedAt) {
			t.Fatalf("member = %+v, want promoted with a newer updated_at than %v", got, m.UpdatedAt)
		}
	}},

	{"sign-in never demotes an admin", func(t *testing.T, f fixture) {
		p := profile("google")
		m := process(t, f.service(base, withAdmins(p.Email)), p).Member
		res := process(t, f.service(base.Add(time.Minute)), p)
		if res.Member.ID != m.ID || res.Member.Role != store.RoleAdmin {
			t.Fatalf("role = %q, want admin kept", res.Member.Role)
		}
	}},

	{"disabled member refused, nothing changed", func(t *testing.T, f fixture) {
		p := profile("github")
		m := process(t, f.service(base), p).Member
		f.disable(t, m)
		before := f.member(t, m.ID)
		idBefore := f.identities(t, m.ID)
		p.Name = "Changed"
		_, err := f.service(base.Add(time.Hour)).OAuth2Process(ctx(t), p)
		if !errors.Is(err, member.ErrDisabled) {
			t.Fatalf("err = %v, want member.ErrDisabled", err)
		}
		if after := f.member(t, m.ID); after != before {
			t.Fatalf("member changed: %+v, was %+v", after, before)
		}
		if after := f.identities(t, m.ID); after[0].Name != idBefore[0].Name || !after[0].UpdatedAt.Equal(idBefore[0].UpdatedAt) {
			t.Fatalf("identity changed: %+v, was %+v", after[0], idBefore[0])
		}
	}},

	{"disabled member is not linked by email, nor replaced by a new one", func(t *testing.T, f fixture) {
		g := profile("google")
		m := process(t, f.service(base), g).Member
		f.disable(t, m)
		gh := profile("github")
		gh.Email = g.Email
		_, err := f.service(base).OAuth2Process(ctx(t), gh)
		if !errors.Is(err, member.ErrDisabled) {
			t.Fatalf("err = %v, want member.ErrDisabled", err)
		}
		_, err = f.st.FindIdentity(ctx(t), gh.Provider, gh.Subject)
		if !errors.Is(err, store.ErrNotFound) {
			t.Fatalf("identity after a refused login: %v, want none", err)
		}
	}},

	{"member disabled between a login's read and write: ErrDisabled, nothing written", func(t *testing.T, f fixture) {
		p := profile("github")
		m := process(t, f.service(base), p).Member
		idBefore := f.identities(t, m.ID)
		st := &interleaved{Members: f.st, between: first(func() { f.disable(t, m) })}
		p.Name = "Changed"
		_, err := f.service(base.Add(time.Hour), withMembers(st)).OAuth2Process(ctx(t), p)
		if !errors.Is(err, member.ErrDisabled) {
			t.Fatalf("err = %v, want member.ErrDisabled", err)
		}
		got := f.member(t, m.ID)
		if got.Status != store.StatusDisabled || !got.LastLoginAt.Equal(m.LastLoginAt) {
			t.Fatalf("member = %+v, want disabled and no login recorded", got)
		}
		if after := f.identities(t, m.ID); after[0].Name != idBefore[0].Name {
			t.Fatalf("identity refreshed for a refused login: %+v", after[0])
		}
	}},

	{"admin demotes between a login's read and write: the login keeps the admin's role", func(t *testing.T, f fixture) {
		p := profile("google")
		m := process(t, f.service(base, withAdmins(p.Email)), p).Member
		if m.Role != store.RoleAdmin {
			t.Fatalf("role = %q, want admin", m.Role)
		}
		st := &interleaved{Members: f.st, between: first(func() {
			if err := f.admin(ctx(t), m.ID, func(m *store.Member) { m.Role = store.RoleUser }); err != nil {
				t.Errorf("demote: %v", err)
			}
		})}
		at := base.Add(time.Hour)
		res := process(t, f.service(at, withMembers(st)), p)
		got := f.member(t, m.ID)
		if res.Member.Role != store.RoleUser || got.Role != store.RoleUser {
			t.Fatalf("role = %q (stored %q), want user as the admin set it", res.Member.Role, got.Role)
		}
		if !got.LastLoginAt.Equal(at) {
			t.Fatalf("last login = %v, want the login recorded at %v", got.LastLoginAt, at)
		}
	}},

	{"50 concurrent logins of one member: all succeed", func(t *testing.T, f fixture) {
		p := profile("naver")
		m := process(t, f.service(base), p).Member
		svc := f.service(base, func(s *member.Service) { s.Now = ticking(base.Add(time.Hour)) })
		results := race(t, svc, p, 50)
		got := f.member(t, m.ID)
		if !got.LastLoginAt.After(base) {
			t.Fatalf("last login = %v, want one of the logins", got.LastLoginAt)
		}
		for _, r := range results {
			if r.Member.ID != m.ID {
				t.Fatalf("member %s, want %s", r.Member.ID, m.ID)
			}
		}
	}},

	{"a login losing to concurrent logins of the member: succeeds, keeps their time", func(t *testing.T, f fixture) {
		p := profile("github")
		m := process(t, f.service(base), p).Member
		// Before each of its writes, another login of the member lands
		// first: without settling on their record it would lose forever.
		st := &interleaved{Members: f.st, between: func(call int64) {
			if _, err := f.service(base.Add(time.Duration(call)*time.Minute)).OAuth2Process(ctx(t), p); err != nil {
				t.Errorf("concurrent login %d: %v", call, err)
			}
		}}
		res, err := f.service(base.Add(time.Hour), withMembers(st)).OAuth2Process(ctx(t), p)
		if err != nil {
			t.Fatalf("login: %v", err)
		}
		got := f.member(t, m.ID)
		if want := base.Add(time.Minute); !got.LastLoginAt.Equal(want) || !res.Member.LastLoginAt.Equal(want) {
			t.Fatalf("last login = %v (result %v), want the concurrent login's %v", got.LastLoginAt, res.Member.LastLoginAt, want)
		}
	}},

	{"50 concurrent logins and a disable: the member ends disabled", func(t *testing.T, f fixture) {
		p := profile("kakao")
		m := process(t, f.service(base), p).Member
		// The admin acts amid the logins' writes, when most of them hold a
		// read from before the disable.
		var disable error
		st := &interleaved{Members: f.st, between: func(call int64) {
			if call == 2 {
				disable = f.admin(ctx(t), m.ID, func(m *store.Member) { m.Status = store.StatusDisabled })
			}
		}}
		svc := f.service(base, withMembers(st), func(s *member.Service) { s.Now = ticking(base.Add(time.Hour)) })
		var (
			wg    sync.WaitGroup
			start = make(chan struct{})
			errs  = make([]error, 50)
			c     = ctx(t)
		)
		for i := range errs {
			wg.Go(func() {
				<-start
				_, errs[i] = svc.OAuth2Process(c, p)
			})
		}
		close(start)
		wg.Wait()
		if st.calls.Load() < 2 {
			t.Fatalf("%d member writes, the disable never ran", st.calls.Load())
		}
		if disable != nil {
			t.Fatalf("disable: %v", disable)
		}
		for i, err := range errs {
			if err != nil && !errors.Is(err, member.ErrDisabled) {
				t.Errorf("login %d: %v, want success or member.ErrDisabled", i, err)
			}
		}
		if got := f.member(t, m.ID); got.Status != store.StatusDisabled {
			t.Fatalf("status = %q after a disable raced logins, want disabled", got.Status)
		}
	}},

	{"profile without subject is refused", func(t *testing.T, f fixture) {
		p := profile("github")
		p.Subject = ""
		_, err := f.service(base).OAuth2Process(ctx(t), p)
		if !errors.Is(err, member.ErrInvalidProfile) {
			t.Fatalf("err = %v, want member.ErrInvalidProfile", err)
		}
	}},

	{"concurrent first logins of one identity: one member", func(t *testing.T, f fixture) {
		p := profile("google")
		results := race(t, f.service(base), p, 50)
		created := 0
		for _, r := range results {
			if r.Member.ID != results[0].Member.ID {
				t.Fatalf("members %s and %s for one identity", results[0].Member.ID, r.Member.ID)
			}
			if r.Created {
				created++
			}
		}
		if created != 1 {
			t.Fatalf("%d results say created, want 1", created)
		}
		if n := len(f.identities(t, results[0].Member.ID)); n != 1 {
			t.Fatalf("%d identities, want 1", n)
		}
	}},

	{"concurrent first logins by verified email: one link", func(t *testing.T, f fixture) {
		g := profile("google")
		m := process(t, f.service(base), g).Member
		gh := profile("github")
		gh.Email = g.Email
		results := race(t, f.service(base), gh, 50)
		linked := 0
		for _, r := range results {
			if r.Member.ID != m.ID || r.Created {
				t.Fatalf("result %+v, want the existing member %s", r, m.ID)
			}
			if r.Linked {
				linked++
			}
		}
		if linked != 1 {
			t.Fatalf("%d results say linked, want 1", linked)
		}
		if n := len(f.identities(t, m.ID)); n != 2 {
			t.Fatalf("%d identities, want 2", n)
		}
	}},
}

// race runs n concurrent OAuth2Process calls with p and returns their
// results, failing on any error.
func race(t *testing.T, s *member.Service, p providers.Profile, n int) []member.Result {
	t.Helper()
	var (
		wg      sync.WaitGroup
		start   = make(chan struct{})
		results = make([]member.Result, n)
		errs    = make([]error, n)
	)
	c := ctx(t)
	for i := range n {
		wg.Go(func() {
			<-start
			results[i], errs[i] = s.OAuth2Process(c, p)
		})
	}
	close(start)
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Fatalf("login %d: %v", i, err)
		}
	}
	return results
}

func TestLinkAndUnlink(t *testing.T) {
	for _, b := range backends {
		t.Run(b.name, func(t *testing.T) {
			t.Parallel()
			st, err := sqlstore.Open(context.Background(), b.url(t))
			if err != nil {
				t.Fatalf("open: %v", err)
			}
			t.Cleanup(st.Close)
			if err := st.Migrate(context.Background()); err != nil {
				t.Fatalf("migrate: %v", err)
			}
			f := fixture{st: st}
			for _, tc := range linkRules {
				t.Run(tc.name, func(t *testing.T) { tc.run(t, f) })
			}
		})
	}
}

var linkRules = []struct {
	name string
	run  func(t *testing.T, f fixture)
}{
	{"link adds another provider", func(t *testing.T, f fixture) {
		m := process(t, f.service(base), profile("google")).Member
		gh := profile("github")
		gh.Email, gh.EmailVerified = "other."+gh.Email, false
		id, err := f.service(base).Link(ctx(t), m.ID, gh)
		if err != nil {
			t.Fatalf("link: %v", err)
		}
		if id.MemberID != m.ID || id.Provider != gh.Provider || id.Subject != gh.Subject {
			t.Fatalf("identity = %+v, want github linked to %s", id, m.ID)
		}
		if n := len(f.identities(t, m.ID)); n != 2 {
			t.Fatalf("%d identities, want 2", n)
		}
		if res := process(t, f.service(base), gh); res.Member.ID != m.ID {
			t.Fatalf("signing in with the linked account gives member %s, want %s", res.Member.ID, m.ID)
		}
	}},

	{"re-linking your own identity refreshes it", func(t *testing.T, f fixture) {
		p := profile("google")
		m := process(t, f.service(base), p).Member
		p.Name = "Renamed"
		id, err := f.service(base.Add(time.Hour)).Link(ctx(t), m.ID, p)
		if err != nil {
			t.Fatalf("re-link: %v", err)
		}
		ids := f.identities(t, m.ID)
		if len(ids) != 1 || ids[0].Name != "Renamed" || id.Name != "Renamed" || !ids[0].CreatedAt.Equal(base) {
			t.Fatalf("identities = %+v, want the one identity refreshed", ids)
		}
	}},

	{"identity of another member: conflict", func(t *testing.T, f fixture) {
		mine := process(t, f.service(base), profile("google")).Member
		theirs := profile("github")
		owner := process(t, f.service(base), theirs).Member
		_, err := f.service(base).Link(ctx(t), mine.ID, theirs)
		if !errors.Is(err, store.ErrConflict) {
			t.Fatalf("err = %v, want store.ErrConflict", err)
		}
		got, err := f.st.FindIdentity(ctx(t), theirs.Provider, theirs.Subject)
		if err != nil || got.MemberID != owner.ID {
			t.Fatalf("identity = %+v, %v; want it kept by %s", got, err, owner.ID)
		}
	}},

	{"link to an unknown member: not found", func(t *testing.T, f fixture) {
		_, err := f.service(base).Link(ctx(t), testenv.RandomName("ghost"), profile("github"))
		if !errors.Is(err, store.ErrNotFound) {
			t.Fatalf("err = %v, want store.ErrNotFound", err)
		}
	}},

	{"disabled member cannot link", func(t *testing.T, f fixture) {
		m := process(t, f.service(base), profile("google")).Member
		f.disable(t, m)
		gh := profile("github")
		_, err := f.service(base).Link(ctx(t), m.ID, gh)
		if !errors.Is(err, member.ErrDisabled) {
			t.Fatalf("err = %v, want member.ErrDisabled", err)
		}
		if n := len(f.identities(t, m.ID)); n != 1 {
			t.Fatalf("%d identities, want 1", n)
		}
	}},

	{"member disabled between a link's read and write: ErrDisabled, stays disabled", func(t *testing.T, f fixture) {
		k := profile("kakao")
		k.Email, k.EmailVerified = "", false
		m := process(t, f.service(base), k).Member
		st := &interleaved{Members: f.st, between: first(func() { f.disable(t, m) })}
		_, err := f.service(base.Add(time.Minute), withMembers(st)).Link(ctx(t), m.ID, profile("google"))
		if !errors.Is(err, member.ErrDisabled) {
			t.Fatalf("err = %v, want member.ErrDisabled", err)
		}
		if got := f.member(t, m.ID); got.Status != store.StatusDisabled || got.Email != "" {
			t.Fatalf("member = %+v, want disabled and unchanged by the link", got)
		}
	}},

	{"link fills the member's blanks", func(t *testing.T, f fixture) {
		k := profile("kakao")
		k.Email, k.EmailVerified = "", false
		m := process(t, f.service(base), k).Member
		g := profile("google")
		if _, err := f.service(base.Add(time.Minute)).Link(ctx(t), m.ID, g); err != nil {
			t.Fatalf("link: %v", err)
		}
		got := f.member(t, m.ID)
		if got.Email != g.Email || !got.EmailVerified || !got.UpdatedAt.Equal(base.Add(time.Minute)) {
			t.Fatalf("member = %+v, want google's verified email", got)
		}
	}},

	{"unlink removes a linked identity", func(t *testing.T, f fixture) {
		m := process(t, f.service(base), profile("google")).Member
		gh := profile("github")
		if _, err := f.service(base).Link(ctx(t), m.ID, gh); err != nil {
			t.Fatalf("link: %v", err)
		}
		if err := f.service(base).Unlink(ctx(t), m.ID, gh.Provider, gh.Subject); err != nil {
			t.Fatalf("unlink: %v", err)
		}
		if n := len(f.identities(t, m.ID)); n != 1 {
			t.Fatalf("%d identities, want 1", n)
		}
		// The account is free: signing in with it creates a new member.
		if res := process(t, f.service(base), gh); !res.Created || res.Member.ID == m.ID {
			t.Fatalf("result = %+v, want a member other than %s", res, m.ID)
		}
	}},

	{"last identity cannot be unlinked", func(t *testing.T, f fixture) {
		p := profile("google")
		m := process(t, f.service(base), p).Member
		err := f.service(base).Unlink(ctx(t), m.ID, p.Provider, p.Subject)
		if !errors.Is(err, store.ErrConflict) {
			t.Fatalf("err = %v, want store.ErrConflict", err)
		}
	}},

	{"another member's identity cannot be unlinked", func(t *testing.T, f fixture) {
		mine := process(t, f.service(base), profile("google")).Member
		if _, err := f.service(base).Link(ctx(t), mine.ID, profile("github")); err != nil {
			t.Fatalf("link: %v", err)
		}
		theirs := profile("naver")
		process(t, f.service(base), theirs)
		err := f.service(base).Unlink(ctx(t), mine.ID, theirs.Provider, theirs.Subject)
		if !errors.Is(err, store.ErrNotFound) {
			t.Fatalf("err = %v, want store.ErrNotFound", err)
		}
	}},
}
