// Command resource-server runs the example protected API (package api) on
// http://localhost:8081, next to a broker started with `scripts/run`:
//
//	go run ./examples/resource-server
//	curl -H "Authorization: Bearer $ACCESS_TOKEN" http://localhost:8081/api/hello
//
// Environment: AUTHBROKER_URL (the broker's BASE_URL, default
// http://localhost:8080), JWT_AUDIENCE (default authbroker), LISTEN_ADDR
// (default localhost:8081), ALLOWED_ORIGINS (comma-separated app origins,
// default http://localhost:5173), INTROSPECT_SECRET (when set, every token is
// also checked with the broker's /auth/introspect, so a logout takes effect
// at once), CLOCK_SKEW (the leeway on exp, nbf and iat: default and maximum
// 30s, a negative duration for none).
package main

import (
	"context"
	"errors"
	"fmt"
	"log"
	"net"
	"net/http"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/authbroker/authbroker/examples/resource-server/api"
	"github.com/authbroker/authbroker/handlers/bearer"
)

func main() {
	broker := strings.TrimRight(env("AUTHBROKER_URL", "http://localhost:8080"), "/")
	client := &http.Client{Timeout: 10 * time.Second}
	skew, err := time.ParseDuration(env("CLOCK_SKEW", "30s"))
	if err != nil {
		log.Fatalf("CLOCK_SKEW: %v", err)
	}
	v, err := api.NewVerifier(broker, env("JWT_AUDIENCE", "authbroker"), os.Getenv("INTROSPECT_SECRET"), client, bearer.WithLeeway(skew))
	if err != nil {
		log.Fatal(err)
	}
	opts := api.Options{
		Verifier:       v,
		AllowedOrigins: strings.Split(env("ALLOWED_ORIGINS", "http://localhost:5173"), ","),
	}
	srv := &http.Server{
		Handler:           api.Handler(opts),
		ReadHeaderTimeout: 5 * time.Second,
	}
	ln, err := net.Listen("tcp", env("LISTEN_ADDR", "localhost:8081"))
	if err != nil {
		log.Fatal(err)
	}

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	go func() {
		<-ctx.Done()
		shutdown, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = srv.Shutdown(shutdown)
	}()
	// The address actually bound (LISTEN_ADDR may name port 0).
	fmt.Printf("listening on http://%s\n", ln.Addr())
	log.Printf("resource server on http://%s/api/hello, trusting %s", ln.Addr(), broker)
	if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
		log.Fatal(err)
	}
}

func env(name, fallback string) string {
	if v := os.Getenv(name); v != "" {
		return v
	}
	return fallback
}
