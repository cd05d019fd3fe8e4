package app_test

import (
	"bytes"
	"context"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/authbroker/authbroker/internal/clock"
	"github.com/authbroker/authbroker/internal/testenv"
	"github.com/authbroker/authbroker/providers/providertest"
)

// providerToken is GET /auth/identities/{provider}/token's answer, or its error.
type providerToken struct {
	AccessToken string `json:"access_token"`
	TokenType   string `json:"token_type"`
	ExpiresAt   int64  `json:"expires_at"`
	Scope       string `json:"scope"`
	Error       string `json:"error"`
	Description string `json:"error_description"`
	ReauthURL   string `json:"reauth_url"`
}

func getProviderToken(t *testing.T, b *broker, provider, bearerToken string, q url.Values) (int, providerToken, http.Header) {
	t.Helper()
	u := b.URL + "/auth/identities/" + provider + "/token"
	if len(q) > 0 {
		u += "?" + q.Encode()
	}
	st, data, h := doJSON(t, http.MethodGet, u, bearerToken, "")
	var out providerToken
	if err := json.Unmarshal(data, &out); err != nil {
		t.Fatalf("provider token: %d %s", st, data)
	}
	return st, out, h
}

// callProviderAPI calls the fake's profile API with a provider token, as
// the app does with what the broker hands it.
func callProviderAPI(t *testing.T, fake *providertest.Server, tok string) int {
	t.Helper()
	req, _ := http.NewRequest(http.MethodGet, fake.UserInfoURL(), nil)
	req.Header.Set("Authorization", "Bearer "+tok)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	return resp.StatusCode
}

// TestProviderTokenVault walks a member's Google grant through the vault
// over HTTP: kept when the member links Google (parked until confirmed),
// handed out while fresh, renewed inside the window, refused for a scope
// never granted, a revoked grant turned into a reauth URL that works, and
// revoked at Google when the member unlinks it.
func TestProviderTokenVault(t *testing.T) {
	clk := clock.NewFake(time.Now())
	g := providertest.NewGoogle(t, providertest.WithClock(clk.Now))
	// Access tokens outlive the clock jumps below, so one sign-in serves.
	b := startBrokerWith(t, clk, append(g.Env(), "GOOGLE_STORE_TOKENS=true", "ACCESS_TOKEN_TTL=6h")...)
	me := devLogin(t, b, "vault@example.com")
	sub := g.User().ID

	result := followLink(t, newBrowser(t), linkURL(t, b, "google", me.AccessToken))
	if st, data, _ := doJSON(t, "POST", b.URL+"/auth/link/complete", me.AccessToken, `{"link_result":"`+result+`"}`); st != http.StatusOK {
		t.Fatalf("complete link: %d %s", st, data)
	}

	var first string
	t.Run("fresh token handed out as kept", func(t *testing.T) {
		st, tok, h := getProviderToken(t, b, "google", me.AccessToken, nil)
		if st != http.StatusOK || tok.AccessToken == "" || tok.TokenType != "Bearer" {
			t.Fatalf("token: %d %+v", st, tok)
		}
		if h.Get("Cache-Control") != "no-store" {
			t.Fatalf("Cache-Control %q", h.Get("Cache-Control"))
		}
		if left := time.Unix(tok.ExpiresAt, 0).Sub(clk.Now()); left < 59*time.Minute || left > time.Hour {
			t.Fatalf("expires in %v, want Google's hour", left)
		}
		if !strings.Contains(" "+tok.Scope+" ", " email ") {
			t.Fatalf("scope %q", tok.Scope)
		}
		if g.Renewals() != 0 {
			t.Fatalf("%d renewals of a fresh token", g.Renewals())
		}
		if st := callProviderAPI(t, g, tok.AccessToken); st != http.StatusOK {
			t.Fatalf("the provider refused the token: %d", st)
		}
		first = tok.AccessToken
	})

	t.Run("a scope never granted is named", func(t *testing.T) {
		cal := "https://www.googleapis.com/auth/calendar.readonly"
		st, data, _ := doJSON(t, http.MethodGet, b.URL+"/auth/identities/google/token?"+url.Values{"scope": {"email " + cal}}.Encode(), me.AccessToken, "")
		var e struct{ Error, Scope string }
		_ = json.Unmarshal(data, &e)
		if st != http.StatusForbidden || e.Error != "insufficient_scope" || e.Scope != cal {
			t.Fatalf("%d %s", st, data)
		}
	})

	t.Run("renewed inside the window", func(t *testing.T) {
		clk.Advance(51 * time.Minute) // 9 minutes left: inside PROVIDER_TOKEN_REFRESH_BEFORE (10m)
		st, tok, _ := getProviderToken(t, b, "google", me.AccessToken, nil)
		if st != http.StatusOK || tok.AccessToken == first || g.Renewals() != 1 {
			t.Fatalf("%d, renewals %d, same token %v", st, g.Renewals(), tok.AccessToken == first)
		}
		if left := time.Unix(tok.ExpiresAt, 0).Sub(clk.Now()); left < 59*time.Minute {
			t.Fatalf("renewed token expires in %v", left)
		}
		if st := callProviderAPI(t, g, tok.AccessToken); st != http.StatusOK {
			t.Fatalf("the provider refused the renewed token: %d", st)
		}
		if _, again, _ := getProviderToken(t, b, "google", me.AccessToken, nil); again.AccessToken != tok.AccessToken || g.Renewals() != 1 {
			t.Fatal("the renewed token was not kept")
		}
	})

	t.Run("revoked grant: 409 with a reauth URL that works", func(t *testing.T) {
		g.RevokeGrants(sub) // the member removed our app in their Google account
		clk.Advance(55 * time.Minute)
		st, tok, _ := getProviderToken(t, b, "google", me.AccessToken, url.Values{"return_to": {spaReturn}})
		if st != http.StatusConflict || tok.Error != "provider_reauth_required" || !strings.HasPrefix(tok.ReauthURL, b.URL+"/auth/google?") {
			t.Fatalf("%d %+v", st, tok)
		}
		// The app sends the browser there as it is (no PKCE: it starts no session).
		br := newBrowser(t)
		resp, body := br.get(tok.ReauthURL)
		if resp.StatusCode != http.StatusFound {
			t.Fatalf("reauth start: %d %s", resp.StatusCode, body)
		}
		authURL := location(t, resp)
		q := authURL.Query()
		if q.Get("prompt") != "consent" || q.Get("access_type") != "offline" || q.Get("login_hint") != sub {
			t.Fatalf("authorize query %v: want prompt=consent, access_type=offline, login_hint", q)
		}
		resp, body = br.get(providertest.SignIn(t, authURL.String()).String())
		back := location(t, resp)
		if !strings.HasPrefix(back.String(), spaReturn+"?") || back.Query().Get("reconnected") != "google" || back.Query().Get("code") != "" {
			t.Fatalf("reauth came back to %s (%s)", back, body)
		}
		st, tok, _ = getProviderToken(t, b, "google", me.AccessToken, nil)
		if st != http.StatusOK || callProviderAPI(t, g, tok.AccessToken) != http.StatusOK {
			t.Fatalf("after reconnect: %d %+v", st, tok)
		}
		// Still the same member, still one session: the reauth started none.
		var sessions struct {
			Sessions []json.RawMessage `json:"sessions"`
		}
		if st, _ := getJSON(t, b.URL+"/auth/sessions", me.AccessToken, &sessions); st != http.StatusOK || len(sessions.Sessions) != 1 {
			t.Fatalf("sessions after reauth: %d %d", st, len(sessions.Sessions))
		}
	})

	t.Run("a reauth as another account changes nothing", func(t *testing.T) {
		_, tok, _ := getProviderToken(t, b, "google", me.AccessToken, nil)
		other := g.User()
		other.ID, other.Email = "999", "mallory@example.com"
		g.SetUser(other)
		defer g.SetUser(providertest.User{ID: sub, Email: "ada@example.com", EmailVerified: true, Name: "Ada Lovelace"})
		br := newBrowser(t)
		resp, _ := br.get(b.URL + "/auth/google?" + url.Values{"reauth": {sub}, "return_to": {spaReturn}}.Encode())
		resp, _ = br.get(providertest.SignIn(t, location(t, resp).String()).String())
		back := location(t, resp)
		if back.Query().Get("error") != "access_denied" {
			t.Fatalf("came back to %s", back)
		}
		if _, after, _ := getProviderToken(t, b, "google", me.AccessToken, nil); after.AccessToken != tok.AccessToken {
			t.Fatal("another account's grant replaced the member's")
		}
	})

	t.Run("unlink revokes at the provider", func(t *testing.T) {
		before := g.Revocations()
		if st, data, _ := doJSON(t, http.MethodDelete, b.URL+"/auth/identities/google/"+sub, me.AccessToken, ""); st != http.StatusNoContent {
			t.Fatalf("unlink: %d %s", st, data)
		}
		if g.Revocations() != before+1 || g.HasGrant(sub) {
			t.Fatalf("revocations %d → %d, grant live %v", before, g.Revocations(), g.HasGrant(sub))
		}
		if st, tok, _ := getProviderToken(t, b, "google", me.AccessToken, nil); st != http.StatusNotFound {
			t.Fatalf("token after unlink: %d %+v", st, tok)
		}
		entries, err := b.App.AdminService().AuditLog(t.Context(), 0, 50)
		if err != nil {
			t.Fatal(err)
		}
		found := false
		for _, e := range entries {
			if e.Action == "provider_token.revoke" && strings.Contains(string(e.Detail), `"result":"revoked"`) && strings.Contains(string(e.Detail), `"reason":"unlinked"`) {
				found = true
			}
		}
		if !found {
			t.Fatalf("no audit entry of the revocation in %+v", entries)
		}
	})
}

// TestProviderTokenOneRenewalAcrossReplicas: 50 concurrent token calls for
// one identity, spread over two replicas sharing the database, cause one
// refresh at the provider and all get the same new token.
func TestProviderTokenOneRenewalAcrossReplicas(t *testing.T) {
	for _, db := range []struct {
		name string
		url  func(testing.TB) string
	}{{"sqlite", testenv.SQLiteURL}, {"postgres", testenv.PostgresURL}} {
		t.Run(db.name, func(t *testing.T) {
			clk := clock.NewFake(time.Now())
			g := providertest.NewGoogle(t, providertest.WithClock(clk.Now))
			shared := append(g.Env(), "GOOGLE_STORE_TOKENS=true", "ACCESS_TOKEN_TTL=6h", "DATABASE_URL="+db.url(t),
				"JWT_KEY_FILE="+writeKey(t), "SECRETS_KEY_FILE="+writeSecrets(t))
			a := startBrokerWith(t, clk, shared...)
			bb := startBrokerWith(t, clk, append(shared, "BASE_URL="+a.URL)...)
			tr := a.login(t, newBrowser(t), "google", fakeSignIn(t))

			g.Fail(providertest.Token, providertest.Fault{Delay: 150 * time.Millisecond}) // the calls really overlap
			clk.Advance(55 * time.Minute)
			var (
				wg     sync.WaitGroup
				mu     sync.Mutex
				tokens = map[string]int{}
			)
			for i := range 50 {
				r := a
				if i%2 == 1 {
					r = bb
				}
				wg.Add(1)
				go func() {
					defer wg.Done()
					st, data, _ := doJSON(t, http.MethodGet, r.URL+"/auth/identities/google/token", tr.AccessToken, "")
					var tok providerToken
					_ = json.Unmarshal(data, &tok)
					if st != http.StatusOK {
						t.Errorf("%d %s", st, data)
						return
					}
					mu.Lock()
					tokens[tok.AccessToken]++
					mu.Unlock()
				}()
			}
			wg.Wait()
			if g.Renewals() != 1 {
				t.Fatalf("%d refresh requests at the provider, want 1", g.Renewals())
			}
			if len(tokens) != 1 {
				t.Fatalf("callers got %d different tokens: %v", len(tokens), tokens)
			}
		})
	}
}

// TestProviderTokensNotInClear: after sign-in, a renewal and a parked
// link, no access or refresh token the provider issued is readable in the
// SQLite file or in any PostgreSQL table.
func TestProviderTokensNotInClear(t *testing.T) {
	check := func(t *testing.T, g *providertest.Server, dump func() []byte) {
		t.Helper()
		live := g.LiveTokens()
		if len(live) < 2 {
			t.Fatalf("the fake has %d live tokens: the scenario did not run", len(live))
		}
		data := dump()
		// The dump shows what is stored in clear (an email is): a token
		// stored so would show too.
		if !bytes.Contains(data, []byte("pending@example.com")) {
			t.Fatal("the dump does not show the stored rows")
		}
		for _, tok := range live {
			// PostgreSQL prints bytea as hex: look for both forms.
			if bytes.Contains(data, []byte(tok)) || bytes.Contains(data, []byte(hex.EncodeToString([]byte(tok)))) {
				t.Fatalf("a provider token is stored in clear")
			}
		}
	}
	scenario := func(t *testing.T, clk *clock.Fake, g *providertest.Server, env ...string) {
		b := startBrokerWith(t, clk, append(append(g.Env(), "GOOGLE_STORE_TOKENS=true", "ACCESS_TOKEN_TTL=6h"), env...)...)
		tr := b.login(t, newBrowser(t), "google", fakeSignIn(t))
		clk.Advance(55 * time.Minute)
		if st, tok, _ := getProviderToken(t, b, "google", tr.AccessToken, nil); st != http.StatusOK {
			t.Fatalf("token: %d %+v", st, tok)
		}
		// A link left pending parks its grant in the one-time code store.
		other := devLogin(t, b, "pending@example.com")
		g.SetUser(providertest.User{ID: "4242", Email: "pending@example.com", EmailVerified: true, Name: "Pending"})
		followLink(t, newBrowser(t), linkURL(t, b, "google", other.AccessToken))
	}

	t.Run("sqlite", func(t *testing.T) {
		clk := clock.NewFake(time.Now())
		g := providertest.NewGoogle(t, providertest.WithClock(clk.Now))
		dir := t.TempDir()
		scenario(t, clk, g, "DATABASE_URL=sqlite://"+dir+"/ab.db")
		check(t, g, func() []byte {
			var all []byte
			for _, f := range []string{"ab.db", "ab.db-wal"} {
				b, err := os.ReadFile(dir + "/" + f)
				if err != nil && !os.IsNotExist(err) {
					t.Fatal(err)
				}
				all = append(all, b...)
			}
			if len(all) == 0 {
				t.Fatal("no database file")
			}
			return all
		})
	})
	t.Run("postgres", func(t *testing.T) {
		clk := clock.NewFake(time.Now())
		g := providertest.NewGoogle(t, providertest.WithClock(clk.Now))
		pg := testenv.PostgresURL(t)
		scenario(t, clk, g, "DATABASE_URL="+pg)
		check(t, g, func() []byte { return dumpPostgres(t, pg) })
	})
}

// dumpPostgres is every row of every table of the database, as text.
func dumpPostgres(t *testing.T, dsn string) []byte {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	conn, err := pgx.Connect(ctx, dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	rows, err := conn.Query(ctx, `SELECT table_name FROM information_schema.tables WHERE table_schema = current_schema()`)
	if err != nil {
		t.Fatal(err)
	}
	tables, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		t.Fatal(err)
	}
	var out bytes.Buffer
	for _, tb := range tables {
		rows, err := conn.Query(ctx, fmt.Sprintf(`SELECT t::text FROM %s t`, pgx.Identifier{tb}.Sanitize()))
		if err != nil {
			t.Fatal(err)
		}
		vals, err := pgx.CollectRows(rows, pgx.RowTo[string])
		if err != nil {
			t.Fatal(err)
		}
		for _, v := range vals {
			out.WriteString(v)
		}
	}
	if !bytes.Contains(out.Bytes(), []byte("provider_tokens")) && !strings.Contains(strings.Join(tables, ","), "provider_tokens") {
		t.Fatalf("no provider_tokens table among %v", tables)
	}
	return out.Bytes()
}

// TestProviderTokenAdmin: admins see per identity whether a grant is held,
// its expiry, scopes and reconnect mark, never a value; they revoke one,
// and deleting a member revokes its grants at the provider.
func TestProviderTokenAdmin(t *testing.T) {
	k := providertest.NewKakao(t)
	b := startBroker(t, append(k.Env(), "KAKAO_STORE_TOKENS=true", "ADMIN_EMAILS=boss@example.com")...)
	boss := devLogin(t, b, "boss@example.com")
	member := b.login(t, newBrowser(t), "kakao", fakeSignIn(t))
	sub := k.User().ID

	st, data, _ := doJSON(t, http.MethodGet, b.URL+"/admin/api/members/"+member.Member.ID, boss.AccessToken, "")
	var d struct {
		ProviderTokens []struct {
			Provider        string   `json:"provider"`
			Subject         string   `json:"subject"`
			ExpiresAt       string   `json:"expires_at"`
			Scopes          []string `json:"scopes"`
			HasRefreshToken bool     `json:"has_refresh_token"`
			ReconnectNeeded bool     `json:"reconnect_needed"`
		} `json:"provider_tokens"`
	}
	_ = json.Unmarshal(data, &d)
	if st != http.StatusOK || len(d.ProviderTokens) != 1 || d.ProviderTokens[0].Provider != "kakao" || d.ProviderTokens[0].Subject != sub ||
		!d.ProviderTokens[0].HasRefreshToken || d.ProviderTokens[0].ExpiresAt == "" || d.ProviderTokens[0].ReconnectNeeded {
		t.Fatalf("member detail: %d %s", st, data)
	}
	for _, tok := range k.LiveTokens() {
		if strings.Contains(string(data), tok) {
			t.Fatal("the admin API shows a provider token")
		}
	}
	// The admin page lists it and revokes it.
	br := newBrowser(t)
	br.get(adminStart(t, b, br, "boss@example.com").String())
	memberPage := b.URL + "/admin/members/" + member.Member.ID
	resp, page := br.get(memberPage)
	if resp.StatusCode != http.StatusOK || !strings.Contains(page, "Provider tokens") || !strings.Contains(page, `value="revoke_provider_token"`) {
		t.Fatalf("admin member page: %d, no provider tokens section", resp.StatusCode)
	}
	before := k.Revocations()
	resp, _ = br.postForm(memberPage, url.Values{"action": {"revoke_provider_token"}, "provider": {"kakao"}, "subject": {sub}, "csrf": {hiddenValue(page, "csrf")}})
	if resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("revoke form: %d", resp.StatusCode)
	}
	if k.Revocations() != before+1 || k.HasGrant(sub) {
		t.Fatalf("revocations %d → %d", before, k.Revocations())
	}
	if _, page = br.get(memberPage); strings.Contains(page, "Provider tokens") {
		t.Fatal("the revoked grant is still listed")
	}
	if st, _, _ := doJSON(t, http.MethodDelete, b.URL+"/admin/api/members/"+member.Member.ID+"/provider-tokens/kakao/"+sub, boss.AccessToken, ""); st != http.StatusNotFound {
		t.Fatalf("second revoke: %d", st)
	}
	if st, tok, _ := getProviderToken(t, b, "kakao", member.AccessToken, nil); st != http.StatusConflict || tok.ReauthURL == "" {
		t.Fatalf("token after admin revoke: %d %+v", st, tok)
	}

	// Signing in again keeps a new grant; the admin API revokes it too.
	member = b.login(t, newBrowser(t), "kakao", fakeSignIn(t))
	before = k.Revocations()
	if st, data, _ := doJSON(t, http.MethodDelete, b.URL+"/admin/api/members/"+member.Member.ID+"/provider-tokens/kakao/"+sub, boss.AccessToken, ""); st != http.StatusNoContent || k.Revocations() != before+1 {
		t.Fatalf("admin API revoke: %d %s", st, data)
	}
	// Deleting a member revokes its grants.
	member = b.login(t, newBrowser(t), "kakao", fakeSignIn(t))
	before = k.Revocations()
	if st, data, _ := doJSON(t, http.MethodDelete, b.URL+"/admin/api/members/"+member.Member.ID, boss.AccessToken, ""); st != http.StatusNoContent {
		t.Fatalf("delete member: %d %s", st, data)
	}
	if k.Revocations() != before+1 || k.HasGrant(sub) {
		t.Fatalf("member deletion: revocations %d → %d", before, k.Revocations())
	}
}
