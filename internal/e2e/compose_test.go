package e2e

import (
	"bufio"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/compose-spec/compose-go/v2/cli"
	"github.com/compose-spec/compose-go/v2/types"
)

// TestComposeFile loads deploy/compose.yaml with the Compose specification's
// own loader (schema, interpolation, references) and deploy/.env.example
// filled in, and checks what the file promises an operator: the three
// services with health checks, the broker waiting for healthy databases,
// Redis keeping its data, secrets as files, and only variables the broker
// knows. (No image can be pulled here, so the stack itself is not started;
// TestImage runs the broker's image.)
func TestComposeFile(t *testing.T) {
	dir := filepath.Join("..", "..", "deploy")
	env := map[string]string{}
	for k, v := range readEnvFile(t, filepath.Join(dir, ".env.example")) {
		env[k] = v
	}
	env["POSTGRES_PASSWORD"], env["REDIS_PASSWORD"] = "pg-test-password", "redis-test-password"
	var envList []string
	for k, v := range env {
		envList = append(envList, k+"="+v)
	}
	opts, err := cli.NewProjectOptions([]string{filepath.Join(dir, "compose.yaml")},
		cli.WithWorkingDirectory(dir), cli.WithEnv(envList), cli.WithName("authbroker"))
	if err != nil {
		t.Fatal(err)
	}
	p, err := cli.ProjectFromOptions(t.Context(), opts)
	if err != nil {
		t.Fatalf("deploy/compose.yaml does not load: %v", err)
	}
	svc := map[string]types.ServiceConfig{}
	for _, s := range p.Services {
		svc[s.Name] = s
	}
	for _, name := range []string{"broker", "postgres", "redis"} {
		s, ok := svc[name]
		if !ok {
			t.Fatalf("no %s service", name)
		}
		if s.HealthCheck == nil || len(s.HealthCheck.Test) == 0 {
			t.Errorf("%s has no health check", name)
		}
	}
	broker := svc["broker"]
	for _, dep := range []string{"postgres", "redis"} {
		if d, ok := broker.DependsOn[dep]; !ok || d.Condition != types.ServiceConditionHealthy {
			t.Errorf("broker does not wait for %s to be healthy: %+v", dep, broker.DependsOn)
		}
	}
	if broker.Build == nil || broker.Build.Dockerfile != "deploy/Dockerfile" {
		t.Errorf("broker is not built from deploy/Dockerfile: %+v", broker.Build)
	}
	if !broker.ReadOnly {
		t.Error("broker's root filesystem is writable")
	}
	if hc := strings.Join(broker.HealthCheck.Test, " "); !strings.Contains(hc, "/authbroker healthcheck") {
		t.Errorf("broker health check %q does not use the binary (the image has no shell or curl)", hc)
	}
	if got := *broker.Environment["DATABASE_URL"]; !strings.Contains(got, "pg-test-password@postgres:5432") {
		t.Errorf("DATABASE_URL %q", got)
	}
	if got := *broker.Environment["APP_ENV"]; got != "production" {
		t.Errorf("APP_ENV %q, want production", got)
	}
	redisCmd := strings.Join(svc["redis"].Command, " ")
	for _, want := range []string{"--appendonly yes", "--appendfsync everysec", "--maxmemory-policy noeviction"} {
		if !strings.Contains(redisCmd, want) {
			t.Errorf("redis command %q lacks %q (docs/OPERATIONS.md: what is lost without it)", redisCmd, want)
		}
	}
	if len(svc["redis"].Volumes) == 0 || len(svc["postgres"].Volumes) == 0 {
		t.Error("a database without a volume loses its data with the container")
	}
	// Every variable given to the broker is one it reads (.env.example lists them all).
	known := readEnvFile(t, filepath.Join("..", "..", ".env.example"))
	for k := range broker.Environment {
		if _, ok := known[k]; !ok {
			t.Errorf("compose.yaml sets %s, which the broker does not read (not in .env.example)", k)
		}
	}
	for _, s := range []string{"jwt_key", "secrets_key"} {
		if !slices.ContainsFunc(broker.Secrets, func(c types.ServiceSecretConfig) bool { return c.Source == s }) {
			t.Errorf("broker lacks the %s secret", s)
		}
	}
}

// readEnvFile returns the NAME=value lines of a .env file.
func readEnvFile(t *testing.T, path string) map[string]string {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	out := map[string]string{}
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		if k, v, ok := strings.Cut(line, "="); ok {
			out[k] = v
		}
	}
	return out
}
