// Command authbroker runs the OAuth2 social-login broker.
//
//	authbroker [serve]        run the HTTP server (default)
//	authbroker migrate        apply database migrations and exit
//	authbroker keygen [-alg ES256] [-out FILE]
//	                          write a new PEM signing key (prepend it to
//	                          JWT_KEY_FILE to rotate)
//	authbroker keygen -secrets [-out FILE]
//	                          write a new secrets key line (SECRETS_KEY_FILE)
//	authbroker secrets rotate re-seal every stored secret under the first
//	                          key of SECRETS_KEY_FILE (after a rotation)
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
	"github.com/authbroker/authbroker/internal/providerconfig"
	"github.com/authbroker/authbroker/internal/secrets"
	"github.com/authbroker/authbroker/internal/store/sqlstore"
	"github.com/authbroker/authbroker/internal/token"
	"github.com/authbroker/authbroker/providers"
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
	case "serve", "migrate", "secrets":
	case "help", "-h", "--help":
		fmt.Fprintln(stdout, "usage: authbroker [serve|migrate|keygen|secrets rotate|version]")
		return 0
	default:
		fmt.Fprintf(stderr, "authbroker: unknown command %q (serve, migrate, keygen, secrets, version)\n", cmd)
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

	if cmd == "secrets" {
		return secretsCmd(ctx, cfg, args, stdout, stderr)
	}
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
	secretsKey := fs.Bool("secrets", false, "a secrets key line for SECRETS_KEY_FILE instead of a signing key")
	out := fs.String("out", "", "file to write (0600); stdout when empty")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	if *secretsKey {
		line := []byte(secrets.NewKeyLine() + "\n")
		if *out == "" {
			_, _ = stdout.Write(line)
			return 0
		}
		if err := os.WriteFile(*out, line, 0o600); err != nil {
			fmt.Fprintln(stderr, "keygen:", err)
			return 1
		}
		fmt.Fprintf(stdout, "wrote a secrets key to %s\n", *out)
		return 0
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

// secretsCmd is `authbroker secrets rotate`: every stored secret (provider
// client secrets) not sealed under the first key of SECRETS_KEY_FILE is
// sealed again under it. Run it after putting a new key first and rolling
// that out; afterwards the old key can be removed.
func secretsCmd(ctx context.Context, cfg *config.Config, args []string, stdout, stderr io.Writer) int {
	if len(args) != 1 || args[0] != "rotate" {
		fmt.Fprintln(stderr, "usage: authbroker secrets rotate")
		return 2
	}
	keys, err := secrets.LoadConfigured(cfg.SecretsKeyFile, cfg.DataDir)
	if err != nil {
		fmt.Fprintln(stderr, "config:", err)
		return 2
	}
	db, err := sqlstore.Open(ctx, cfg.DatabaseURL)
	if err != nil {
		fmt.Fprintln(stderr, "secrets rotate: DATABASE_URL:", err)
		return 1
	}
	defer db.Close()
	if err := db.Migrate(ctx); err != nil {
		fmt.Fprintln(stderr, "secrets rotate:", err)
		return 1
	}
	reg, err := providers.NewRegistry(providers.Setup{}, nil)
	if err != nil {
		fmt.Fprintln(stderr, "secrets rotate:", err)
		return 1
	}
	n, err := providerconfig.New(providerconfig.Deps{Store: db, Audit: db, Keys: keys, Registry: reg}).RotateSecrets(ctx)
	if err != nil {
		fmt.Fprintln(stderr, "secrets rotate:", err)
		return 1
	}
	fmt.Fprintf(stdout, "re-sealed %d stored secrets under the first key of the file\n", n)
	return 0
}
