package app_test

import (
	"net/http"
	"sync"
	"testing"
	"time"

	"github.com/authbroker/authbroker/internal/clock"
	"github.com/authbroker/authbroker/internal/testenv"
)

// backends are the storage set-ups every token test runs on.
func backends(t *testing.T) map[string]func(t *testing.T) []string {
	return map[string]func(t *testing.T) []string{
		"sqlite": func(t *testing.T) []string { return nil },
		"postgres+redis": func(t *testing.T) []string {
			ru, prefix := testenv.Redis(t)
			return []string{"DATABASE_URL=" + testenv.PostgresURL(t), "REDIS_URL=" + ru, "REDIS_PREFIX=" + prefix}
		},
		"postgres+redis-cluster": func(t *testing.T) []string {
			ru, prefix := testenv.RedisCluster(t)
			return []string{"DATABASE_URL=" + testenv.PostgresURL(t), "REDIS_URL=" + ru, "REDIS_PREFIX=" + prefix}
		},
	}
}

func devLogin(t *testing.T, b *broker, email string) tokenResponse {
	t.Helper()
	br := newBrowser(t)
	return b.login(t, br, "dev", devSignIn(t, br, email, "Test User"))
}

func refresh(t *testing.T, b *broker, rt string) (int, tokenResponse) {
	t.Helper()
	st, tr, _ := postJSON(t, b.URL+"/auth/token", map[string]string{"grant_type": "refresh_token", "refresh_token": rt}, "")
	return st, tr
}

// TestRefreshRace: 100 concurrent refreshes of one token all get the same
// new refresh token (or a clean error), one chain survives, and a replay of
// the old token after the grace period revokes the session.
func TestRefreshRace(t *testing.T) {
	for name, env := range backends(t) {
		t.Run(name, func(t *testing.T) {
			clk := clock.NewFake(time.Now())
			b := startBrokerWith(t, clk, append(env(t), "REFRESH_REUSE_GRACE=2s")...)
			tr := devLogin(t, b, "race@example.com")

			const n = 100
			var (
				wg      sync.WaitGroup
				mu      sync.Mutex
				results = map[string]int{}
				errs    = map[string]int{}
			)
			start := make(chan struct{})
			for range n {
				wg.Add(1)
				go func() {
					defer wg.Done()
					<-start
					st, out := refresh(t, b, tr.RefreshToken)
					mu.Lock()
					defer mu.Unlock()
					if st == http.StatusOK {
						results[out.RefreshToken]++
					} else {
						errs[out.Error]++
					}
				}()
			}
			close(start)
			wg.Wait()
			if len(results) != 1 {
				t.Fatalf("callers got %d different refresh tokens (errors %v)", len(results), errs)
			}
			for e := range errs {
				if e != "temporarily_unavailable" && e != "rate_limited" {
					t.Fatalf("unclean error %q", e)
				}
			}
			var next string
			for rt := range results {
				next = rt
			}
			// The surviving chain works.
			st, out := refresh(t, b, next)
			if st != http.StatusOK {
				t.Fatalf("next token refused: %d %s", st, out.Error)
			}
			// Replaying the original token after the grace period is theft:
			// the whole session goes, including the newest token and its access tokens.
			clk.Advance(2100 * time.Millisecond)
			if st, out := refresh(t, b, tr.RefreshToken); st != http.StatusBadRequest || out.Error != "invalid_grant" {
				t.Fatalf("old token after grace: %d %s", st, out.Error)
			}
			if st, _ := refresh(t, b, out.RefreshToken); st != http.StatusBadRequest {
				t.Fatalf("session survived reuse: %d", st)
			}
			if st, _ := getJSON(t, b.URL+"/auth/me", out.AccessToken, nil); st != http.StatusUnauthorized {
				t.Fatalf("access token of a revoked session: %d", st)
			}
		})
	}
}

// TestRefreshRotates: each use rotates; the previous token within grace
// answers the same new token; refresh_expires_in counts down.
func TestRefreshRotates(t *testing.T) {
	b := startBroker(t)
	tr := devLogin(t, b, "rotate@example.com")
	st, a := refresh(t, b, tr.RefreshToken)
	if st != http.StatusOK || a.RefreshToken == tr.RefreshToken || a.AccessToken == "" || a.TokenType != "Bearer" || a.ExpiresIn != 900 {
		t.Fatalf("first refresh: %d %+v", st, a)
	}
	st, again := refresh(t, b, tr.RefreshToken)
	if st != http.StatusOK || again.RefreshToken != a.RefreshToken {
		t.Fatalf("grace retry: %d, same token %v", st, again.RefreshToken == a.RefreshToken)
	}
	for _, bad := range []string{"", "garbage", a.RefreshToken + "x", a.AccessToken} {
		if st, out := refresh(t, b, bad); st != http.StatusBadRequest || (out.Error != "invalid_grant" && out.Error != "invalid_request") {
			t.Fatalf("refresh %q: %d %s", bad, st, out.Error)
		}
	}
}

// TestLogoutReachesEveryReplica: a token logged out on one broker is refused
// by a second broker sharing the stores within one second.
func TestLogoutReachesEveryReplica(t *testing.T) {
	shared := map[string]func(t *testing.T) []string{
		"sql only (polling)": func(t *testing.T) []string { return []string{"DATABASE_URL=" + testenv.PostgresURL(t)} },
		"redis (pub/sub)": func(t *testing.T) []string {
			ru, prefix := testenv.Redis(t)
			return []string{"DATABASE_URL=" + testenv.PostgresURL(t), "REDIS_URL=" + ru, "REDIS_PREFIX=" + prefix}
		},
	}
	for name, env := range shared {
		t.Run(name, func(t *testing.T) {
			e := env(t)
			key := "JWT_KEY_FILE=" + writeKey(t)
			one := startBroker(t, append(e, key)...)
			two := startBrokerWithBase(t, one, append(e, key)...)
			tr := devLogin(t, one, "replica@example.com")
			if st, _ := getJSON(t, two.URL+"/auth/me", tr.AccessToken, nil); st != http.StatusOK {
				t.Fatalf("second replica before logout: %d", st)
			}
			if st, out, _ := postJSON(t, one.URL+"/auth/logout", map[string]string{}, tr.AccessToken); st != http.StatusNoContent {
				t.Fatalf("logout: %d %s", st, out.Error)
			}
			deadline := time.Now().Add(time.Second)
			for {
				st, _ := getJSON(t, two.URL+"/auth/me", tr.AccessToken, nil)
				if st == http.StatusUnauthorized {
					break
				}
				if time.Now().After(deadline) {
					t.Fatalf("second replica still accepts the token after 1s: %d", st)
				}
				time.Sleep(20 * time.Millisecond)
			}
			if st, _ := refresh(t, two, tr.RefreshToken); st != http.StatusBadRequest {
				t.Fatalf("refresh after logout: %d", st)
			}
		})
	}
}
