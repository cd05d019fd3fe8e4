// Command authbroker runs the OAuth2 social-login broker.
//
//	authbroker [serve]        run the HTTP server (default)
//	authbroker migrate        apply database migrations and exit
//	authbroker keygen [-alg ES256] [-out FILE]
//	                          write a new PEM signing key (prepend it to
//	                          JWT_KEY_FILE to rotate)
//	authbroker version        print the build version
//
// Configuration comes from the environment and an optional .env file; see
// .env.example. Bad configuration exits with status 2, one line per problem.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"runtime/debug"
	"syscall"

	"github.com/authbroker/authbroker/internal/config"
	"github.com/authbroker/authbroker/internal/token"
)

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

func run(args []string, stdout, stderr io.Writer) int {
	cmd := "serve"
	if len(args) > 0 {
		cmd, args = args[0], args[1:]
	}
	switch cmd {
	case "version", "-version", "--version":
		fmt.Fprintln(stdout, "authbroker", version())
		return 0
	case "keygen":
		return keygen(args, stdout, stderr)
	case "serve", "migrate":
	case "help", "-h", "--help":
		fmt.Fprintln(stdout, "usage: authbroker [serve|migrate|keygen|version]")
		return 0
	default:
		fmt.Fprintf(stderr, "authbroker: unknown command %q (serve, migrate, keygen, version)\n", cmd)
		return 2
	}

	cfg, err := config.Load(".env")
	if err != nil {
		var p config.Problems
		if errors.As(err, &p) {
			for _, line := range p {
				fmt.Fprintln(stderr, "config:", line)
			}
		} else {
			fmt.Fprintln(stderr, "config:", err)
		}
		return 2
	}
	logger := newLogger(cfg, stderr)
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()

	if cmd == "migrate" {
		if err := migrate(ctx, cfg); err != nil {
			logger.Error("migrate.failed", "error", err.Error())
			return 1
		}
		logger.Info("migrate.done", "database", config.Redacted(cfg.DatabaseURL))
		return 0
	}
	return serveExit(serve(ctx, cfg, logger, stdout), logger, stderr)
}

func newLogger(cfg *config.Config, w io.Writer) *slog.Logger {
	var level slog.Level
	_ = level.UnmarshalText([]byte(cfg.LogLevel))
	opts := &slog.HandlerOptions{Level: level}
	if cfg.Production() {
		return slog.New(slog.NewJSONHandler(w, opts))
	}
	return slog.New(slog.NewTextHandler(w, opts))
}

func keygen(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("keygen", flag.ContinueOnError)
	fs.SetOutput(stderr)
	alg := fs.String("alg", "ES256", "ES256, RS256 or EdDSA")
	out := fs.String("out", "", "file to write (0600); stdout when empty")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	pemBytes, err := token.GenerateKeyPEM(*alg)
	if err != nil {
		fmt.Fprintln(stderr, "keygen:", err)
		return 2
	}
	if *out == "" {
		_, _ = stdout.Write(pemBytes)
		return 0
	}
	if err := os.WriteFile(*out, pemBytes, 0o600); err != nil {
		fmt.Fprintln(stderr, "keygen:", err)
		return 1
	}
	fmt.Fprintf(stdout, "wrote %s key to %s\n", *alg, *out)
	return 0
}

func version() string {
	if bi, ok := debug.ReadBuildInfo(); ok {
		v := bi.Main.Version
		for _, s := range bi.Settings {
			if s.Key == "vcs.revision" && len(s.Value) >= 12 {
				v += " " + s.Value[:12]
			}
		}
		return v
	}
	return "unknown"
}
