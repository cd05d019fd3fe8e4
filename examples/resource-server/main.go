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
// at once).
package main

import (
	"context"
	"errors"
	"log"
	"net/http"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/authbroker/authbroker/examples/resource-server/api"
)

func main() {
	broker := strings.TrimRight(env("AUTHBROKER_URL", "http://localhost:8080"), "/")
	client := &http.Client{Timeout: 10 * time.Second}
	v, err := api.NewVerifier(broker, env("JWT_AUDIENCE", "authbroker"), os.Getenv("INTROSPECT_SECRET"), client)
	if err != nil {
		log.Fatal(err)
	}
	opts := api.Options{
		Verifier:       v,
		AllowedOrigins: strings.Split(env("ALLOWED_ORIGINS", "http://localhost:5173"), ","),
	}
	srv := &http.Server{
		Addr:              env("LISTEN_ADDR", "localhost:8081"),
		Handler:           api.Handler(opts),
		ReadHeaderTimeout: 5 * time.Second,
	}

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	go func() {
		<-ctx.Done()
		shutdown, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = srv.Shutdown(shutdown)
	}()
	log.Printf("resource server on http://%s/api/hello, trusting %s", srv.Addr, broker)
	if err := srv.ListenAndServe(); err != nil && !errors.Is(err, http.ErrServerClosed) {
		log.Fatal(err)
	}
}

func env(name, fallback string) string {
	if v := os.Getenv(name); v != "" {
		return v
	}
	return fallback
}
