package bearer_test

import (
	"context"
	"errors"
	"fmt"
	"log"
	"net/http"
	"time"

	"github.com/authbroker/authbroker/handlers/bearer"
)

// A net/http API that accepts the broker's access tokens, with keys from
// its JWKS.
func Example() {
	const broker = "https://auth.example.com" // the broker's BASE_URL
	keys := bearer.NewJWKS(broker + "/.well-known/jwks.json")
	v, err := bearer.New(broker, "my-app", keys, bearer.WithCache(10_000, time.Minute))
	if err != nil {
		log.Fatal(err)
	}
	mux := http.NewServeMux()
	hello := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		claims := bearer.FromContext(r.Context())
		fmt.Fprintf(w, "hello, member %s\n", claims.Subject)
	})
	mux.Handle("GET /api/hello", v.Middleware()(hello))
	mux.Handle("GET /api/admin", v.Middleware()(bearer.RequireRole("admin")(hello)))
	_ = http.ListenAndServe("localhost:8081", mux)
}

// Verifying a token by hand, outside any HTTP server (a queue consumer, a
// gRPC interceptor), and telling "refresh" from "sign in again".
func ExampleVerifier_Verify() {
	keys, err := bearer.SharedSecret("https://auth.example.com", []byte("the broker's JWT_SECRET, 32 bytes or more"))
	if err != nil {
		log.Fatal(err)
	}
	v, err := bearer.New("https://auth.example.com", "my-app", keys)
	if err != nil {
		log.Fatal(err)
	}
	_, err = v.Verify(context.Background(), "not-a-jwt")
	switch {
	case errors.Is(err, bearer.ErrExpired):
		fmt.Println("expired: refresh and retry")
	case errors.Is(err, bearer.ErrInvalid):
		var e *bearer.Error
		errors.As(err, &e)
		fmt.Println("invalid:", e.Reason)
	}
	// Output: invalid: malformed token
}

// Honouring a logout at once on the routes that need it: every token is
// also checked with the broker's introspection endpoint (one round trip per
// request; a broker that does not answer gives 503, never a sign-out).
func ExampleIntrospection() {
	const broker = "https://auth.example.com"
	client := &http.Client{Timeout: 2 * time.Second}
	v, err := bearer.New(broker, "my-app", bearer.NewJWKS(broker+"/.well-known/jwks.json", bearer.WithHTTPClient(client)),
		bearer.WithCheck(bearer.Introspection(broker+"/auth/introspect", "the broker's INTROSPECT_SECRET", client)))
	if err != nil {
		log.Fatal(err)
	}
	_ = v
}

// A denylist the application keeps in memory (fed, for example, by the
// broker's logout webhooks or a shared cache).
func ExampleDenylist() {
	ended := map[string]bool{"s_123": true}
	keys, _ := bearer.SharedSecret("https://auth.example.com", []byte("the broker's JWT_SECRET, 32 bytes or more"))
	v, err := bearer.New("https://auth.example.com", "my-app", keys,
		bearer.WithCheck(bearer.Denylist(func(_ context.Context, sessionID string) (bool, error) {
			return ended[sessionID], nil
		})))
	if err != nil {
		log.Fatal(err)
	}
	_ = v
}
