package e2e

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// TestGoreleaser: `goreleaser check` accepts .goreleaser.yaml, and a
// snapshot build for this machine's platform produces a binary that reports
// the version goreleaser gave it (the -X main.buildVersion ldflag).
func TestGoreleaser(t *testing.T) {
	gr := tool(t, "AUTHBROKER_GORELEASER", "goreleaser")
	root, err := filepath.Abs(filepath.Join("..", ".."))
	if err != nil {
		t.Fatal(err)
	}
	run := func(args ...string) string {
		t.Helper()
		c := exec.Command(gr, args...)
		c.Dir = root
		c.Env = append(os.Environ(), "GOFLAGS=-buildvcs=false")
		out, err := c.CombinedOutput()
		if err != nil {
			t.Fatalf("goreleaser %s: %v\n%s", strings.Join(args, " "), err, out)
		}
		return string(out)
	}
	run("check")
	dist := t.TempDir()
	run("build", "--snapshot", "--single-target", "--clean", "--output", filepath.Join(dist, "authbroker"))
	out, err := exec.Command(filepath.Join(dist, "authbroker"), "version").CombinedOutput()
	if err != nil {
		t.Fatalf("the snapshot binary: %v\n%s", err, out)
	}
	if v := string(out); !strings.Contains(v, "SNAPSHOT") && !strings.Contains(v, "-next") {
		t.Errorf("authbroker version = %q, want goreleaser's snapshot version", v)
	}
}
