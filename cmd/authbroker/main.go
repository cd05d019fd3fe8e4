// Command authbroker runs the OAuth2 social-login broker.
//
//	authbroker [serve]          run the HTTP server (default)
//	authbroker check            check configuration, keys, database, Redis and
//	                            providers without starting; exit 0 when all pass
//	authbroker healthcheck      GET /healthz of a running broker (for container
//	                            health checks in images without curl)
//	authbroker migrate          apply database migrations and exit
//	authbroker keygen           write a new signing key or secrets key
//	authbroker secrets rotate   re-seal stored secrets under the first key of
//	                            SECRETS_KEY_FILE (after a rotation)
//	authbroker version          print version, commit and Go version
//
// `authbroker help` and `authbroker <command> -h` describe each command and
// its flags. Configuration comes from the environment and an optional .env
// file; see .env.example. Bad configuration exits with status 2, one line
// per problem.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"runtime"
	"runtime/debug"
	"syscall"
	"text/tabwriter"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/authbroker/authbroker/cmd/authbroker/app"
	"github.com/authbroker/authbroker/internal/config"
	"github.com/authbroker/authbroker/internal/providerconfig"
	"github.com/authbroker/authbroker/internal/secrets"
	"github.com/authbroker/authbroker/internal/store/redisstore"
	"github.com/authbroker/authbroker/internal/store/sqlstore"
	"github.com/authbroker/authbroker/internal/token"
	"github.com/authbroker/authbroker/internal/vault"
	"github.com/authbroker/authbroker/providers"
)

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

// command is one subcommand: what `authbroker help` says of it, and how it
// runs. Commands that take flags parse them with their own FlagSet, so
// `authbroker <command> -h` lists them.
type command struct {
	name, args, summary string
	run                 func(args []string, stdout, stderr io.Writer) int
}

func commands() []command {
	return []command{
		{"serve", "", "run the HTTP server (the default command)", withConfig("serve", serveCmd)},
		{"check", "[-timeout 5s]", "check configuration, key files, the database, Redis and each enabled provider's endpoints without starting; exit 0 when all pass, 1 when one fails, 2 on a configuration problem", checkCmd},
		{"healthcheck", "[-url URL] [-timeout 3s]", "GET /healthz of a running broker (default: on LISTEN_ADDR); exit 0 when it answers 200", healthcheckCmd},
		{"migrate", "", "apply database migrations to DATABASE_URL and exit", withConfig("migrate", migrateCmd)},
		{"keygen", "[-alg ES256|RS256|EdDSA] [-secrets] [-out FILE]", "write a new PEM signing key (prepend it to JWT_KEY_FILE to rotate), or with -secrets a SECRETS_KEY_FILE line", keygen},
		{"secrets", "rotate", "re-seal every stored secret under the first key of SECRETS_KEY_FILE", withConfig("secrets", secretsCmd)},
		{"version", "", "print version, commit and Go version", func(_ []string, stdout, _ io.Writer) int {
			fmt.Fprintln(stdout, "authbroker", version())
			return 0
		}},
	}
}

func run(args []string, stdout, stderr io.Writer) int {
	name := "serve"
	if len(args) > 0 {
		name, args = args[0], args[1:]
	}
	switch name {
	case "-version", "--version":
		name = "version"
	case "help", "-h", "-help", "--help":
		usage(stdout)
		return 0
	}
	for _, c := range commands() {
		if c.name == name {
			return c.run(args, stdout, stderr)
		}
	}
	fmt.Fprintf(stderr, "authbroker: unknown command %q\n", name)
	usage(stderr)
	return 2
}

func usage(w io.Writer) {
	fmt.Fprintln(w, "usage: authbroker <command> [flags]   (no command: serve)")
	fmt.Fprintln(w)
	tw := tabwriter.NewWriter(w, 2, 4, 2, ' ', 0)
	for _, c := range commands() {
		fmt.Fprintf(tw, "  %s %s\t%s\n", c.name, c.args, c.summary)
	}
	_ = tw.Flush()
	fmt.Fprintln(w)
	fmt.Fprintln(w, "Configuration: environment variables and an optional .env file (see .env.example).")
	fmt.Fprintln(w, "`authbroker <command> -h` lists a command's flags.")
}

// flags returns a FlagSet for a command whose -h prints its summary.
func flags(name string, stderr io.Writer) *flag.FlagSet {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		for _, c := range commands() {
			if c.name == name {
				fmt.Fprintf(stderr, "usage: authbroker %s %s\n\n%s\n", c.name, c.args, c.summary)
			}
		}
		var n int
		fs.VisitAll(func(*flag.Flag) { n++ })
		if n > 0 {
			fmt.Fprintln(stderr, "\nflags:")
			fs.PrintDefaults()
		}
	}
	return fs
}

// parse parses a command's flags; -h answers 0 (asked for), other errors 2.
func parse(fs *flag.FlagSet, args []string) (code int, ok bool) {
	switch err := fs.Parse(args); {
	case errors.Is(err, flag.ErrHelp):
		return 0, false
	case err != nil:
		return 2, false
	}
	return 0, true
}

// loadConfig reads the configuration, printing its problems.
func loadConfig(stderr io.Writer) (*config.Config, bool) {
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
		return nil, false
	}
	return cfg, true
}

// withConfig adapts a command that needs the configuration, a logger and
// a context cancelled by SIGINT/SIGTERM.
func withConfig(name string, f func(ctx context.Context, cfg *config.Config, logger *slog.Logger, args []string, stdout, stderr io.Writer) int) func([]string, io.Writer, io.Writer) int {
	return func(args []string, stdout, stderr io.Writer) int {
		if name != "secrets" {
			fs := flags(name, stderr)
			if code, ok := parse(fs, args); !ok {
				return code
			}
			args = fs.Args()
		} else if len(args) == 1 && (args[0] == "-h" || args[0] == "--help") {
			flags(name, stderr).Usage()
			return 0
		}
		cfg, ok := loadConfig(stderr)
		if !ok {
			return 2
		}
		logger := newLogger(cfg, stderr)
		ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
		defer stop()
		return f(ctx, cfg, logger, args, stdout, stderr)
	}
}

func serveCmd(ctx context.Context, cfg *config.Config, logger *slog.Logger, _ []string, stdout, stderr io.Writer) int {
	return serveExit(serve(ctx, cfg, logger, stdout), logger, stderr)
}

func migrateCmd(ctx context.Context, cfg *config.Config, logger *slog.Logger, _ []string, _, _ io.Writer) int {
	if err := migrate(ctx, cfg); err != nil {
		logger.Error("migrate.failed", "error", err.Error())
		return 1
	}
	logger.Info("migrate.done", "database", config.Redacted(cfg.DatabaseURL))
	return 0
}

// checkCmd is `authbroker check`: one line per finding, the first thing an
// operator runs on a new machine.
func checkCmd(args []string, stdout, stderr io.Writer) int {
	fs := flags("check", stderr)
	timeout := fs.Duration("timeout", 5*time.Second, "bound on each network step (database, Redis, each provider endpoint)")
	if code, ok := parse(fs, args); !ok {
		return code
	}
	cfg, ok := loadConfig(stderr)
	if !ok {
		return 2
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	// A Redis that does not answer is one FAIL line; go-redis's own retries
	// would print their lines too.
	redis.SetLogger(redisstore.NewLogger(slog.New(slog.DiscardHandler)))
	findings := app.Diagnose(ctx, cfg, *timeout)
	tw := tabwriter.NewWriter(stdout, 2, 4, 2, ' ', 0)
	code, fails, warns := 0, 0, 0
	for _, f := range findings {
		fmt.Fprintf(tw, "%s\t%s\t%s\n", f.Level, f.Name, f.Detail)
		switch f.Level {
		case app.LevelFail:
			fails++
			if code == 0 {
				code = 1
			}
			if f.Name == "configuration" {
				code = 2
			}
		case app.LevelWarn:
			warns++
		}
	}
	_ = tw.Flush()
	fmt.Fprintf(stdout, "\n%d checks: %d failed, %d warnings\n", len(findings), fails, warns)
	return code
}

// healthcheckCmd is `authbroker healthcheck`: images built FROM scratch
// have no curl, so the orchestrator's health check runs the binary itself.
func healthcheckCmd(args []string, stdout, stderr io.Writer) int {
	fs := flags("healthcheck", stderr)
	url := fs.String("url", "", "the URL to GET (default: http://LISTEN_ADDR/healthz, a wildcard host asked on 127.0.0.1)")
	timeout := fs.Duration("timeout", 3*time.Second, "give up after this long")
	if code, ok := parse(fs, args); !ok {
		return code
	}
	if *url == "" {
		addr := os.Getenv("LISTEN_ADDR")
		if addr == "" {
			addr = ":8080"
		}
		host, port, err := net.SplitHostPort(addr)
		if err != nil {
			fmt.Fprintln(stderr, "healthcheck: LISTEN_ADDR:", err)
			return 2
		}
		if host == "" || host == "0.0.0.0" || host == "::" {
			host = "127.0.0.1"
		}
		*url = "http://" + net.JoinHostPort(host, port) + "/healthz"
	}
	c := &http.Client{Timeout: *timeout}
	resp, err := c.Get(*url)
	if err != nil {
		fmt.Fprintln(stderr, "healthcheck:", err)
		return 1
	}
	defer resp.Body.Close()
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 4<<10))
	if resp.StatusCode != http.StatusOK {
		fmt.Fprintln(stderr, "healthcheck:", *url, "answered", resp.Status)
		return 1
	}
	fmt.Fprintln(stdout, "ok")
	return 0
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
	fs := flags("keygen", stderr)
	alg := fs.String("alg", "ES256", "ES256, RS256 or EdDSA")
	secretsKey := fs.Bool("secrets", false, "a secrets key line for SECRETS_KEY_FILE instead of a signing key")
	out := fs.String("out", "", "file to write (0600); stdout when empty")
	if code, ok := parse(fs, args); !ok {
		return code
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

// version is the module version, the commit and the Go version, from the
// build information: a release build (go install …@v1.2.3, goreleaser)
// names its version, a build from a checkout "(devel)" with the commit and
// "+dirty" when the tree had changes.
func version() string {
	v, commit := "(devel)", ""
	if bi, ok := debug.ReadBuildInfo(); ok {
		if bi.Main.Version != "" {
			v = bi.Main.Version
		}
		modified := false
		for _, s := range bi.Settings {
			switch s.Key {
			case "vcs.revision":
				commit = s.Value
			case "vcs.modified":
				modified = s.Value == "true"
			}
		}
		if len(commit) > 12 {
			commit = commit[:12]
		}
		if modified && commit != "" {
			commit += "+dirty"
		}
	}
	if buildVersion != "" {
		v = buildVersion
	}
	if commit == "" {
		commit = "unknown commit"
	}
	return fmt.Sprintf("%s (%s, %s)", v, commit, runtime.Version())
}

// buildVersion is set by release builds: -ldflags "-X main.buildVersion=v1.2.3".
var buildVersion string

// secretsCmd is `authbroker secrets rotate`: every stored secret (provider
// client secrets, kept provider grants) not sealed under the first key of SECRETS_KEY_FILE is
// sealed again under it. Run it after putting a new key first and rolling
// that out; afterwards the old key can be removed.
func secretsCmd(ctx context.Context, cfg *config.Config, _ *slog.Logger, args []string, stdout, stderr io.Writer) int {
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
	// Kept provider grants (the token vault) are sealed with the same keys.
	grants, err := vault.New(vault.Deps{Store: db, Members: db, Audit: db, Keys: keys, Providers: reg}).Reseal(ctx)
	if err != nil {
		fmt.Fprintln(stderr, "secrets rotate:", err)
		return 1
	}
	fmt.Fprintf(stdout, "re-sealed %d stored secrets and %d provider grants under the first key of the file\n", n, grants)
	return 0
}
