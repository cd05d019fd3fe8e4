// Package api is the example resource server: a small JSON API, written with
// net/http alone, that accepts only authbroker access tokens. It shows the
// three things a backend does:
//
//   - verify the JWT offline against the broker's JWKS with handlers/bearer
//     (pinned algorithm, iss, aud, exp, typ at+jwt), so a protected request
//     costs no call to the broker;
//   - optionally ask the broker whether the token is still active (RFC 7662
//     introspection, bearer.Introspection) where a logout must take effect
//     at once rather than when the access token expires;
//   - answer browsers from the app's origin (CORS), with the 401 bodies the
//     JS client acts on ({"error":"token_expired"} means refresh and retry).
package api

import (
	"encoding/json"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/authbroker/authbroker/handlers/bearer"
)

// Options configure Handler.
type Options struct {
	// Verifier checks access tokens; see NewVerifier. Required.
	Verifier *bearer.Verifier
	// AllowedOrigins are the browser apps (scheme://host:port) that may call
	// the API from script.
	AllowedOrigins []string
}

// NewVerifier returns a verifier for tokens issued by the broker at
// brokerURL (its BASE_URL, which is also the tokens' iss) for audience (the
// broker's JWT_AUDIENCE, "authbroker" by default). Keys come from
// brokerURL/.well-known/jwks.json, fetched when first needed, cached, and
// fetched again when a token names a key the cache does not know (rotation).
// With introspectSecret (the broker's INTROSPECT_SECRET) every token is also
// checked with the broker's /auth/introspect, so a logout takes effect at
// once. extra options come last (tests pass bearer.WithLeeway).
func NewVerifier(brokerURL, audience, introspectSecret string, client *http.Client, extra ...bearer.Option) (*bearer.Verifier, error) {
	brokerURL = strings.TrimRight(brokerURL, "/")
	opts := []bearer.Option{bearer.WithCache(10_000, time.Minute)} // a token's signature is checked once
	if introspectSecret != "" {
		opts = append(opts, bearer.WithCheck(bearer.Introspection(brokerURL+"/auth/introspect", introspectSecret, client)))
	}
	opts = append(opts, extra...)
	keys := bearer.NewJWKS(brokerURL+"/.well-known/jwks.json", bearer.WithHTTPClient(client))
	return bearer.New(brokerURL, audience, keys, opts...)
}

// Handler returns the API:
//
//	GET /api/hello   (Bearer) greets the member named by the token
//	GET /api/admin   (Bearer, role admin) the same, for admins only
//	GET /healthz     liveness
func Handler(o Options) http.Handler {
	if o.Verifier == nil {
		panic("api: Options.Verifier is required")
	}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) {
		writeJSON(w, http.StatusOK, map[string]string{"status": "ok"})
	})
	mux.Handle("GET /api/hello", o.Verifier.Middleware()(http.HandlerFunc(hello)))
	mux.Handle("GET /api/admin", o.Verifier.Middleware()(bearer.RequireRole("admin")(http.HandlerFunc(hello))))
	return cors(o.AllowedOrigins, noStore(mux))
}

// hello is GET /api/hello: what the verified claims say about the caller.
func hello(w http.ResponseWriter, r *http.Request) {
	claims := bearer.FromContext(r.Context())
	who := claims.Name
	if who == "" {
		who = claims.Email
	}
	if who == "" {
		who = "member " + claims.Subject
	}
	writeJSON(w, http.StatusOK, map[string]any{
		"message":    "Hello, " + who + "!",
		"member_id":  claims.Subject,
		"email":      claims.Email,
		"role":       claims.Role,
		"expires_at": claims.ExpiresAt.UTC().Format(time.RFC3339),
	})
}

// cors lets the listed app origins call the API from script, and exposes
// the RFC 6750 challenge so the app can read it as well as the JSON body.
func cors(origins []string, next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		origin := r.Header.Get("Origin")
		if origin == "" || !slices.Contains(origins, origin) {
			next.ServeHTTP(w, r)
			return
		}
		h := w.Header()
		h.Add("Vary", "Origin")
		h.Set("Access-Control-Allow-Origin", origin)
		h.Set("Access-Control-Expose-Headers", "WWW-Authenticate")
		if r.Method == http.MethodOptions && r.Header.Get("Access-Control-Request-Method") != "" {
			h.Set("Access-Control-Allow-Methods", "GET, POST")
			h.Set("Access-Control-Allow-Headers", "Authorization, Content-Type, Accept")
			h.Set("Access-Control-Max-Age", "600")
			w.WriteHeader(http.StatusNoContent)
			return
		}
		next.ServeHTTP(w, r)
	})
}

// noStore keeps answers about a member out of shared and browser caches.
func noStore(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Cache-Control", "no-store")
		next.ServeHTTP(w, r)
	})
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}
